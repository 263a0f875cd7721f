/**
 * Neighbour mining against a brute-force double-precision reference (JS
 * double loops) on every backend, with block sizes that do not divide N:
 * self-exclusion, duplicate and scaled-duplicate vectors, zero rows, progress
 * reports, validation, no leaked tensors, and the int32 safetensors round trip.
 */
import { cosine } from "../eval/_data.ts";
import assert from "assert";
import { initBackend } from "../../lib/backend.ts";
import { backendTest } from "../_helpers.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import {
  type FeatureMatrix,
  loadNeighbours,
  loadOrMineNeighbours,
  mineNeighbours,
  type Neighbours,
  saveNeighbours,
} from "../../lib/neighbours/mod.ts";

const TMP_ROOT = new URL("../.tmp/", import.meta.url);
const quiet = { sanitizeOps: false, sanitizeResources: false };

function randomMatrix(n: number, dim: number, seed: number): FeatureMatrix {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5;
  return { features: new Float32Array(n * dim).map(next), n, dim };
}

/** Brute force: every pair, sorted by similarity (desc), then index (asc). */
function bruteForce(m: FeatureMatrix, k: number): { indices: number[][]; sims: number[][] } {
  const indices: number[][] = [], sims: number[][] = [];
  for (let i = 0; i < m.n; i++) {
    const row: [number, number][] = [];
    for (let j = 0; j < m.n; j++) if (j !== i) row.push([cosine(m, i, m, j), j]);
    row.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    indices.push(row.slice(0, k).map((r) => r[1]));
    sims.push(row.slice(0, k).map((r) => r[0]));
  }
  return { indices, sims };
}

/**
 * The result is a valid top-k: distinct, never self, its similarities are
 * the true ones, and position by position they equal the brute-force top-k
 * similarities; indices equal the reference except inside near-ties.
 * Returns the number of positions where indices differ (near-ties).
 */
function assertMatchesBruteForce(m: FeatureMatrix, got: Neighbours, k: number, tol = 2e-6) {
  assert.equal(got.k, k);
  assert.equal(got.n, m.n);
  assert.ok(got.indices instanceof Int32Array);
  assert.equal(got.indices.length, m.n * k);
  const ref = bruteForce(m, k);
  let swaps = 0;
  for (let i = 0; i < m.n; i++) {
    const row = Array.from(got.indices.subarray(i * k, i * k + k));
    assert.ok(!row.includes(i), `row ${i} lists itself: ${row}`);
    assert.equal(new Set(row).size, k, `row ${i} repeats an index: ${row}`);
    for (let t = 0; t < k; t++) {
      const truth = cosine(m, i, m, row[t]);
      const reported = got.similarities[i * k + t];
      assert.ok(
        Math.abs(truth - reported) <= tol,
        `row ${i}[${t}]: similarity ${reported} != ${truth}`,
      );
      assert.ok(
        Math.abs(truth - ref.sims[i][t]) <= tol,
        `row ${i}[${t}]: index ${row[t]} (sim ${truth}) is not the ${t}-th best ` +
          `(${ref.indices[i][t]}, sim ${ref.sims[i][t]})`,
      );
      if (row[t] !== ref.indices[i][t]) swaps++;
    }
  }
  return swaps;
}

const SELECTIONS = ["host", "backend"] as const;

backendTest("mineNeighbours matches brute force (300×16, k=5, blocks 37/64/300/1000)", async () => {
  const m = randomMatrix(300, 16, 1);
  for (const selection of SELECTIONS) {
    for (const chunkSize of [37, 64, 300, 1000]) {
      const got = await mineNeighbours(m, { k: 5, chunkSize, selection, progress: false });
      assert.equal(assertMatchesBruteForce(m, got, 5), 0, `${selection}, chunkSize ${chunkSize}`);
    }
  }
}, { backends: ["cpu", "wasm"] });

backendTest("mineNeighbours matches brute force (small, webgpu sizes)", async () => {
  const m = randomMatrix(90, 8, 2);
  for (const selection of SELECTIONS) {
    const got = await mineNeighbours(m, { k: 4, chunkSize: 37, selection, progress: false });
    assert.equal(assertMatchesBruteForce(m, got, 4, 1e-5), 0, selection);
  }
  const auto = await mineNeighbours(m, { k: 4, chunkSize: 37, progress: false });
  assert.equal(assertMatchesBruteForce(m, auto, 4, 1e-5), 0, "auto");
});

backendTest(
  "mineNeighbours: duplicates, scaled copies and zero rows; self is excluded",
  async () => {
    const m = randomMatrix(120, 8, 3);
    const row = (i: number) => m.features.subarray(i * 8, i * 8 + 8);
    row(70).set(row(10)); // an exact duplicate of 10
    row(100).set(row(10).map((v) => 3 * v)); // same direction, 3× the length
    for (const i of [20, 21, 22, 23, 24, 25]) row(i).set(row(5)); // 7 copies of one vector
    row(40).fill(0);
    const cases = SELECTIONS.flatMap((selection) =>
      [16, 50, 200].map((c) => [selection, c] as const)
    );
    for (const [selection, chunkSize] of cases) {
      const got = await mineNeighbours(m, { k: 3, chunkSize, selection, progress: false });
      assertMatchesBruteForce(m, got, 3, 1e-5);
      const nn = (i: number) => Array.from(got.indices.subarray(i * 3, i * 3 + 3));
      assert.deepEqual(
        nn(10).slice(0, 2).sort((a, b) => a - b),
        [70, 100],
        `${selection} ${chunkSize}`,
      );
      assert.deepEqual(nn(70).slice(0, 2).sort((a, b) => a - b), [10, 100]);
      // More exact copies (6 others) than k+1: self must still never appear.
      for (const i of [5, 20, 21, 22, 23, 24, 25]) {
        assert.ok(!nn(i).includes(i));
        for (const j of nn(i)) assert.ok([5, 20, 21, 22, 23, 24, 25].includes(j), `${i}: ${nn(i)}`);
      }
      assert.ok(got.similarities.subarray(40 * 3, 40 * 3 + 3).every((s) => s === 0));
    }
  },
);

backendTest("mineNeighbours: progress reports end at n; k = n - 1 keeps everyone", async () => {
  const m = randomMatrix(23, 4, 4);
  const seen: number[] = [];
  const got = await mineNeighbours(m, {
    k: 22,
    chunkSize: 10,
    progress: false,
    onProgress: (done, total) => {
      assert.equal(total, 23);
      seen.push(done);
    },
  });
  assert.deepEqual(seen, [10, 20, 23]);
  for (let i = 0; i < 23; i++) {
    const row = Array.from(got.indices.subarray(i * 22, i * 22 + 22)).sort((a, b) => a - b);
    assert.deepEqual(row, [...Array(23).keys()].filter((j) => j !== i));
  }
}, { backends: ["cpu", "wasm"] });

Deno.test({
  name: "mineNeighbours: bad arguments are one-line errors",
  ...quiet,
  fn: async () => {
    const m = randomMatrix(10, 4, 5);
    const reject = (opts: object, matrix: FeatureMatrix, re: RegExp, type = RangeError) =>
      assert.rejects(
        () => mineNeighbours(matrix, { progress: false, ...opts }),
        (e: Error) => e instanceof type && re.test(e.message) && !e.message.includes("\n"),
      );
    await reject({ k: 10 }, m, /k must be an integer in \[1, n-1 = 9\], got 10/);
    await reject({ k: 0 }, m, /k must be/);
    await reject({ k: 2, chunkSize: 0 }, m, /chunkSize/);
    await reject(
      { k: 2, selection: "gpu" },
      m,
      /selection must be "auto", "host" or "backend", got "gpu"/,
    );
    await reject({ k: 2 }, { ...m, dim: 3 }, /40 values, expected n·dim = 10·3/);
    const nan = randomMatrix(10, 4, 5);
    nan.features[13] = NaN;
    await reject({ k: 2 }, nan, /row 3 has non-finite values/);
    await reject(
      { k: 2 },
      { ...m, features: Array.from(m.features) as unknown as Float32Array },
      /Float32Array/,
      TypeError,
    );
  },
});

Deno.test({
  name: "saveNeighbours / loadNeighbours: int32 safetensors round trip with the key",
  ...quiet,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
    await Deno.mkdir(TMP_ROOT, { recursive: true });
    const dir = await Deno.makeTempDir({ dir: TMP_ROOT.pathname, prefix: "knn-" });
    try {
      const m = randomMatrix(50, 6, 6);
      const nn = await mineNeighbours(m, { k: 7, progress: false });
      const path = `${dir}/neighbours.safetensors`;
      await saveNeighbours(path, nn, { key: "abc123", metadata: { note: "test" } });
      const raw = await readSafetensors(path);
      assert.equal(raw.tensors.get("indices")?.dtype, "I32");
      assert.deepEqual(raw.tensors.get("indices")?.shape, [50, 7]);
      const back = await loadNeighbours(path);
      assert.deepEqual(back.indices, nn.indices);
      assert.deepEqual(back.similarities, nn.similarities);
      assert.equal(back.n, 50);
      assert.equal(back.k, 7);
      assert.equal(back.metadata["coss.key"], "abc123");
      assert.equal(back.metadata["coss.cache"], "neighbours");
      assert.equal(back.metadata.note, "test");
      assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), [
        "neighbours.safetensors",
      ]);

      const bytes = await Deno.readFile(path);
      await Deno.writeFile(path, bytes.subarray(0, bytes.length - 10));
      await assert.rejects(() => loadNeighbours(path), SyntaxError);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "loadOrMineNeighbours: miss mines and saves, hit reads, stale or corrupt re-mines",
  ...quiet,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
    await Deno.mkdir(TMP_ROOT, { recursive: true });
    const dir = await Deno.makeTempDir({ dir: TMP_ROOT.pathname, prefix: "knn-cache-" });
    try {
      const key = "ab".repeat(32);
      const features = { ...randomMatrix(40, 6, 7), key };
      const lines: string[] = [];
      const opts = { dir, features, k: 4, log: (l: string) => lines.push(l), progress: false };
      const first = await loadOrMineNeighbours(opts);
      assert.equal(first.hit, false);
      assert.equal(first.path, `${dir}/neighbours-${key.slice(0, 16)}-k4.safetensors`);
      assert.equal(lines[0], "neighbour cache: miss (no file) — mining 40×4");
      assert.equal(assertMatchesBruteForce(features, first, 4), 0);

      const second = await loadOrMineNeighbours(opts);
      assert.equal(second.hit, true);
      assert.deepEqual(second.indices, first.indices);
      assert.match(lines[1], /^neighbour cache: hit ".*" \(40×4\)$/);

      assert.equal((await loadOrMineNeighbours({ ...opts, k: 5 })).hit, false, "other k");

      await saveNeighbours(first.path, first, { key: "cd".repeat(32) }); // right name, wrong key
      assert.equal((await loadOrMineNeighbours(opts)).hit, false);
      assert.match(lines.at(-1)!, /stale key/);

      const bytes = await Deno.readFile(first.path);
      await Deno.writeFile(first.path, bytes.subarray(0, 50));
      assert.equal((await loadOrMineNeighbours(opts)).hit, false);
      assert.match(lines.at(-1)!, /corrupt file/);
      assert.equal((await loadOrMineNeighbours(opts)).hit, true);
      assert.ok((await Array.fromAsync(Deno.readDir(dir))).every((e) => !e.name.includes(".tmp-")));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
