/**
 * ONNX teachers against PyTorch: tests/reference/onnx_teachers.py exports a
 * full-width torchvision ResNet-50 and a ViT-style model with a CLS token
 * (random weights) with `torch.onnx.export`, and writes PyTorch's features
 * of seeded pixels. The toolkit's ONNX teacher, fed the same NHWC pixels,
 * must give them to ≤ 1e-4 (absolute, or relative to the largest feature
 * when that exceeds 1). Then the bad inputs, one line each, and the cache.
 * Needs Debian's PyTorch (skipped with the reason without it, failing under
 * CI=true, where it is installed).
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { initBackend } from "../../lib/backend.ts";
import { loadOrComputeFeatures } from "../../lib/teacher/cache.ts";
import type { ImageSource } from "../../lib/data/types.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import proto from "onnx-proto";
import { loadOnnxTeacher } from "../../lib/models/onnx_teacher.ts";
import { scratch } from "../_helpers.ts";
import { maxAbsError } from "./_onnx_zoo.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("../reference/onnx_teachers.py", import.meta.url).pathname;
const TOLERANCE = 1e-4;

let made: Promise<string> | undefined;
/** Run the reference script once per process into a scratch folder. */
function reference(): Promise<string> {
  made ??= (async () => {
    const { dir } = await scratch("onnx_teachers");
    const { code, stderr } = await new Deno.Command(PYTHON, {
      args: [SCRIPT, dir],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return dir;
  })();
  return made;
}

async function tensors(dir: string): Promise<Map<string, tf.Tensor>> {
  const st = await readSafetensors(`${dir}/reference.safetensors`);
  return new Map(
    [...st.tensors].map(([k, t]) => [k, tf.tensor(t.values as Float32Array, t.shape)]),
  );
}

function assertParity(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>) {
  const { err, scale } = maxAbsError(actual, expected);
  const tol = TOLERANCE * Math.max(1, scale);
  console.log(
    `${label}: max |toolkit − PyTorch| ${err.toExponential(2)} (max |PyTorch| ${scale.toFixed(3)})`,
  );
  assert.ok(err <= tol, `${label}: error ${err} > ${tol}`);
}

const test = (name: string, fn: () => Promise<void>) =>
  testNeeding(["pytorch"], { name, sanitizeResources: false, sanitizeOps: false, fn });

await test("ONNX teacher: torchvision ResNet-50 (card.json beside it) matches PyTorch", async () => {
  await initBackend({ backend: "cpu", log: false });
  const dir = await reference();
  const ref = await tensors(dir);
  // The pixels come as [0, 1] data (mean 0, std 1); the card's ImageNet normalisation is applied.
  const teacher = await loadOnnxTeacher(`${dir}/resnet50/model.onnx`, {
    dataMean: [0, 0, 0],
    dataStd: [1, 1, 1],
    threads: 2,
  });
  try {
    assert.equal(teacher.featureDim, 2048);
    assert.deepEqual(teacher.input.size, [224, 224]);
    assert.equal(teacher.input.from.mean, `${dir}/resnet50/card.json`);
    const y = await teacher.embedAsync(ref.get("pixels") as tf.Tensor4D);
    assertParity("resnet50", await y.data(), await ref.get("resnet50")!.data());
    y.dispose();
  } finally {
    teacher.dispose();
    tf.dispose([...ref.values()]);
  }
});

await test("ONNX teacher: ViT tokens, CLS and patch mean, match PyTorch (resized 224 → 32)", async () => {
  await initBackend({ backend: "cpu", log: false });
  const dir = await reference();
  const ref = await tensors(dir);
  try {
    for (const tokens of ["cls", "mean"] as const) {
      const teacher = await loadOnnxTeacher(`${dir}/vit/model.onnx`, {
        output: "last_hidden_state",
        tokens,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        dataMean: [0, 0, 0],
        dataStd: [1, 1, 1],
      });
      try {
        assert.deepEqual(teacher.input.size, [32, 32], "from the model's fixed shape");
        const y = await teacher.embedAsync(ref.get("pixels") as tf.Tensor4D);
        assertParity(`vit ${tokens}`, await y.data(), await ref.get(`vit_${tokens}`)!.data());
        y.dispose();
      } finally {
        teacher.dispose();
      }
    }
  } finally {
    tf.dispose([...ref.values()]);
  }
});

/** The one-line error `load` rejects with. */
async function errorLine(load: () => Promise<unknown>): Promise<string> {
  try {
    await load();
  } catch (e) {
    const message = (e as Error).message;
    assert.equal(message.split("\n").length, 1, `one line: ${message}`);
    return message;
  }
  throw new Error("expected an error");
}

await test("ONNX teacher: corrupt file, no image input, unknown output and dynamic size are one line each", async () => {
  await initBackend({ backend: "cpu", log: false });
  const dir = await reference();
  const bytes = await Deno.readFile(`${dir}/vit/model.onnx`);
  await Deno.writeFile(`${dir}/truncated.onnx`, bytes.slice(0, bytes.length >> 1));
  assert.match(
    await errorLine(() => loadOnnxTeacher(`${dir}/truncated.onnx`)),
    /^Cannot load ONNX teacher ".*truncated\.onnx": not a complete ONNX model \(.*\); re-export/,
  );
  await Deno.writeTextFile(`${dir}/text.onnx`, "not a model\n");
  assert.match(await errorLine(() => loadOnnxTeacher(`${dir}/text.onnx`)), /not a complete ONNX/);
  assert.match(
    await errorLine(() => loadOnnxTeacher(`${dir}/ids/model.onnx`)),
    /has no image input \("ids" int64 \[2, 3\]\): a teacher needs exactly one float32 input of rank 4/,
  );
  assert.match(
    await errorLine(() => loadOnnxTeacher(`${dir}/vit/model.onnx`, { output: "logits" })),
    /has no output "logits" \(teacher\.output\); its outputs are "last_hidden_state" float32 \[batch, 17, 64\], "pooled" float32 \[batch, 64\]$/,
  );
  assert.match(
    await errorLine(() => loadOnnxTeacher(`${dir}/dynamic/model.onnx`)),
    /input "input" \[batch, 3, height, width\] \(NCHW\) has a dynamic height or width; set teacher\.input\.size/,
  );
  const fixed = await loadOnnxTeacher(`${dir}/dynamic/model.onnx`, { size: [48, 48] });
  assert.equal(fixed.featureDim, 8);
  fixed.dispose();
});

await test("ONNX teacher: a PyTorch export with a NaN weight is refused at load, naming it", async () => {
  await initBackend({ backend: "cpu", log: false });
  const dir = await reference();
  // The exported ResNet-18 with one value of its first float32 initializer set to NaN in place:
  // the rest of the file is torch.onnx.export's, byte for byte.
  const bytes = await Deno.readFile(`${dir}/dynamic/model.onnx`);
  const { onnx } = proto;
  const first = onnx.ModelProto.decode(bytes).graph!.initializer!.find((t) =>
    t.dataType === onnx.TensorProto.DataType.FLOAT && t.rawData?.length
  )!;
  const at = first.rawData!.byteOffset - bytes.byteOffset;
  const poisoned = bytes.slice();
  new DataView(poisoned.buffer).setFloat32(at, NaN, true);
  await Deno.writeFile(`${dir}/nan.onnx`, poisoned);
  assert.equal(
    await errorLine(() => loadOnnxTeacher(`${dir}/nan.onnx`, { size: [48, 48] })),
    `Cannot load weights "${dir}/nan.onnx": initializer "${first.name}" holds non-finite ` +
      "values (NaN); re-export the weights from a finite model",
  );
});

await test("ONNX teacher fills the teacher cache: computed once, then a hit with the same features", async () => {
  await initBackend({ backend: "cpu", log: false });
  const dir = await reference();
  const ref = await tensors(dir);
  const pixels = ref.get("pixels")!;
  const images: ImageSource = {
    name: "reference-pixels",
    length: 4,
    imageShape: [224, 224, 3],
    fingerprint: "reference-pixels-v1",
    batch: (rows) => Promise.resolve(tf.gather(pixels, Array.from(rows)) as tf.Tensor4D),
    close: () => {},
  };
  const open = () =>
    loadOnnxTeacher(`${dir}/vit/model.onnx`, {
      output: "last_hidden_state",
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      dataMean: [0, 0, 0],
      dataStd: [1, 1, 1],
    });
  const lines: string[] = [];
  try {
    for (const expectHit of [false, true]) {
      const teacher = await open();
      try {
        const cache = await loadOrComputeFeatures({
          dir: `${dir}/cache`,
          teacher,
          images,
          batchSize: 3,
          progress: false,
          log: (l) => lines.push(l),
        });
        assert.equal(cache.hit, expectHit, lines.join("\n"));
        assert.equal(cache.dim, 64);
        assertParity(
          `cache ${expectHit ? "hit" : "miss"}`,
          cache.features,
          await ref.get("vit_cls")!.data(),
        );
      } finally {
        teacher.dispose();
      }
    }
  } finally {
    tf.dispose([...ref.values()]);
  }
});
