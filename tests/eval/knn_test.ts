/**
 * Weighted kNN against a brute-force double-precision JS reference on every
 * backend, with chunk sizes that do not divide N: neighbours, votes,
 * predictions and accuracies; exact ties; the exp(cos/T) weighting on a
 * hand-computed case where a plain majority vote disagrees; separable data;
 * top-5 only with more than 5 classes; validation; no leaked tensors.
 */
import assert from "assert";
import type { BackendName } from "../../lib/backend.ts";
import type { FeatureMatrix } from "../../lib/neighbours/types.ts";
import {
  formatKnn,
  knnClassify,
  type KnnResult,
  knnSearch,
  weightedVotes,
} from "../../lib/eval/knn.ts";
import { assertClose, backendTest } from "../_helpers.ts";
import { cosine, labelled, randomMatrix } from "./_data.ts";

interface Reference {
  /** Per test row: neighbours sorted by (cos desc, index asc), all of them. */
  order: number[][];
  cos: number[][];
}

function reference(train: FeatureMatrix, test: FeatureMatrix): Reference {
  const order: number[][] = [], cos: number[][] = [];
  for (let i = 0; i < test.n; i++) {
    const row: [number, number][] = [];
    for (let j = 0; j < train.n; j++) row.push([cosine(test, i, train, j), j]);
    row.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    order.push(row.map((r) => r[1]));
    cos.push(row.map((r) => r[0]));
  }
  return { order, cos };
}

/** Class scores Σ exp(cos/T) over the first k neighbours, in double precision. */
function referenceScores(
  ref: Reference,
  i: number,
  labels: Int32Array,
  k: number,
  t: number,
  c: number,
) {
  const s = new Array(c).fill(0);
  for (let j = 0; j < k; j++) s[labels[ref.order[i][j]]] += Math.exp(ref.cos[i][j] / t);
  return s;
}

/** Rank of class y (0 = best): higher score first, then lower index; unvoted classes never rank. */
function referenceRank(s: number[], y: number): number {
  if (!(s[y] > 0)) return Infinity;
  return s.filter((v, c) => v > s[y] || (v === s[y] && c < y)).length;
}

/**
 * Check knnClassify against the reference: rows whose k-th and (k+1)-th
 * cosines, or whose two best class scores, are within float32 noise are
 * "near-ties" where either answer is right; every other row must predict
 * exactly the reference's class, and the accuracies must match exactly
 * once near-tie rows are scored as the implementation scored them.
 */
function assertMatchesReference(
  got: KnnResult,
  ref: Reference,
  trainLabels: Int32Array,
  testLabels: Int32Array,
  k: number,
  t: number,
  c: number,
) {
  let nearTies = 0, hit1 = 0, hit5 = 0;
  for (let i = 0; i < testLabels.length; i++) {
    const s = referenceScores(ref, i, trainLabels, k, t, c);
    const sorted = [...s].sort((a, b) => b - a);
    const boundary = k < ref.cos[i].length ? ref.cos[i][k - 1] - ref.cos[i][k] : Infinity;
    const near = boundary < 1e-5 || (sorted[1] > 0 && (sorted[0] - sorted[1]) / sorted[0] < 1e-4);
    const pred = s.indexOf(sorted[0]);
    if (near) {
      nearTies++;
      // Score this row as the implementation did: its predicted class counts when it is the label.
      if (got.predictions[i] === testLabels[i]) hit1++;
      if (referenceRank(s, testLabels[i]) < 5) hit5++;
      continue;
    }
    assert.equal(
      got.predictions[i],
      pred,
      `test row ${i}: predicted ${got.predictions[i]}, reference ${pred}`,
    );
    const rank = referenceRank(s, testLabels[i]);
    if (rank < 1) hit1++;
    if (rank < 5) hit5++;
  }
  assert.ok(nearTies <= 3, `${nearTies} near-tie rows: pick data with fewer`);
  assert.equal(got.top1, hit1 / testLabels.length, "top-1");
  if (c > 5) assert.equal(got.top5, hit5 / testLabels.length, "top-5");
  else assert.equal(got.top5, null);
}

const tinyChunks = (b: BackendName) => b === "webgpu" ? [16, 50] : [1, 16, 50, 4096];

backendTest(
  "knnSearch: neighbours and cosines equal brute force, any chunk size",
  async (backend) => {
    const train = randomMatrix(157, 7, 1), test = randomMatrix(83, 7, 2);
    const ref = reference(train, test);
    for (const chunkSize of tinyChunks(backend)) {
      for (const selection of ["host", "backend"] as const) {
        const k = 20;
        const nn = await knnSearch(train, test, { k, chunkSize, selection, progress: false });
        assert.equal(nn.n, test.n);
        assert.equal(nn.k, k);
        for (let i = 0; i < test.n; i++) {
          for (let p = 0; p < k; p++) {
            const j = nn.indices[i * k + p];
            const label = `${selection} chunk ${chunkSize} row ${i}[${p}]`;
            // Similarity at each position is the p-th best, and its index has that cosine.
            assertClose(nn.similarities[i * k + p], ref.cos[i][p], { rtol: 0, atol: 2e-6, label });
            assertClose(cosine(test, i, train, j), ref.cos[i][p], { rtol: 0, atol: 2e-6, label });
          }
        }
      }
    }
  },
);

backendTest(
  "knnClassify: predictions and accuracies equal the brute-force vote (k 1, 10, 20, 200)",
  async (backend) => {
    const classes = 7;
    const train = randomMatrix(251, 9, 3), test = randomMatrix(61, 9, 4);
    const trainLabels = labelled(train.n, classes, 5), testLabels = labelled(test.n, classes, 6);
    const ref = reference(train, test);
    for (const k of [1, 10, 20, 200]) {
      for (const t of [0.07, 0.5]) {
        for (const chunkSize of backend === "webgpu" ? [64] : [13, 1024]) {
          const got = await knnClassify(train, trainLabels, test, testLabels, {
            k,
            t,
            chunkSize,
            progress: false,
          });
          assert.deepEqual([got.k, got.t, got.n, got.nTrain, got.numClasses], [k, t, 61, 251, 7]);
          assertMatchesReference(got, ref, trainLabels, testLabels, k, t, classes);
        }
      }
    }
  },
);

backendTest("knnClassify: exact ties keep the lower training index (host selection)", async () => {
  // Rows 2 and 5 are the same vector; row 7 is it scaled (same cosine).
  const f = [1, 0, 0, 1, 0.6, 0.8, -1, 0, 0, -1, 0.6, 0.8, 1, 1, 1.2, 1.6];
  const train = { features: new Float32Array(f), n: 8, dim: 2 };
  const test = { features: new Float32Array([0.6, 0.8]), n: 1, dim: 2 };
  for (const chunkSize of [1, 3, 8]) {
    const nn = await knnSearch(train, test, {
      k: 3,
      chunkSize,
      selection: "host",
      progress: false,
    });
    assert.deepEqual(Array.from(nn.indices), [2, 5, 7], `chunk ${chunkSize}`);
  }
  // Equal class scores: the lower class wins.
  const labels = new Int32Array([0, 0, 4, 0, 0, 3, 0, 0]);
  const r = await knnClassify(train, labels, test, new Int32Array([3]), {
    k: 2,
    selection: "host",
    progress: false,
  });
  assert.equal(r.predictions[0], 3); // one vote each for classes 4 and 3, equal weight
  assert.equal(r.top1, 1);
});

backendTest(
  "knnClassify: exp(cos/T) weighting beats a plain majority (hand-computed)",
  async () => {
    // Test x = (1, 0). Neighbours: one of class 0 at cos 1, two of class 1 at cos 0.8.
    const train = {
      features: new Float32Array([1, 0, 0.8, 0.6, 0.8, -0.6, -1, 0]),
      n: 4,
      dim: 2,
    };
    const test = { features: new Float32Array([1, 0]), n: 1, dim: 2 };
    const trainLabels = new Int32Array([0, 1, 1, 0]);
    const label = new Int32Array([0]);
    // T = 0.07: e^{1/T} = e^{14.286} vs 2·e^{0.8/T} = 2·e^{11.429}; relative scores 1 vs
    // 2·e^{-0.2/0.07} = 2 · 0.0574326 = 0.1148652. Class 0 wins although class 1 has two votes.
    const scores = weightedVotes([1, 0.8, 0.8], [0, 1, 1], { t: 0.07, numClasses: 2 });
    assertClose(Array.from(scores), [1, 0.1148652], { rtol: 1e-6, label: "scores at T=0.07" });
    const r007 = await knnClassify(train, trainLabels, test, label, { k: 3, progress: false });
    assert.equal(r007.predictions[0], 0);
    assert.equal(r007.top1, 1);
    // T = 1: e^1 = 2.718 vs 2·e^0.8 = 4.451: the majority class wins.
    const s1 = weightedVotes([1, 0.8, 0.8], [0, 1, 1], { t: 1, numClasses: 2 });
    assertClose(Array.from(s1), [1, 2 * Math.exp(-0.2)], { rtol: 1e-6, label: "scores at T=1" });
    const r1 = await knnClassify(train, trainLabels, test, label, { k: 3, t: 1, progress: false });
    assert.equal(r1.predictions[0], 1);
    assert.equal(r1.top1, 0);
  },
);

backendTest("knnClassify: well separated classes give 100% top-1 and top-5", async () => {
  const classes = 10, dim = 16;
  const make = (n: number, seed: number) => {
    const labels = labelled(n, classes, seed);
    const noise = randomMatrix(n, dim, seed + 100);
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < dim; d++) noise.features[i * dim + d] *= 0.05;
      noise.features[i * dim + labels[i]] += 1;
    }
    return { m: noise, labels };
  };
  const tr = make(300, 1), te = make(100, 2);
  for (const k of [10, 20, 200]) {
    const r = await knnClassify(tr.m, tr.labels, te.m, te.labels, { k, progress: false });
    assert.equal(r.top1, 1, `k=${k}`);
    assert.equal(r.top5, 1, `k=${k}`);
    assert.deepEqual(Array.from(r.predictions), Array.from(te.labels));
  }
});

backendTest("knnClassify: top-5 only with more than 5 classes; defaults k=10, T=0.07", async () => {
  const train = randomMatrix(40, 4, 8), test = randomMatrix(10, 4, 9);
  const five = await knnClassify(train, labelled(40, 5, 1), test, labelled(10, 5, 2), {
    progress: false,
  });
  assert.equal(five.top5, null);
  assert.equal(five.numClasses, 5);
  assert.equal(five.k, 10);
  assert.equal(five.t, 0.07);
  const six = await knnClassify(train, labelled(40, 5, 1), test, labelled(10, 5, 2), {
    numClasses: 6,
    progress: false,
  });
  assert.equal(typeof six.top5, "number");
  assert.ok(six.top5! >= six.top1);
}, { backends: ["cpu", "wasm"] });

Deno.test("formatKnn: every number carries k, T and the sizes", () => {
  const r: KnnResult = {
    top1: 0.5,
    top5: null,
    k: 20,
    t: 0.1,
    n: 30,
    nTrain: 400,
    numClasses: 3,
    predictions: new Int32Array(30),
  };
  assert.equal(formatKnn(r), "kNN-20 top-1 50.00% (k=20, T=0.1, 30 test / 400 train, 3 classes)");
  assert.equal(
    formatKnn({ ...r, top5: 0.875, numClasses: 10 }),
    "kNN-20 top-1 50.00% top-5 87.50% (k=20, T=0.1, 30 test / 400 train, 10 classes)",
  );
});

backendTest("knnClassify/knnSearch: bad arguments are rejected with the value quoted", async () => {
  const train = randomMatrix(10, 3, 1), test = randomMatrix(4, 3, 2);
  const yTrain = labelled(10, 3, 1), yTest = labelled(4, 3, 2);
  const reject = (p: Promise<unknown>, type: ErrorConstructor, re: RegExp) =>
    assert.rejects(p, (e: Error) => e instanceof type && re.test(e.message));
  await reject(
    knnClassify(train, yTrain, test, yTest, { k: 11 }),
    RangeError,
    /k must be .*\[1, 10\], got 11/,
  );
  await reject(
    knnClassify(train, yTrain, test, yTest, { t: 0 }),
    RangeError,
    /t must be a positive number, got 0/,
  );
  await reject(
    knnClassify(train, yTrain, randomMatrix(4, 2, 3), yTest),
    RangeError,
    /train has dim 3 but test has dim 2/,
  );
  await reject(
    knnClassify(train, yTrain, test, yTest, { numClasses: 2 }),
    RangeError,
    /labels\[\d+\] is 2/,
  );
  await reject(
    knnClassify(train, yTrain.subarray(1), test, yTest),
    RangeError,
    /9 train labels for 10/,
  );
  await reject(
    knnClassify(train, Array.from(yTrain) as unknown as Int32Array, test, yTest),
    TypeError,
    /train labels must be an Int32Array/,
  );
  await reject(knnSearch(train, test, { chunkSize: 0 }), RangeError, /chunkSize .* got 0/);
  await reject(
    knnSearch({ ...train, features: new Float32Array(29) }, test),
    RangeError,
    /29 values, expected n·dim = 10·3/,
  );
  const bad = randomMatrix(10, 3, 1);
  bad.features[4] = NaN;
  await reject(knnSearch(bad, test, { progress: false }), RangeError, /train row 1 is not finite/);
  assert.throws(() => weightedVotes([0.5], [3], { numClasses: 3 }), /labels\[0\] is 3/);
}, { backends: ["cpu"] });
