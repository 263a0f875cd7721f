import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  notStrictEqual as assertNotEquals,
  throws as assertThrows,
} from "assert";
import {
  buildManifest,
  keyedByManifest,
  manifestEntry,
  resolveShard,
  shardRange,
} from "../../lib/data/manifest.ts";
import { loadOrBuildManifest, manifestPath } from "../../lib/data/manifest_cache.ts";
import { cacheKey } from "../../lib/teacher/cache.ts";
import { preparedKey, sha256 } from "../../lib/teacher/key.ts";
import { ArrayImageSource } from "../../lib/data/array_source.ts";
import { backendTest, scratch } from "../_helpers.ts";

function source(seed: number, n: number): ArrayImageSource {
  const pixels = new Uint8Array(n * 4).map((_, i) => (i * 37 + seed) % 256);
  return new ArrayImageSource("t", pixels, [2, 2, 1], `fp-${n}`);
}

backendTest("manifest: deterministic, independent of read batch, content-sensitive", async () => {
  const a = await buildManifest(source(1, 10), { batchSize: 3 });
  const b = await buildManifest(source(1, 10), { batchSize: 10 });
  assertEquals(a, b);
  assertEquals(a.hashes.length, 10 * 32);
  assertEquals(manifestEntry(a, 9).index, 9);
  assertEquals(
    manifestEntry(a, 9).hash,
    await sha256(
      new Uint8Array(new Float32Array(4).map((_, p) => ((9 * 4 + p) * 37 + 1) % 256 / 255).buffer),
    ),
  );
  const c = await buildManifest(source(2, 10));
  assertNotEquals(a.key, c.key);
  // Content and shape, not where the files are: a copy elsewhere keeps the key.
  const moved = new ArrayImageSource("u", new Uint8Array(40).map((_, i) => (i * 37 + 1) % 256), [
    2,
    2,
    1,
  ], "elsewhere");
  assertEquals((await buildManifest(moved)).key, a.key);
  const reshaped = new ArrayImageSource("t", new Uint8Array(40).map((_, i) => (i * 37 + 1) % 256), [
    1,
    4,
    1,
  ], "fp-10");
  assertNotEquals((await buildManifest(reshaped)).key, a.key);
  // The images as the caches see them: named by the manifest, read through.
  const keyed = keyedByManifest(source(1, 10), a);
  assertEquals(keyed.fingerprint, `manifest:${a.key}`);
  assertThrows(() => keyedByManifest(source(1, 9), a), /lists 10 images, "t" has 9/);
}, { backends: ["cpu"] });

backendTest(
  "loadOrBuildManifest: built once, found again, rebuilt when the files change",
  async () => {
    const { dir, cleanup } = await scratch("manifest");
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    try {
      const a = await loadOrBuildManifest(source(1, 10), dir, { log });
      assertEquals(a.key, (await buildManifest(source(1, 10))).key);
      assertMatch(lines[0], /^dataset manifest: hashed 10 images in .* → ".*manifest-[0-9a-f]{16}/);
      assertEquals((await loadOrBuildManifest(source(1, 10), dir, { log })).key, a.key);
      assertMatch(lines[1], /^dataset manifest: hit /);
      // Touched (a new fingerprint, the same pixels): hashed again, the same key.
      const bytes = (seed: number) => new Uint8Array(40).map((_, i) => (i * 37 + seed) % 256);
      const touched = new ArrayImageSource("t", bytes(1), [2, 2, 1], "touched");
      assertEquals((await loadOrBuildManifest(touched, dir, { log })).key, a.key);
      assertMatch(lines[2], /hashed 10 images/);
      // One image edited (a new fingerprint): another key.
      const edited = bytes(1);
      edited[21] ^= 1;
      const e = await loadOrBuildManifest(
        new ArrayImageSource("t", edited, [2, 2, 1], "edited"),
        dir,
        { log },
      );
      assertNotEquals(e.key, a.key);
      // The stamps are trusted: other pixels under a known fingerprint find its manifest.
      const same = new ArrayImageSource("t", bytes(2), [2, 2, 1], "fp-10");
      assertEquals((await loadOrBuildManifest(same, dir, { log })).key, a.key);
      // A corrupt file is built again.
      await Deno.writeTextFile(manifestPath(dir, same), "not a manifest");
      assertNotEquals((await loadOrBuildManifest(same, dir, { log })).key, a.key);
      assertMatch(lines.at(-1)!, /hashed 10 images/);
    } finally {
      await cleanup();
    }
  },
  { backends: ["cpu"] },
);

Deno.test("shardRange: aligned blocks cover every item exactly once", () => {
  for (const [total, count, align] of [[10, 3, 2], [7, 3, 4], [100, 7, 8], [1, 3, 1]]) {
    const seen: number[] = [];
    for (let i = 0; i < count; i++) {
      const [s, e] = shardRange({ index: i, count }, total, align);
      if (e > s && e < total) assertEquals(e % align, 0);
      for (let j = s; j < e; j++) seen.push(j);
    }
    assertEquals(seen, Array.from({ length: total }, (_, j) => j));
  }
});

Deno.test("resolveShard: flag, Slurm, Indexed Job, errors", () => {
  assertEquals(resolveShard("2/3", {}), { index: 2, count: 3 });
  assertEquals(
    resolveShard(undefined, { SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "4" }),
    { index: 1, count: 4 },
  );
  assertEquals(resolveShard(undefined, { JOB_COMPLETION_INDEX: "0" }, 2), { index: 0, count: 2 });
  assertThrows(() => resolveShard("3/3", {}), /error: shard 3\/3/);
  assertThrows(() => resolveShard("x", {}), /error: --shard "x"/);
  assertThrows(() => resolveShard(undefined, {}), /error: no shard/);
});

Deno.test("preparedKey: changes with each part; without views, the teacher-cache key", async () => {
  const base = { manifest: "m", teacher: "t", transform: "[]", views: "" };
  const k = await preparedKey(base);
  assertEquals(k, await preparedKey({ ...base }));
  for (const name of ["manifest", "teacher", "transform", "views"] as const) {
    assertNotEquals(k, await preparedKey({ ...base, [name]: "x" }));
  }
  assertEquals(k, await cacheKey({ teacher: "t", dataset: "manifest:m", transform: "[]" }));
});
