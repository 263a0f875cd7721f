/**
 * Fixtures of the bad-input matrix (tests/tasks/bad_input_test.ts): broken
 * configs, data and weight files, written under one scratch folder, plus the
 * file-tree snapshots that show nothing was changed or left behind.
 */
import { pngBomb } from "../_png.ts";
import { writeSafetensors } from "../../lib/io/safetensors.ts";

const FMNIST = "/usr/share/datasets/fashion-mnist";

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A safetensors file whose header is `header` and whose data buffer has `dataBytes` zero bytes. */
function rawSafetensors(header: Record<string, unknown>, dataBytes: number): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

/** An 8×8 grey PNG. */
async function tinyPng(level: number): Promise<Uint8Array> {
  const { PNG } = await import("pngjs");
  const png = new PNG({ width: 8, height: 8 });
  png.data.fill(level);
  return new Uint8Array(PNG.sync.write(png));
}

/** Write every input fixture into `dir` (which must exist). */
export async function writeFixtures(dir: string): Promise<void> {
  const text = (name: string, body: string) => Deno.writeTextFile(`${dir}/${name}`, body);
  await text("syntax.yaml", "optim: {lr: 0.1\ntrain: {steps: 2}\n");
  await text("unknown-key.yaml", "optim:\n  learning_rate: 0.1\n");
  await text("wrong-type.yaml", "train: {steps: three}\n");
  // Comparison files: paths inside are relative to the file's folder.
  const base = "../../../tasks/configs/default.yaml";
  await text("cmp-syntax.yaml", `base: ${base}\nseeds: [0\n`);
  await text("cmp-key.yaml", `base: ${base}\nrunDir: runs/x\nseeds: [0]\nimage: 64\n`);
  await text(
    "cmp-loss.yaml",
    `base: ${base}\nrunDir: runs/x\nseeds: [0]\nimages: 64\nmethods:\n  a: {name: cosss}\n`,
  );

  // A missing dataset, and truncated IDX files (gzipped and plain).
  await Deno.mkdir(`${dir}/empty`);
  await Deno.mkdir(`${dir}/idx-gz`);
  const images = await Deno.readFile(`${FMNIST}/train-images-idx3-ubyte.gz`);
  await Deno.writeFile(`${dir}/idx-gz/train-images-idx3-ubyte.gz`, images.subarray(0, 5000));
  await Deno.copyFile(
    `${FMNIST}/train-labels-idx1-ubyte.gz`,
    `${dir}/idx-gz/train-labels-idx1-ubyte.gz`,
  );
  await Deno.mkdir(`${dir}/idx-raw`);
  const raw = await gunzip(images);
  await Deno.writeFile(`${dir}/idx-raw/train-images-idx3-ubyte`, raw.subarray(0, 16 + 784 * 10));
  await Deno.writeFile(
    `${dir}/idx-raw/train-labels-idx1-ubyte`,
    await gunzip(await Deno.readFile(`${FMNIST}/train-labels-idx1-ubyte.gz`)),
  );

  // An image folder with one PNG cut after its header.
  for (const c of ["a", "b"]) await Deno.mkdir(`${dir}/folder/${c}`, { recursive: true });
  for (const [c, i] of [["a", 0], ["a", 1], ["b", 0], ["b", 1]] as const) {
    await Deno.writeFile(`${dir}/folder/${c}/${i}.png`, await tinyPng(60 + 40 * i));
  }
  const good = await Deno.readFile(`${dir}/folder/a/0.png`);
  await Deno.writeFile(`${dir}/folder/b/2.png`, good.subarray(0, 40));
  // The same classes with a decompression bomb: a PNG whose header claims 20000×20000 pixels.
  for (const c of ["a", "b"]) {
    await Deno.mkdir(`${dir}/bomb/${c}`, { recursive: true });
    for (const i of [0, 1]) {
      await Deno.copyFile(`${dir}/folder/${c}/${i}.png`, `${dir}/bomb/${c}/${i}.png`);
    }
  }
  await Deno.writeFile(`${dir}/bomb/b/2.png`, pngBomb(20000, 20000));

  // Safetensors teachers whose headers lie.
  const f32 = (shape: number[], offsets: number[]) => ({
    dtype: "F32",
    shape,
    data_offsets: offsets,
  });
  await Deno.writeFile(
    `${dir}/past-end.safetensors`,
    rawSafetensors({ "conv1.weight": f32([4, 4], [0, 64]) }, 32),
  );
  await Deno.writeFile(
    `${dir}/overlap.safetensors`,
    rawSafetensors({ "conv1.weight": f32([4], [0, 16]), "bn1.weight": f32([4], [8, 24]) }, 24),
  );
  await Deno.writeFile(
    `${dir}/dtype.safetensors`,
    rawSafetensors({ "conv1.weight": { dtype: "Q4", shape: [4], data_offsets: [0, 16] } }, 16),
  );
  // A PyTorch pickle (.pth files are zip archives).
  await Deno.writeFile(`${dir}/teacher.pth`, new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]));
  // A well-formed state dict of a 128-d teacher, for a 64-d student without a head.
  await wideTeacher(`${dir}/teacher128.safetensors`);
  // The same with an Inf in one conv weight: refused at load, before any feature is computed.
  await writeNonFinite(
    `${dir}/teacher128.safetensors`,
    `${dir}/inf.safetensors`,
    "layer1.0.conv1.weight",
  );
  await tfjsTeacherWithNaN(`${dir}/nan-tfjs`);
  await onnxFixtures(dir);
}

/**
 * ONNX teachers, written with onnx-proto: `dynamic.onnx` (images [batch, 1, height, width] to
 * their mean, [batch, 1]), the same cut short, `ids.onnx` (int64 ids, no image input), and
 * `nan.onnx` (images [batch, 1, 28, 28] times an initializer "scale" holding NaN, then their mean).
 */
async function onnxFixtures(dir: string): Promise<void> {
  const { default: proto } = await import("onnx-proto");
  const { onnx } = proto;
  const T = onnx.TensorProto.DataType;
  const value = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => typeof d === "string" ? { dimParam: d } : { dimValue: d }) },
      },
    },
  });
  const model = (input: unknown, output: unknown, node: unknown[], initializer: unknown[] = []) =>
    onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: { name: "g", node, initializer, input: [input], output: [output] } as never,
    })).finish();
  const pool = model(
    value("images", T.FLOAT, ["batch", 1, "height", "width"]),
    value("features", T.FLOAT, ["batch", 1]),
    [
      { opType: "GlobalAveragePool", input: ["images"], output: ["pooled"] },
      { opType: "Flatten", input: ["pooled"], output: ["features"] },
    ],
  );
  await Deno.writeFile(`${dir}/dynamic.onnx`, pool);
  await Deno.writeFile(`${dir}/truncated.onnx`, pool.subarray(0, pool.length - 20));
  const ids = model(value("ids", T.INT64, [2, 3]), value("vectors", T.FLOAT, [2, 3]), [
    {
      opType: "Cast",
      input: ["ids"],
      output: ["vectors"],
      attribute: [{ name: "to", type: 2, i: T.FLOAT }],
    },
  ]);
  await Deno.writeFile(`${dir}/ids.onnx`, ids);
  const nan = model(
    value("images", T.FLOAT, ["batch", 1, 28, 28]),
    value("features", T.FLOAT, ["batch", 1]),
    [
      { opType: "Mul", input: ["images", "scale"], output: ["scaled"] },
      { opType: "GlobalAveragePool", input: ["scaled"], output: ["pooled"] },
      { opType: "Flatten", input: ["pooled"], output: ["features"] },
    ],
    [{ name: "scale", dataType: T.FLOAT, dims: [1], rawData: new Uint8Array([0, 0, 0xc0, 0x7f]) }],
  );
  await Deno.writeFile(`${dir}/nan.onnx`, nan);
}

/** A freshly initialised resnet18 (CIFAR stem, width 0.25, 1 channel, 128-d) as a state dict. */
async function wideTeacher(path: string): Promise<void> {
  const { createModel } = await import("../../lib/models/registry.ts");
  const { torchStateDict } = await import("../../lib/models/torch_weights.ts");
  const { initBackend } = await import("../../lib/backend.ts");
  await initBackend({ backend: "cpu", log: false });
  const model = createModel("resnet18", { stem: "cifar", width: 0.25, inChannels: 1 });
  try {
    await writeSafetensors(path, await torchStateDict(model), { format: "pt" });
  } finally {
    model.dispose();
  }
}

/** A tfjs layers teacher (conv, ReLU, pool) whose conv bias holds a NaN. */
async function tfjsTeacherWithNaN(dir: string): Promise<void> {
  const tf = await import("@tensorflow/tfjs");
  const { fileSystemHandler } = await import("../../lib/io/tfjs_files.ts");
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, name: "conv" }),
      tf.layers.reLU({ name: "feat" }),
      tf.layers.globalAveragePooling2d({ name: "gap" }),
    ],
  });
  const [kernel] = model.getLayer("conv").getWeights();
  const bias = tf.tensor1d([0, NaN, 0, 0]);
  model.getLayer("conv").setWeights([kernel, bias]);
  bias.dispose();
  await model.save(fileSystemHandler(dir));
  model.dispose();
}

/** A copy of safetensors file `from` with +Inf written over the first float of `tensor`. */
async function writeNonFinite(from: string, to: string, tensor: string): Promise<void> {
  const bytes = await Deno.readFile(from);
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  view.setFloat32(8 + n + header[tensor].data_offsets[0], Infinity, true);
  await Deno.writeFile(to, bytes);
}

/** Every file under `dir` (relative path → size, mtime and a SHA-256 of its bytes). */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (at: string) => {
    for await (const e of Deno.readDir(at)) {
      const path = `${at}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else {
        const st = await Deno.stat(path);
        const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
        const hex = Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0"))
          .join("");
        out.set(path.slice(dir.length + 1), `${st.size} ${st.mtime?.getTime()} ${hex}`);
      }
    }
  };
  await walk(dir);
  return out;
}

/** Files left by an interrupted atomic write or a write probe, anywhere under `dir`. */
export async function strayTempFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (at: string) => {
    for await (const e of Deno.readDir(at)) {
      const path = `${at}/${e.name}`;
      if (/\.tmp-|\.coss-write-probe-/.test(e.name)) found.push(path);
      if (e.isDirectory) await walk(path).catch(() => {});
    }
  };
  await walk(dir).catch(() => {});
  return found;
}
