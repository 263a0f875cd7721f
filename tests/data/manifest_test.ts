import {
  deepStrictEqual as assertEquals,
  notStrictEqual as assertNotEquals,
  throws as assertThrows,
} from "assert";
import { buildManifest, preparedKey, resolveShard, shardRange } from "../../lib/data/manifest.ts";
import { ArrayImageSource } from "../../lib/data/_array_source.ts";
import { backendTest } from "../_helpers.ts";

function source(seed: number, n: number): ArrayImageSource {
  const pixels = new Uint8Array(n * 4).map((_, i) => (i * 37 + seed) % 256);
  return new ArrayImageSource("t", pixels, [2, 2, 1], `fp-${n}`);
}

backendTest("manifest: deterministic, independent of read batch, content-sensitive", async () => {
  const a = await buildManifest(source(1, 10), { batchSize: 3 });
  const b = await buildManifest(source(1, 10), { batchSize: 10 });
  assertEquals(a, b);
  assertEquals(a.entries.map((e) => e.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const c = await buildManifest(source(2, 10));
  assertNotEquals(a.key, c.key);
}, { backends: ["cpu"] });

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

Deno.test("preparedKey: changes with each part", async () => {
  const base = { manifest: "m", teacher: "t", transform: "[]", views: "" };
  const k = await preparedKey(base);
  assertEquals(k, await preparedKey({ ...base }));
  for (const name of ["manifest", "teacher", "transform", "views"] as const) {
    assertNotEquals(k, await preparedKey({ ...base, [name]: "x" }));
  }
});
