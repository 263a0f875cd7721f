/**
 * Image folders of PNG and JPEG files encoded here with pngjs / jpeg-js:
 * sorted class order, exact PNG pixels, JPEG within a tolerance, grey output,
 * bad files skipped or fatal (with the count), size mismatch and resize, and
 * the bounded prefetch queue.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { assertClose, backendTest, readAndDispose, withTempDir } from "../_helpers.ts";
import { openFolder } from "../../lib/data/folder.ts";
import { decodeImage, PixelLimitError } from "../../lib/data/_image.ts";
import { pngBomb } from "../_png.ts";
import { openDataset, prefetchBatches } from "../../lib/data/datasets.ts";
import type { ImageSource } from "../../lib/data/types.ts";

/** RGB pixels h×w×3 from a function of (y, x, c). */
function rgb(h: number, w: number, f: (y: number, x: number, c: number) => number): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = f(y, x, c);
  }
  return out;
}

function encodePng(h: number, w: number, pixels: Uint8Array): Uint8Array {
  const png = new PNG({ width: w, height: h });
  for (let p = 0; p < h * w; p++) {
    png.data[4 * p] = pixels[3 * p];
    png.data[4 * p + 1] = pixels[3 * p + 1];
    png.data[4 * p + 2] = pixels[3 * p + 2];
    png.data[4 * p + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png));
}

function encodeJpeg(h: number, w: number, pixels: Uint8Array): Uint8Array {
  const rgba = new Uint8Array(h * w * 4);
  for (let p = 0; p < h * w; p++) {
    rgba.set([pixels[3 * p], pixels[3 * p + 1], pixels[3 * p + 2], 255], 4 * p);
  }
  return new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
}

const unit = (a: Uint8Array) => Array.from(a, (v) => Math.fround(v / 255));

const A = rgb(8, 8, (y, x, c) => (y * 29 + x * 13 + c * 71) % 256); // PNG, zebra/a.png
const B = rgb(8, 8, (y, x, c) => [200, 120, 40][c] + y + x); // JPEG, smooth, Apple/b.jpg
const C = rgb(8, 8, (y, x) => (y * 8 + x) * 3); // grey PNG, Apple/nested/c.png
const D = rgb(8, 8, (y, x, c) => (c === 0 ? 255 : y * 30 + x)); // PNG, bird/d.PNG

/** root/{Apple/b.jpg, Apple/nested/c.png, bird/d.PNG, zebra/a.png} plus files to ignore. */
async function writeTree(root: string): Promise<void> {
  for (const d of ["Apple/nested", "bird", "zebra", ".hidden"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.writeFile(`${root}/zebra/a.png`, encodePng(8, 8, A));
  await Deno.writeFile(`${root}/Apple/b.jpg`, encodeJpeg(8, 8, B));
  await Deno.writeFile(`${root}/Apple/nested/c.png`, encodePng(8, 8, C));
  await Deno.writeFile(`${root}/bird/d.PNG`, encodePng(8, 8, D));
  await Deno.writeFile(`${root}/.hidden/x.png`, encodePng(8, 8, A));
  await Deno.writeTextFile(`${root}/bird/notes.txt`, "not an image");
  await Deno.writeFile(`${root}/loose.png`, encodePng(8, 8, A));
}

backendTest("folder: sorted classes and files, PNG exact, JPEG within tolerance", async () => {
  await withTempDir("folder_basic", async (root) => {
    await writeTree(root);
    const warnings: string[] = [];
    const { images, evaluation } = await openDataset({ name: "folder", root }, {
      onWarning: (l) => warnings.push(l),
    });
    assert.deepEqual(evaluation!.classNames, ["Apple", "bird", "zebra"]);
    assert.deepEqual(Array.from(evaluation!.labels), [0, 0, 1, 2]);
    assert.deepEqual(warnings, [`Folder "${root}": ignored 1 image(s) outside class subfolders`]);
    assert.equal(images.length, 4);
    assert.deepEqual(images.imageShape, [8, 8, 3]);
    assert.match(
      images.fingerprint,
      /^folder\/folder_basic_\w+\|folder\|.*\|4 files\|sha256 [0-9a-f]{64}$/,
    );
    assert.ok(!("labels" in images));
    const x = await images.batch([3, 1, 2, 0]);
    assert.deepEqual(x.shape, [4, 8, 8, 3]);
    const v = await readAndDispose(x);
    assert.deepEqual(Array.from(v.subarray(0, 192)), unit(A));
    assert.deepEqual(Array.from(v.subarray(192, 384)), unit(C));
    assert.deepEqual(Array.from(v.subarray(384, 576)), unit(D));
    assertClose(v.subarray(576, 768), unit(B), { atol: 6 / 255, rtol: 0, label: "JPEG b.jpg" });
    images.close();
    await assert.rejects(images.batch([0]), /is closed/);
  });
}, { backends: ["cpu"] });

backendTest("folder: one channel (luma, exact for grey) and resize on read", async () => {
  await withTempDir("folder_gray", async (root) => {
    await writeTree(root);
    await Deno.writeFile(
      `${root}/bird/e.png`,
      encodePng(4, 6, rgb(4, 6, (_y, _x, c) => [10, 20, 30][c])),
    );
    await assert.rejects(
      openFolder(root, { onWarning: () => {} }),
      (e: Error) =>
        e.message ===
          `Image "${root}/bird/e.png" is 4×6 (h×w) but the first image "${root}/Apple/b.jpg" is 8×8: ` +
            `make all images one size, or pass size: [h, w] to resize on read`,
    );
    const { images } = await openFolder(root, { channels: 1, size: [8, 8], onWarning: () => {} });
    assert.deepEqual(images.imageShape, [8, 8, 1]);
    const v = await readAndDispose(await images.batch([1, 3]));
    assert.deepEqual(
      Array.from(v.subarray(0, 64)),
      Array.from({ length: 64 }, (_, p) => Math.fround((p * 3) / 255)),
    );
    const luma = (0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 255;
    assertClose(v.subarray(64), new Array(64).fill(luma), {
      rtol: 1e-6,
      label: "resized flat image",
    });
    const small = await openFolder(root, { size: [2, 3], onWarning: () => {} });
    const y = await small.images.batch([0, 1, 2, 3, 4]);
    assert.deepEqual(y.shape, [5, 2, 3, 3]);
    y.dispose();
  });
}, { backends: ["cpu"] });

Deno.test("folder: unreadable images fail with the count, or are skipped and reported in one line", async () => {
  await withTempDir("folder_bad", async (root) => {
    await writeTree(root);
    await Deno.writeFile(
      `${root}/bird/broken.png`,
      new TextEncoder().encode("definitely not a png"),
    );
    await Deno.writeFile(`${root}/zebra/trunc.jpg`, new Uint8Array([0xff, 0xd8, 0xff]));
    await assert.rejects(
      openFolder(root, { onWarning: () => {} }),
      (e: Error) =>
        e.message ===
          `Cannot read image "${root}/bird/broken.png": neither PNG nor JPEG (starts with 64 65 66 69) ` +
            `(2 of 6 files unreadable, also "${root}/zebra/trunc.jpg"; fix or remove them, or pass onBadImage: "skip")`,
    );
    const warnings: string[] = [];
    const { images, evaluation } = await openFolder(root, {
      onBadImage: "skip",
      onWarning: (l) => warnings.push(l),
    });
    assert.equal(images.length, 4);
    assert.deepEqual(Array.from(evaluation!.labels), [0, 0, 1, 2]);
    assert.equal(warnings.length, 2);
    assert.equal(
      warnings[1],
      `Folder "${root}": skipped 2 unreadable image(s) of 6: "${root}/bird/broken.png" (neither PNG nor JPEG ` +
        `(starts with 64 65 66 69)), "${root}/zebra/trunc.jpg" (a JPEG without a readable frame header (truncated?))`,
    );
  });
});

Deno.test("folder: a PNG whose header claims 20000×20000 is refused at open, fast, naming the key", async () => {
  await withTempDir("folder_bomb", async (root) => {
    await writeTree(root);
    const bomb = pngBomb(20000, 20000);
    await Deno.writeFile(`${root}/bird/bomb.png`, bomb);
    const t0 = performance.now();
    await assert.rejects(
      openFolder(root, { key: "data.train", onWarning: () => {} }),
      (e: Error) =>
        e.message ===
          `Cannot read image "${root}/bird/bomb.png": its header claims 20000×20000 (h×w) = ` +
            `400000000 pixels, above the limit of 50000000 (data.train.maxPixels); raise ` +
            `data.train.maxPixels if the image is genuine, or remove it`,
    );
    // The decoder never runs on it: a full decode takes about 38 s and 5 GB.
    assert.ok(performance.now() - t0 < 2000, `${performance.now() - t0} ms`);
    // Skipped like any unreadable file; a raised limit accepts a large image.
    const warnings: string[] = [];
    const skipped = await openFolder(root, {
      onBadImage: "skip",
      onWarning: (l) => warnings.push(l),
    });
    assert.equal(skipped.images.length, 4);
    assert.match(warnings.at(-1)!, /bomb\.png" \(its header claims 20000×20000/);
    await assert.rejects(
      openFolder(root, { maxPixels: 63, onWarning: () => {} }),
      /above the limit of 63 \(maxPixels\); raise maxPixels/,
    );
    await assert.rejects(openFolder(root, { maxPixels: 0 }), /maxPixels: expected an integer ≥ 1/);
    // The batch decoder checks again (a file replaced after open), before inflating.
    const t1 = performance.now();
    assert.throws(() => decodeImage(bomb), PixelLimitError);
    assert.ok(performance.now() - t1 < 2000, `${performance.now() - t1} ms`);
  });
});

backendTest(
  "folder: a corrupt body passes a header check, fails at batch, and verify: decode skips it",
  async () => {
    await withTempDir("folder_body", async (root) => {
      await writeTree(root);
      const png = encodePng(8, 8, A);
      await Deno.writeFile(`${root}/zebra/z.png`, png.subarray(0, png.length - 30));
      const lazy = await openFolder(root, { onWarning: () => {} });
      assert.equal(lazy.images.length, 5);
      await assert.rejects(
        lazy.images.batch([0, 4]),
        (e: Error) => e.message.startsWith(`Cannot decode image "${root}/zebra/z.png": `),
      );
      const warnings: string[] = [];
      const strict = await openFolder(root, {
        verify: "decode",
        onBadImage: "skip",
        onWarning: (l) => warnings.push(l),
      });
      assert.equal(strict.images.length, 4);
      assert.match(warnings[1], /skipped 1 unreadable image\(s\) of 5: ".*zebra\/z\.png"/);
    });
  },
  { backends: ["cpu"] },
);

/** A source whose batches resolve after `ms`, counting calls in flight. */
function slowSource(ms: number) {
  const stats = { inFlight: 0, maxInFlight: 0, calls: 0 };
  const source: ImageSource = {
    name: "slow",
    length: 100,
    imageShape: [1, 1, 1],
    fingerprint: "slow",
    batch: async (ix) => {
      stats.calls++;
      stats.maxInFlight = Math.max(stats.maxInFlight, ++stats.inFlight);
      await new Promise((r) => setTimeout(r, ms));
      stats.inFlight--;
      return tf.fill([ix.length, 1, 1, 1], ix[0]) as tf.Tensor4D;
    },
    close: () => {},
  };
  return { source, stats };
}

backendTest(
  "prefetchBatches: at most `depth` batches ahead; order kept; early exit disposes the queue",
  async () => {
    for (const depth of [1, 2, 3]) {
      const { source, stats } = slowSource(5);
      const batches = Array.from({ length: 8 }, (_, i) => [i]);
      const seen: number[] = [];
      for await (const x of prefetchBatches(source, batches, { depth })) {
        // A slow consumer: the reader runs ahead as far as it may.
        await new Promise((r) => setTimeout(r, 15));
        assert.ok(
          stats.calls - seen.length - 1 <= depth,
          `depth ${depth}: ${stats.calls} calls after ${seen.length + 1} taken`,
        );
        seen.push((await x.data())[0]);
        x.dispose();
      }
      assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7]);
      assert.equal(stats.maxInFlight, depth, `depth ${depth}`);
    }
    const { source, stats } = slowSource(1);
    const before = tf.memory().numTensors;
    for await (const x of prefetchBatches(source, Array.from({ length: 50 }, (_, i) => [i]))) {
      x.dispose();
      break;
    }
    assert.equal(stats.calls, 3); // the one taken plus the default depth of 2
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(prefetchBatches(source, [], { depth: 0 }).next(), RangeError);
  },
  { backends: ["cpu"] },
);

backendTest("prefetchBatches over a folder gives the same batches as direct reads", async () => {
  await withTempDir("folder_prefetch", async (root) => {
    await writeTree(root);
    const { images } = await openFolder(root, { onWarning: () => {} });
    const order = [[3, 0], [2, 1], [0]];
    const got: number[][] = [];
    for await (const x of prefetchBatches(images, order, { depth: 2 })) {
      got.push(Array.from(await readAndDispose(x)));
    }
    for (const [k, ix] of order.entries()) {
      assert.deepEqual(got[k], Array.from(await readAndDispose(await images.batch(ix))));
    }
  });
}, { backends: ["cpu"] });
