/**
 * IDX reading: Debian's Fashion-MNIST (lengths, shape, first labels, pixels
 * against the raw bytes), uncompressed copies written here, and every
 * refusal (wrong magic, truncation, trailing bytes, count mismatch, bad index).
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { backendTest, DEBIAN_FASHION_MNIST, readAndDispose, withTempDir } from "../_helpers.ts";
import { initBackend } from "../../lib/backend.ts";
import { FASHION_MNIST_CLASSES, openIdx, readIdx } from "../../lib/data/idx.ts";
import { openDataset } from "../../lib/data/datasets.ts";

const DEBIAN = DEBIAN_FASHION_MNIST;

/** An IDX file: magic `00 00 08 ndim`, big-endian dims, bytes. */
function idxBytes(
  dims: number[],
  data: ArrayLike<number>,
  magic = 0x0800 | dims.length,
): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzipFile(path: string): Promise<Uint8Array> {
  const stream = (await Deno.open(path)).readable.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** 3 images of 2×3 with distinct bytes, and labels. */
const PIXELS = Array.from({ length: 18 }, (_, i) => (i * 37 + 5) % 256);
const LABELS = [2, 0, 1];

await testNeeding(["fashion-mnist"], {
  name: "Debian Fashion-MNIST: lengths, shape, labels, pixels match the raw bytes [cpu]",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    const tensorsBefore = tf.memory().numTensors;
    const train = await openDataset({ name: "fashion-mnist", split: "train", download: false });
    const test = await openDataset({ name: "fashion-mnist", split: "test", download: false });
    try {
      assert.equal(train.images.length, 60000);
      assert.equal(test.images.length, 10000);
      assert.deepEqual(train.images.imageShape, [28, 28, 1]);
      assert.deepEqual(test.images.imageShape, [28, 28, 1]);
      assert.equal(train.images.name, "fashion-mnist/train");
      assert.deepEqual(Array.from(train.evaluation!.labels.subarray(0, 10)), [
        9,
        0,
        0,
        3,
        0,
        2,
        7,
        2,
        5,
        5,
      ]);
      assert.equal(test.evaluation!.labels.length, 10000);
      assert.deepEqual(train.evaluation!.classNames, FASHION_MNIST_CLASSES);
      assert.match(
        train.images.fingerprint,
        /^fashion-mnist\/train\|idx\|.*train-images-idx3-ubyte\.gz:\d+:\d+$/,
      );
      assert.ok(!("labels" in train.images), "the image source must not carry labels");

      const raw = await gunzipFile(`${DEBIAN}/train-images-idx3-ubyte.gz`);
      const x = await train.images.batch([0, 59999]);
      assert.deepEqual(x.shape, [2, 28, 28, 1]);
      assert.equal(x.dtype, "float32");
      const values = await readAndDispose(x);
      let min = Infinity, max = -Infinity;
      for (const v of values.subarray(0, 784)) [min, max] = [Math.min(min, v), Math.max(max, v)];
      assert.ok(min >= 0 && max <= 1 && max > 0.5, `image 0 spans [${min}, ${max}]`);
      for (const p of [0, 300, 400, 783]) {
        assert.equal(values[p], Math.fround(raw[16 + p] / 255), `image 0 pixel ${p}`);
        assert.equal(
          values[784 + p],
          Math.fround(raw[16 + 59999 * 784 + p] / 255),
          `image 59999 pixel ${p}`,
        );
      }
    } finally {
      train.images.close();
      test.images.close();
    }
    assert.equal(tf.memory().numTensors, tensorsBefore, "leaked tensors");
  },
});

backendTest(
  "openIdx: uncompressed and gzipped copies read alike; batch order and values",
  async () => {
    await withTempDir("idx_plain", async (dir) => {
      await Deno.writeFile(`${dir}/images.idx`, idxBytes([3, 2, 3], PIXELS));
      await Deno.writeFile(`${dir}/labels.idx`, idxBytes([3], LABELS));
      await Deno.writeFile(`${dir}/images.gz`, await gzip(idxBytes([3, 2, 3], PIXELS)));
      for (const images of [`${dir}/images.idx`, `${dir}/images.gz`]) {
        const ds = await openIdx({ images, labels: `${dir}/labels.idx` }, { name: "toy" });
        assert.equal(ds.images.length, 3);
        assert.deepEqual(ds.images.imageShape, [2, 3, 1]);
        assert.deepEqual(Array.from(ds.evaluation!.labels), LABELS);
        assert.deepEqual(ds.evaluation!.classNames, ["0", "1", "2"]);
        const got = await readAndDispose(await ds.images.batch([2, 0, 2]));
        const want = [...PIXELS.slice(12), ...PIXELS.slice(0, 6), ...PIXELS.slice(12)].map((v) =>
          Math.fround(v / 255)
        );
        assert.deepEqual(Array.from(got), want);
        const empty = await ds.images.batch([]);
        assert.deepEqual(empty.shape, [0, 2, 3, 1]);
        empty.dispose();
        ds.images.close();
        await assert.rejects(ds.images.batch([0]), /"toy" is closed/);
      }
      const noLabels = await openIdx({ images: `${dir}/images.idx` });
      assert.equal(noLabels.evaluation, undefined);
    });
  },
  { backends: ["cpu"] },
);

backendTest("registry: mnist and fashion-mnist from an uncompressed copy in dataDir", async () => {
  await withTempDir("idx_registry", async (dir) => {
    await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte`, idxBytes([3, 2, 3], PIXELS));
    await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte`, idxBytes([3], LABELS));
    for (const name of ["mnist", "fashion-mnist"] as const) {
      const ds = await openDataset({ name, split: "test", dataDir: dir, download: false });
      assert.equal(ds.images.name, `${name}/test`);
      assert.equal(ds.images.length, 3);
      assert.deepEqual(Array.from(ds.evaluation!.labels), LABELS);
      assert.equal(ds.evaluation!.classNames.length, 10);
      assert.ok(ds.images.fingerprint.includes(`${dir}/t10k-images-idx3-ubyte:`));
      const x = await ds.images.batch([1]);
      assert.deepEqual(
        Array.from(await readAndDispose(x)),
        PIXELS.slice(6, 12).map((v) => Math.fround(v / 255)),
      );
      ds.images.close();
    }
  });
}, { backends: ["cpu"] });

Deno.test("batch: a bad index is a RangeError naming it and the length", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  await withTempDir("idx_range", async (dir) => {
    await Deno.writeFile(`${dir}/i.idx`, idxBytes([3, 2, 3], PIXELS));
    const { images } = await openIdx({ images: `${dir}/i.idx` }, { name: "toy" });
    for (const [bad, at] of [[3, 1], [-1, 1], [1.5, 1], [NaN, 1]] as const) {
      await assert.rejects(
        images.batch([0, bad]),
        (e: Error) =>
          e instanceof RangeError &&
          e.message ===
            `Index ${bad} at position ${at} is out of range for "toy" (length 3; valid indices are integers 0..2)`,
      );
    }
    assert.equal(tf.memory().numTensors, 0);
  });
});

Deno.test("readIdx: a wrong magic names the file and the expected magic", async () => {
  await withTempDir("idx_magic", async (dir) => {
    await Deno.writeFile(`${dir}/labels.gz`, await gzip(idxBytes([3], LABELS)));
    await Deno.writeFile(`${dir}/images.idx`, idxBytes([3, 2, 3], PIXELS));
    await Deno.writeFile(`${dir}/photo.png`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    await assert.rejects(
      readIdx(`${dir}/labels.gz`, { expect: "images" }),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message ===
          `Cannot read IDX file "${dir}/labels.gz": magic 0x0801 is not an image file (0x0803) ` +
            `(it holds labels: swap the images and labels paths)`,
    );
    await assert.rejects(
      readIdx(`${dir}/images.idx`, { expect: "labels" }),
      /magic 0x0803 is not a label file \(0x0801\)/,
    );
    await assert.rejects(
      readIdx(`${dir}/photo.png`),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message.includes(`"${dir}/photo.png": magic 0x89504e47 is not`),
    );
  });
});

Deno.test("readIdx: truncated and over-long files, plain and gzipped, name the file and the sizes", async () => {
  await withTempDir("idx_trunc", async (dir) => {
    const full = idxBytes([3, 2, 3], PIXELS);
    await Deno.writeFile(`${dir}/short.idx`, full.subarray(0, full.length - 5));
    await Deno.writeFile(`${dir}/short.gz`, await gzip(full.subarray(0, full.length - 5)));
    await Deno.writeFile(`${dir}/header.idx`, full.subarray(0, 9));
    await Deno.writeFile(`${dir}/long.idx`, new Uint8Array([...full, 1, 2]));
    const gz = await gzip(full);
    await Deno.writeFile(`${dir}/cut.gz`, gz.subarray(0, gz.length - 12));
    for (const f of ["short.idx", "short.gz"]) {
      await assert.rejects(
        readIdx(`${dir}/${f}`),
        (e: Error) =>
          e instanceof SyntaxError &&
          e.message.startsWith(
            `Cannot read IDX file "${dir}/${f}": truncated: the header states 3×2×3 = 18 bytes`,
          ) &&
          e.message.includes("has 13 (delete it and download it again)") &&
          !e.message.includes("\n"),
      );
    }
    await assert.rejects(
      readIdx(`${dir}/header.idx`),
      /"[^"]*header\.idx": truncated inside the header/,
    );
    await assert.rejects(
      readIdx(`${dir}/long.idx`),
      /"[^"]*long\.idx": 2 unexpected bytes after the 18 bytes/,
    );
    await assert.rejects(
      readIdx(`${dir}/cut.gz`),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message.startsWith(`Cannot read IDX file "${dir}/cut.gz": `) &&
        !e.message.includes("\n"),
    );
  });
});

Deno.test("openIdx: image and label counts that differ name both files", async () => {
  await withTempDir("idx_count", async (dir) => {
    await Deno.writeFile(`${dir}/images.idx`, idxBytes([3, 2, 3], PIXELS));
    await Deno.writeFile(`${dir}/labels.idx`, idxBytes([2], [1, 0]));
    await assert.rejects(
      openIdx({ images: `${dir}/images.idx`, labels: `${dir}/labels.idx` }),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message ===
          `IDX files disagree: "${dir}/images.idx" has 3 images but "${dir}/labels.idx" has 2 labels ` +
            `(use the images and labels of the same split)`,
    );
    await Deno.writeFile(`${dir}/labels10.idx`, idxBytes([3], [0, 10, 1]));
    await assert.rejects(
      openIdx({ images: `${dir}/images.idx`, labels: `${dir}/labels10.idx` }, {
        classNames: FASHION_MNIST_CLASSES,
      }),
      /label 10 is out of range for 10 classes/,
    );
  });
});
