/**
 * `.npy` files written byte by byte here (v1, v2 and v3 headers): image and
 * label round trips, features, and refusals (Fortran order, big-endian,
 * truncation, out-of-range floats, wrong shapes, kind "features" in the registry).
 */
import assert from "assert";
import { backendTest, readAndDispose, withTempDir } from "../_helpers.ts";
import { openFeatures, openNpyImages, parseNpy, readNpy } from "../../lib/data/npy.ts";
import { openDataset } from "../../lib/data/datasets.ts";

/** A .npy file as numpy.save writes it: magic, version, header padded to 64 bytes, data. */
function npy(
  descr: string,
  shape: number[],
  data: Uint8Array,
  options: { version?: 1 | 2 | 3; fortran?: boolean } = {},
): Uint8Array {
  const version = options.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': ${
    options.fortran ? "True" : "False"
  }, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const header = new TextEncoder().encode(dict.padEnd(total - pre - 1, " ") + "\n");
  const out = new Uint8Array(pre + header.length + data.length);
  out.set([0x93, ...new TextEncoder().encode("NUMPY"), version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(header, pre);
  out.set(data, pre + header.length);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

backendTest(
  "npy: uint8 [N,H,W] and float32 [N,H,W,3] images, int64 labels, v1/v2/v3 headers",
  async () => {
    await withTempDir("npy_images", async (dir) => {
      const u8 = Uint8Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 20);
      await Deno.writeFile(`${dir}/x.npy`, npy("|u1", [3, 2, 2], u8));
      await Deno.writeFile(
        `${dir}/y.npy`,
        npy("<i8", [3], bytesOf(BigInt64Array.from([2n, 0n, 5n])), { version: 2 }),
      );
      const ds = await openDataset({ name: "npy", path: `${dir}/x.npy`, labels: `${dir}/y.npy` });
      assert.equal(ds.images.name, "npy/x.npy");
      assert.equal(ds.images.length, 3);
      assert.deepEqual(ds.images.imageShape, [2, 2, 1]);
      assert.deepEqual(Array.from(ds.evaluation!.labels), [2, 0, 5]);
      assert.deepEqual(ds.evaluation!.classNames, ["0", "1", "2", "3", "4", "5"]);
      assert.deepEqual(
        Array.from(await readAndDispose(await ds.images.batch([2]))),
        [160, 180, 200, 220].map((v) => Math.fround(v / 255)),
      );
      ds.images.close();

      const f32 = Float32Array.from({ length: 2 * 1 * 2 * 3 }, (_, i) => i / 11);
      await Deno.writeFile(
        `${dir}/rgb.npy`,
        npy("<f4", [2, 1, 2, 3], bytesOf(f32), { version: 3 }),
      );
      await Deno.writeFile(`${dir}/l.npy`, npy("<i4", [2], bytesOf(Int32Array.from([1, 0]))));
      const rgb = await openNpyImages(`${dir}/rgb.npy`, {
        labels: `${dir}/l.npy`,
        classNames: ["cat", "dog"],
      });
      assert.deepEqual(rgb.images.imageShape, [1, 2, 3]);
      assert.deepEqual(rgb.evaluation!.classNames, ["cat", "dog"]);
      assert.deepEqual(Array.from(await readAndDispose(await rgb.images.batch([1, 0]))), [
        ...f32.subarray(6),
        ...f32.subarray(0, 6),
      ]);
      assert.equal(rgb.images.fingerprint.startsWith(`npy/rgb.npy|npy|${dir}/rgb.npy:`), true);
    });
  },
  { backends: ["cpu"] },
);

Deno.test("npy: parse every supported dtype; an unaligned copy is still correct", () => {
  const cases: [string, ArrayBufferView, number[]][] = [
    ["|i1", Int8Array.from([-3, 4]), [-3, 4]],
    ["<u2", Uint16Array.from([65535, 1]), [65535, 1]],
    ["<i2", Int16Array.from([-2, 2]), [-2, 2]],
    ["<u4", Uint32Array.from([4e9, 0]), [4e9, 0]],
    ["<f8", Float64Array.from([0.25, 1e-300]), [0.25, 1e-300]],
    ["<u8", BigUint64Array.from([2n ** 53n - 1n, 7n]), [2 ** 53 - 1, 7]],
  ];
  for (const [descr, data, want] of cases) {
    const file = npy(descr, [2], bytesOf(data));
    assert.deepEqual(Array.from(parseNpy(file, "t.npy").data as ArrayLike<number>), want, descr);
    const shifted = new Uint8Array(file.length + 1).subarray(1);
    shifted.set(file);
    assert.deepEqual(
      Array.from(parseNpy(shifted, "t.npy").data as ArrayLike<number>),
      want,
      `${descr} unaligned`,
    );
  }
});

Deno.test("npy: Fortran order, big-endian, truncation and bad magic name the file and the fix", async () => {
  await withTempDir("npy_bad", async (dir) => {
    const f32 = bytesOf(new Float32Array(6));
    await Deno.writeFile(`${dir}/f.npy`, npy("<f4", [2, 3], f32, { fortran: true }));
    await assert.rejects(
      readNpy(`${dir}/f.npy`),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message ===
          `Cannot read .npy file "${dir}/f.npy": it is in Fortran order (save numpy.ascontiguousarray(x) instead)`,
    );
    assert.throws(
      () => parseNpy(npy(">f4", [2, 3], f32), "be.npy"),
      /^SyntaxError: Cannot read \.npy file "be\.npy": dtype '>f4' is not supported \(convert with x\.astype\('<f4'\)/,
    );
    assert.throws(
      () => parseNpy(npy("<f4", [2, 3], f32.subarray(0, 20)), "short.npy"),
      /"short\.npy": shape \(2, 3\) of '<f4' needs 24 data bytes, the file has 20 \(the file is truncated or damaged: write it again\)$/,
    );
    assert.throws(
      () => parseNpy(new Uint8Array(20), "zero.npy"),
      /"zero\.npy": it does not start with \\x93NUMPY/,
    );
  });
});

Deno.test("npy: images with bad values or shapes, labels that do not fit, and features", async () => {
  await withTempDir("npy_shapes", async (dir) => {
    await Deno.writeFile(
      `${dir}/big.npy`,
      npy("<f4", [1, 1, 2], bytesOf(Float32Array.from([0.5, 255]))),
    );
    await assert.rejects(
      openNpyImages(`${dir}/big.npy`),
      (e: Error) =>
        e.message ===
          `Cannot use "${dir}/big.npy" as images: value 255 at flat index 1 is outside [0, 1] (divide by 255, or save uint8)`,
    );
    await Deno.writeFile(
      `${dir}/feat.npy`,
      npy("<f4", [2, 3], bytesOf(Float32Array.from([1, 2, 3, 4, 5, 6]))),
    );
    await assert.rejects(
      openNpyImages(`${dir}/feat.npy`),
      /shape \(2, 3\) is not \(N, H, W\) or \(N, H, W, C\) with C 1 or 3 .*kind: "features"/,
    );
    await Deno.writeFile(`${dir}/lab.npy`, npy("<i4", [3], bytesOf(Int32Array.from([0, 1, 1]))));
    await assert.rejects(
      openFeatures(`${dir}/feat.npy`, { labels: `${dir}/lab.npy` }),
      (e: Error) =>
        e.message ===
          `Cannot use labels "${dir}/lab.npy" for "${dir}/feat.npy": shape (3,) should be (2,), one label per row of "${dir}/feat.npy"`,
    );
    await Deno.writeFile(`${dir}/lab2.npy`, npy("<i4", [2], bytesOf(Int32Array.from([1, 0]))));
    const set = await openFeatures(`${dir}/feat.npy`, { labels: `${dir}/lab2.npy` });
    assert.equal(set.n, 2);
    assert.equal(set.dim, 3);
    assert.deepEqual(Array.from(set.features), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(set.evaluation!.labels), [1, 0]);
    await assert.rejects(
      openDataset({ name: "npy", path: `${dir}/feat.npy`, kind: "features" }),
      (e: Error) =>
        e instanceof TypeError &&
        e.message.includes(`read them with openFeatures("${dir}/feat.npy") from lib/data/npy.ts`),
    );
  });
});
