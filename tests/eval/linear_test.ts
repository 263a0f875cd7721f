/**
 * Linear probe: full-batch SGD with momentum, weight decay, milestones and
 * standardisation against a double-precision JS reference; 100% on linearly
 * separable data, chance on random labels; determinism from the seed;
 * the protocol line; validation; no leaked tensors.
 */
import assert from "assert";
import { Rng } from "../../lib/util/rng.ts";
import {
  formatLinear,
  type LabelledFeatures,
  linearProbe,
  type LinearProbeOptions,
} from "../../lib/eval/linear.ts";
import { assertClose, backendTest } from "../_helpers.ts";
import { labelled, randomMatrix } from "./_data.ts";

const quiet = { progress: false };

/**
 * Full-batch training in double precision, the update written out:
 * G = (softmax(XW + b) − Y)/n, g_W = XᵀG + λW, v ← μv + g, W ← W − η_e v,
 * η_e = η·γ^(milestones ≤ e); W₀ = fround(0.01·N(0,1)) from Rng(seed), b₀ = 0.
 */
function referenceProbe(
  train: LabelledFeatures,
  c: number,
  o: Required<Omit<LinearProbeOptions, "progress" | "numClasses" | "batchSize">>,
): { weights: number[]; bias: number[]; lastLoss: number } {
  const { n, dim } = train;
  let x = Array.from(train.features);
  if (o.normalize === "standardize") {
    for (let j = 0; j < dim; j++) {
      let mean = 0, v = 0;
      for (let i = 0; i < n; i++) mean += x[i * dim + j] / n;
      for (let i = 0; i < n; i++) v += (x[i * dim + j] - mean) ** 2 / n;
      for (let i = 0; i < n; i++) x[i * dim + j] = (x[i * dim + j] - mean) / Math.sqrt(v + 1e-5);
    }
    x = x.map(Math.fround);
  }
  const rng = new Rng(o.seed);
  const W = Array.from({ length: dim * c }, () => Math.fround(0.01 * rng.normal()));
  const b = new Array(c).fill(0);
  const vW = new Array(dim * c).fill(0), vb = new Array(c).fill(0);
  let lastLoss = NaN;
  for (let e = 0; e < o.epochs; e++) {
    const lr = o.lr * o.gamma ** o.milestones.filter((m) => m <= e).length;
    const gW = W.map((w) => o.weightDecay * w), gb = b.map((v) => o.weightDecay * v);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const z = b.map((bc, cc) => {
        let s = bc;
        for (let j = 0; j < dim; j++) s += x[i * dim + j] * W[j * c + cc];
        return s;
      });
      const zmax = Math.max(...z);
      const lse = zmax + Math.log(z.reduce((s, v) => s + Math.exp(v - zmax), 0));
      loss += lse - z[train.labels[i]];
      for (let cc = 0; cc < c; cc++) {
        const g = (Math.exp(z[cc] - lse) - (cc === train.labels[i] ? 1 : 0)) / n;
        gb[cc] += g;
        for (let j = 0; j < dim; j++) gW[j * c + cc] += x[i * dim + j] * g;
      }
    }
    lastLoss = loss / n;
    for (let p = 0; p < W.length; p++) W[p] -= lr * (vW[p] = o.momentum * vW[p] + gW[p]);
    for (let p = 0; p < c; p++) b[p] -= lr * (vb[p] = o.momentum * vb[p] + gb[p]);
  }
  return { weights: W, bias: b, lastLoss };
}

function data(n: number, dim: number, classes: number, seed: number): LabelledFeatures {
  return { ...randomMatrix(n, dim, seed), labels: labelled(n, classes, seed) };
}

backendTest(
  "linearProbe: full-batch SGD equals a float64 reference (momentum, wd, milestones)",
  async () => {
    const train = data(24, 5, 3, 1);
    const cases = [
      { normalize: "none", momentum: 0.9, weightDecay: 0, milestones: [3], gamma: 0.1 },
      {
        normalize: "standardize",
        momentum: 0.5,
        weightDecay: 0.01,
        milestones: [2, 4],
        gamma: 0.5,
      },
      { normalize: "none", momentum: 0, weightDecay: 0, milestones: [], gamma: 0.1 },
    ] as const;
    for (const c of cases) {
      const o = { ...c, milestones: [...c.milestones], epochs: 5, lr: 0.5, seed: 11 };
      const got = await linearProbe(train, train, { ...o, batchSize: 24, ...quiet });
      const ref = referenceProbe(train, 3, o);
      const label = JSON.stringify(c);
      assertClose(got.classifier.weights, ref.weights, {
        rtol: 1e-5,
        atol: 1e-6,
        label: `W ${label}`,
      });
      assertClose(got.classifier.bias, ref.bias, { rtol: 1e-5, atol: 1e-6, label: `b ${label}` });
      assertClose(got.trainLoss, ref.lastLoss, { rtol: 1e-5, label: `loss ${label}` });
    }
  },
);

backendTest("linearProbe: 100% top-1 and top-5 on linearly separable data", async () => {
  const classes = 10, dim = 16;
  const make = (n: number, seed: number): LabelledFeatures => {
    const m = data(n, dim, classes, seed);
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < dim; d++) m.features[i * dim + d] *= 0.1;
      m.features[i * dim + m.labels[i]] += 1;
    }
    return m;
  };
  const train = make(500, 2), test = make(200, 3);
  const r = await linearProbe(train, test, { epochs: 10, milestones: [6, 8], ...quiet });
  assert.equal(r.top1, 1);
  assert.equal(r.top5, 1);
  assert.deepEqual(Array.from(r.predictions), Array.from(test.labels));
  assert.ok(r.trainLoss < 0.2, `train loss ${r.trainLoss}`);
});

backendTest("linearProbe: random labels give chance accuracy on held-out data", async () => {
  const classes = 10;
  const r = await linearProbe(data(500, 32, classes, 4), data(2000, 32, classes, 5), {
    epochs: 20,
    milestones: [12, 16],
    ...quiet,
  });
  // Chance is 1/10; the binomial standard deviation over 2000 test rows is 0.0067.
  assert.ok(Math.abs(r.top1 - 0.1) < 0.035, `top-1 ${r.top1} is not chance`);
  assert.ok(Math.abs(r.top5! - 0.5) < 0.06, `top-5 ${r.top5} is not chance`);
}, { backends: ["cpu", "wasm"] });

backendTest("linearProbe: deterministic for a seed, different across seeds", async () => {
  const train = data(103, 6, 4, 6), test = data(20, 6, 4, 7);
  const o = { epochs: 4, batchSize: 16, milestones: [2], ...quiet };
  const a = await linearProbe(train, test, { ...o, seed: 3 });
  const b = await linearProbe(train, test, { ...o, seed: 3 });
  const c = await linearProbe(train, test, { ...o, seed: 4 });
  assert.deepEqual(a.classifier.weights, b.classifier.weights);
  assert.deepEqual(a.classifier.bias, b.classifier.bias);
  assert.equal(a.trainLoss, b.trainLoss);
  assert.notDeepEqual(a.classifier.weights, c.classifier.weights);
  assert.equal(a.top5, null); // 4 classes
  assert.deepEqual(a.protocol, {
    epochs: 4,
    lr: 0.1,
    batchSize: 16,
    milestones: [2],
    gamma: 0.1,
    momentum: 0.9,
    weightDecay: 0,
    seed: 3,
    normalize: "standardize",
  });
});

backendTest(
  "linearProbe: defaults are the documented protocol; formatLinear prints it all",
  async () => {
    const train = data(8, 2, 6, 8);
    const r = await linearProbe(train, train, { epochs: 1, ...quiet });
    assert.deepEqual({ ...r.protocol, epochs: 100 }, {
      epochs: 100,
      lr: 0.1,
      batchSize: 256,
      milestones: [60, 80],
      gamma: 0.1,
      momentum: 0.9,
      weightDecay: 0,
      seed: 0,
      normalize: "standardize",
    });
    const line = formatLinear({ ...r, top1: 0.5, top5: 0.875 });
    assert.equal(
      line,
      "linear top-1 50.00% top-5 87.50% (SGD lr 0.1 momentum 0.9 wd 0, 1 epochs, batch 256, " +
        "×0.1 at [60, 80], standardize, seed 0, 8 test / 8 train, 6 classes)",
    );
  },
  { backends: ["cpu"] },
);

backendTest("linearProbe: bad arguments are rejected with the value quoted", async () => {
  const train = data(10, 3, 3, 1);
  const reject = (o: LinearProbeOptions, re: RegExp, t: LabelledFeatures = train) =>
    assert.rejects(linearProbe(train, t, { ...o, ...quiet }), re);
  await reject({ epochs: 0 }, /epochs must be an integer ≥ 1, got 0/);
  await reject({ lr: -1 }, /lr must be a positive number, got -1/);
  await reject({ batchSize: 2.5 }, /batchSize must be an integer ≥ 1, got 2.5/);
  await reject({ milestones: [0] }, /milestones\[0\] must be an integer ≥ 1, got 0/);
  await reject({ momentum: NaN }, /momentum must be a number ≥ 0, got NaN/);
  await reject(
    { normalize: "l2" as "none" },
    /normalize must be "standardize" or "none", got "l2"/,
  );
  await reject({ numClasses: 2 }, /labels\[\d+\] is 2, not in \[0, 2\)/);
  await reject({}, /train has dim 3, test 4/, data(5, 4, 3, 2));
  const huge = { ...train, features: train.features.map((v) => v * 1e30) };
  await assert.rejects(
    linearProbe(huge, huge, { normalize: "none", lr: 1e10, epochs: 3, ...quiet }),
    /training loss became NaN at epoch 1 \(lr 10000000000 too large\?\)/,
  );
  await assert.rejects(
    linearProbe({ ...train, labels: new Int32Array(9) }, train, quiet),
    /train.labels has 9 entries for 10 rows/,
  );
}, { backends: ["cpu"] });
