/**
 * NN-IoU: 1 for identical spaces and for per-image rescalings and rotations,
 * chance level (derived below) for independent spaces, prefix slicing equal
 * to mining each k separately, a naive Set-based reference, validation.
 */
import assert from "assert";
import { type FeatureMatrix, mineNeighbours, type Neighbours } from "../../lib/neighbours/mine.ts";
import { Rng } from "../../lib/util/rng.ts";
import {
  chanceNnIoU,
  formatNnIoU,
  neighbourIoU,
  NN_IOU_KS,
  nnIoU,
  nnOverlap,
} from "../../lib/eval/manifold.ts";
import { backendTest } from "../_helpers.ts";
import { randomMatrix } from "./_data.ts";

const quiet = { progress: false };

/** Naive IoU of the first k entries of each row, with Sets. */
function naiveIoU(a: Neighbours, b: Neighbours, k: number): number {
  let sum = 0;
  for (let i = 0; i < a.n; i++) {
    const A = new Set(a.indices.subarray(i * a.k, i * a.k + k));
    const B = new Set(b.indices.subarray(i * b.k, i * b.k + k));
    const inter = [...A].filter((x) => B.has(x)).length;
    sum += inter / new Set([...A, ...B]).size;
  }
  return sum / a.n;
}

/**
 * Chance level. For independent spaces whose points are i.i.d. given the
 * other space, image i's student neighbour set is a uniformly random
 * k-subset of the other N − 1 images (exchangeability), independent of its
 * teacher set, so the overlap I is hypergeometric: N − 1 items, k marked, k
 * drawn, E[I] = k²/(N − 1). IoU = I/(2k − I), hence
 * E[IoU] = Σ_i P(I = i) · i/(2k − i): exactly 1/(N − 1) at k = 1, about
 * k²/((2k − 1)(N − 1)) when k² ≪ N (I is mostly 0 or 1), tending to
 * k/(2(N − 1)). Returns the mean and standard deviation of one image's IoU.
 */
function chanceIoU(n: number, k: number): { mean: number; sd: number } {
  const m = n - 1;
  let p = 1; // P(I = 0) = C(m−k, k)/C(m, k)
  for (let j = 0; j < k; j++) p *= (m - k - j) / (m - j);
  let mean = 0, sq = 0;
  for (let i = 0; i <= k; i++) {
    const iou = i / (2 * k - i);
    mean += p * iou;
    sq += p * iou * iou;
    p *= ((k - i) * (k - i)) / ((i + 1) * (m - 2 * k + i + 1));
  }
  return { mean, sd: Math.sqrt(sq - mean * mean) };
}

/** Rows multiplied by powers of two (exact in float32, so normalised rows are bit-identical). */
function rescaleRows(m: FeatureMatrix, seed: number): FeatureMatrix {
  const rng = new Rng(seed);
  const out = new Float32Array(m.features);
  for (let i = 0; i < m.n; i++) {
    const s = 2 ** (rng.int(9) - 3);
    for (let d = 0; d < m.dim; d++) out[i * m.dim + d] *= s;
  }
  return { features: out, n: m.n, dim: m.dim };
}

/** A random orthogonal map (Gram–Schmidt in double), times 3. */
function rotate(m: FeatureMatrix, seed: number): FeatureMatrix {
  const rng = new Rng(seed);
  const d = m.dim;
  const q: number[][] = [];
  for (let r = 0; r < d; r++) {
    const v = Array.from({ length: d }, () => rng.normal());
    for (const u of q) {
      const dot = u.reduce((s, x, j) => s + x * v[j], 0);
      for (let j = 0; j < d; j++) v[j] -= dot * u[j];
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  const out = new Float32Array(m.n * d);
  for (let i = 0; i < m.n; i++) {
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += q[r][j] * m.features[i * d + j];
      out[i * d + r] = 3 * s;
    }
  }
  return { features: out, n: m.n, dim: d };
}

backendTest("nnIoU: 1 for identical, rescaled and rotated spaces", async () => {
  const a = randomMatrix(300, 16, 1);
  const same = await nnIoU(a, { ...a, features: new Float32Array(a.features) }, NN_IOU_KS, quiet);
  assert.deepEqual(Object.keys(same).map(Number), [1, 5, 10, 11, 21, 31]);
  for (const k of NN_IOU_KS) assert.equal(same[k], 1, `identical, k=${k}`);
  const scaled = await nnIoU(a, rescaleRows(a, 2), [1, 5, 31], quiet);
  for (const k of [1, 5, 31]) assert.equal(scaled[k], 1, `rescaled rows, k=${k}`);
  // A rotation changes float32 rounding, so a few near-tied neighbours may swap.
  const rotated = await nnIoU(a, rotate(a, 3), [1, 5, 31], quiet);
  for (const k of [1, 5, 31]) assert.ok(rotated[k] >= 0.99, `rotated, k=${k}: ${rotated[k]}`);
});

backendTest("nnIoU: independent random spaces sit at the hypergeometric chance level", async () => {
  const n = 400;
  const iou = await nnIoU(randomMatrix(n, 32, 4), randomMatrix(n, 24, 5), undefined, quiet);
  for (const k of NN_IOU_KS) {
    const { mean, sd } = chanceIoU(n, k);
    // Images are not independent (neighbourhoods overlap); 6 standard errors leave room.
    const tol = 6 * sd / Math.sqrt(n);
    assert.ok(
      Math.abs(iou[k] - mean) <= tol,
      `k=${k}: NN-IoU ${iou[k].toFixed(5)}, chance ${mean.toFixed(5)} ± ${tol.toFixed(5)}`,
    );
  }
  // The library's chance level (a log-space sum) agrees with this recurrence.
  for (const [kk, nn] of [[1, 400], [5, 400], [31, 400], [10, 10000], [31, 60000]]) {
    const ref = chanceIoU(nn, kk).mean;
    assert.ok(Math.abs(chanceNnIoU(kk, nn) / ref - 1) < 1e-9, `chanceNnIoU(${kk}, ${nn})`);
  }
  // The closed form at k = 1 and the small-k approximation.
  assert.ok(Math.abs(chanceIoU(n, 1).mean - 1 / (n - 1)) < 1e-15);
  assert.ok(Math.abs(chanceIoU(n, 5).mean / (25 / (9 * (n - 1))) - 1) < 0.01);
  assert.ok(Math.abs(chanceIoU(60000, 31).mean / (31 / (2 * 59999)) - 1) < 0.02);
});

backendTest(
  "nnIoU: one mining at the largest k equals mining each k, and a Set reference",
  async () => {
    const a = randomMatrix(200, 8, 6);
    // b: a noisy copy, so the overlap is neither 0 nor 1.
    const noise = randomMatrix(200, 8, 7);
    const b = { ...a, features: a.features.map((v, i) => v + 0.5 * noise.features[i]) };
    const ks = [31, 1, 10, 5]; // any order, reported ascending
    const got = await nnIoU(a, b, ks, { progress: false, chunkSize: 37 });
    assert.deepEqual(Object.keys(got).map(Number), [1, 5, 10, 31]);
    for (const k of ks) {
      const na = await mineNeighbours(a, { k, progress: false });
      const nb = await mineNeighbours(b, { k, progress: false });
      assert.ok(Math.abs(got[k] - naiveIoU(na, nb, k)) < 1e-12, `k=${k}`);
      assert.ok(got[k] > 0.05 && got[k] < 0.95, `k=${k}: ${got[k]} is not informative`);
    }
  },
);

Deno.test("neighbourIoU: equals the Set reference on lists with arbitrary overlaps", () => {
  const rng = new Rng(9);
  const n = 50, k = 12;
  const a: Neighbours = {
    indices: new Int32Array(n * k),
    similarities: new Float32Array(n * k),
    n,
    k,
  };
  const b: Neighbours = { ...a, indices: new Int32Array(n * k) };
  for (let i = 0; i < n; i++) {
    const others = rng.permutation(n).filter((j) => j !== i);
    const rowA = others.slice(0, k);
    // b keeps a random number of a's neighbours, fills up with others, in shuffled order.
    const kept = rng.shuffle([...rowA]).slice(0, rng.int(k + 1));
    const rowB = rng.shuffle([...kept, ...others.slice(k, 2 * k - kept.length)]);
    a.indices.set(rowA, i * k);
    b.indices.set(rowB, i * k);
  }
  const got = neighbourIoU(a, b, [1, 2, 6, 12]);
  for (const kk of [1, 2, 6, 12]) {
    assert.ok(Math.abs(got[kk] - naiveIoU(a, b, kk)) < 1e-12, `k=${kk}`);
  }
  assert.ok(got[12] > 0.1 && got[12] < 0.9, `overlap ${got[12]} is not informative`);
  assert.deepEqual(neighbourIoU(a, a, [3, 12]), { 3: 1, 12: 1 });
});

backendTest("nnIoU: bad arguments are rejected with the value quoted", async () => {
  const a = randomMatrix(10, 3, 1);
  await assert.rejects(
    nnIoU(a, randomMatrix(9, 3, 2), [1], quiet),
    /10 images in the first space, 9/,
  );
  await assert.rejects(nnIoU(a, a, [10], quiet), /k must be an integer in \[1, n-1 = 9\], got 10/);
  await assert.rejects(nnIoU(a, a, [], quiet), TypeError);
  await assert.rejects(nnIoU(a, a, [1.5], quiet), RangeError);
  const nb = await mineNeighbours(a, { k: 3, progress: false });
  assert.throws(
    () => neighbourIoU(nb, nb, [5]),
    /k = 5 needs that many neighbours, the lists hold 3 and 3/,
  );
}, { backends: ["cpu"] });

Deno.test("formatNnIoU: every k with its value and the number of images", () => {
  assert.equal(
    formatNnIoU({ 31: 0.25, 1: 0.5, 5: 1 / 3 }, 2000),
    "NN-IoU@1 0.500 @5 0.333 @31 0.250 (2000 images)",
  );
});

/** The paper's NN-IoU by brute force in float64: test → train cosine neighbours, |∩|/k. */
function naiveOverlap(
  t: { train: FeatureMatrix; test: FeatureMatrix },
  s: { train: FeatureMatrix; test: FeatureMatrix },
  k: number,
): number {
  const top = (bank: FeatureMatrix, q: FeatureMatrix, i: number) => {
    const row = (m: FeatureMatrix, r: number) =>
      Array.from(m.features.subarray(r * m.dim, (r + 1) * m.dim));
    const norm = (v: number[]) => Math.hypot(...v);
    const qi = row(q, i), nq = norm(qi);
    const sims = Array.from({ length: bank.n }, (_, j) => {
      const b = row(bank, j);
      return [b.reduce((acc, x, d) => acc + x * qi[d], 0) / (norm(b) * nq), j];
    });
    sims.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return new Set(sims.slice(0, k).map((x) => x[1]));
  };
  let sum = 0;
  for (let i = 0; i < t.test.n; i++) {
    const a = top(t.train, t.test, i), b = top(s.train, s.test, i);
    sum += [...a].filter((x) => b.has(x)).length / k;
  }
  return sum / t.test.n;
}

backendTest(
  "nnOverlap (the paper's NN-IoU): brute force, invariances, and chance k/N",
  async () => {
    const teacher = { train: randomMatrix(300, 12, 1), test: randomMatrix(40, 12, 2) };
    const related = {
      train: rotate(rescaleRows(teacher.train, 3), 4),
      test: rotate(rescaleRows(teacher.test, 5), 4),
    };
    const same = await nnOverlap(teacher, related, [1, 5, 31], quiet);
    for (const k of [1, 5, 31]) assert.ok(Math.abs(same[k] - 1) < 1e-9, `k=${k}: ${same[k]}`);
    const other = { train: randomMatrix(300, 12, 6), test: randomMatrix(40, 12, 7) };
    const got = await nnOverlap(teacher, other, [1, 5, 11, 31], quiet);
    for (const k of [1, 5, 11, 31]) {
      const want = naiveOverlap(teacher, other, k);
      assert.ok(Math.abs(got[k] - want) < 1e-12, `k=${k}: ${got[k]} vs brute force ${want}`);
    }
    // Independent spaces: the student's k-set is a uniform k-subset of the bank, so the mean
    // overlap is k/N with sd sqrt(k(N−k)²/(N²(N−1)))/k per query (hypergeometric), over 40 queries.
    for (const k of [11, 31]) {
      const n = 300, sd = Math.sqrt(k * (n - k) * (n - k) / (n * n * (n - 1))) / k / Math.sqrt(40);
      assert.ok(Math.abs(got[k] - k / n) < 4 * sd, `k=${k}: ${got[k]} vs chance ${k / n} ± ${sd}`);
    }
    await assert.rejects(
      () => nnOverlap(teacher, { train: other.train, test: randomMatrix(39, 12, 8) }, [1], quiet),
      /the teacher has 300 training \/ 40 test images, the student 300 \/ 39/,
    );
    await assert.rejects(() => nnOverlap(teacher, other, [301], quiet), /k must be an integer/);
  },
);
