import assert from "assert";
import { pca } from "../../lib/eval/pca.ts";
import type { FeatureMatrix } from "../../lib/neighbours/types.ts";
import { Rng } from "../../lib/util/rng.ts";

function matrix(rows: number[][]): FeatureMatrix {
  return { features: new Float32Array(rows.flat()), n: rows.length, dim: rows[0].length };
}

/** A random `d × d` orthogonal matrix (Gram–Schmidt of a Gaussian one), rows are the basis. */
function randomRotation(d: number, seed: number): number[][] {
  const rng = new Rng(seed);
  const q: number[][] = [];
  while (q.length < d) {
    const v = Array.from({ length: d }, () => rng.normal());
    for (const u of q) {
      const dot = u.reduce((s, x, i) => s + x * v[i], 0);
      for (let i = 0; i < d; i++) v[i] -= dot * u[i];
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  return q;
}

function rotateRows(rows: number[][], r: number[][]): number[][] {
  return rows.map((x) => r.map((_, i) => x.reduce((s, xj, j) => s + xj * r[j][i], 0)));
}

/** Reference: power iteration with deflation on the float64 covariance, from the definition. */
function referencePca(rows: number[][], k: number): { axes: number[][]; ratios: number[] } {
  const n = rows.length, d = rows[0].length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + r[j], 0) / n);
  const c = Array.from(
    { length: d },
    (_, a) =>
      Array.from(
        { length: d },
        (_, b) => rows.reduce((s, r) => s + (r[a] - mean[a]) * (r[b] - mean[b]), 0),
      ),
  );
  const trace = c.reduce((s, row, i) => s + row[i], 0);
  const axes: number[][] = [], ratios: number[] = [];
  for (let j = 0; j < k; j++) {
    let v = Array.from({ length: d }, (_, i) => 1 + i * 0.1);
    let lambda = 0;
    for (let it = 0; it < 5000; it++) {
      const w = c.map((row) => row.reduce((s, x, i) => s + x * v[i], 0));
      lambda = Math.hypot(...w);
      v = w.map((x) => x / lambda);
    }
    axes.push(v);
    ratios.push(lambda / trace);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) c[a][b] -= lambda * v[a] * v[b];
  }
  return { axes, ratios };
}

function column(coords: Float64Array, k: number, j: number): number[] {
  return Array.from({ length: coords.length / k }, (_, i) => coords[i * k + j]);
}

/** Assert `a ≈ s·b` for s = +1 or −1. */
function assertEqualUpToSign(a: number[], b: number[], tol: number, what: string): void {
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  const sign = dot < 0 ? -1 : 1;
  const err = Math.max(...a.map((x, i) => Math.abs(x - sign * b[i])));
  assert.ok(err <= tol, `${what}: max |a − ±b| = ${err} > ${tol}`);
}

Deno.test("pca: axis-aligned ±3, ±2, ±1 points give ratios 9/14, 4/14, 1/14 exactly", () => {
  const rows = [[3, 0, 0], [-3, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 1], [0, 0, -1]];
  const { coords, explained, n, components } = pca(matrix(rows), { components: 3 });
  assert.equal(n, 6);
  assert.equal(components, 3);
  [9 / 14, 4 / 14, 1 / 14].forEach((r, j) => assert.ok(Math.abs(explained[j] - r) < 1e-12));
  // The axes are +e1, +e2, +e3 (largest loading positive), so coordinates are the inputs.
  const expected = rows.flat();
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(coords[i] - expected[i]) < 1e-12);
});

Deno.test("pca: a rotated copy has the same ratios and coords; the sign follows the largest loading", () => {
  const rows = [[3, 0, 0], [-3, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 1], [0, 0, -1]];
  const r = randomRotation(3, 11);
  const rotated = rotateRows(rows, r);
  const { coords, explained } = pca(matrix(rotated), { components: 3 });
  [9 / 14, 4 / 14, 1 / 14].forEach((x, j) => assert.ok(Math.abs(explained[j] - x) < 1e-6));
  for (let j = 0; j < 3; j++) {
    // Axis j of the rotated data is row j of r; its largest-|entry| sign decides the orientation.
    const axis = r[j];
    const top = axis.reduce((b, x, i) => (Math.abs(x) > Math.abs(axis[b]) ? i : b), 0);
    const sign = axis[top] < 0 ? -1 : 1;
    const want = rows.map((row) => sign * row[j]);
    const got = column(coords, 3, j);
    got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-5, `pc${j + 1} row ${i}: ${g}`));
  }
});

Deno.test("pca: sampled Gaussian with variances 9, 4, 1 gives ratios near 9/14, 4/14", () => {
  const rng = new Rng(3);
  const rows = Array.from({ length: 20000 }, () => [3, 2, 1].map((s) => s * rng.normal()));
  const { explained } = pca(matrix(rows));
  assert.equal(explained.length, 2);
  assert.ok(Math.abs(explained[0] - 9 / 14) < 0.01, `PC1 ratio ${explained[0]}`);
  assert.ok(Math.abs(explained[1] - 4 / 14) < 0.01, `PC2 ratio ${explained[1]}`);
});

Deno.test("pca: points along a known 5-D direction plus noise project to their positions", () => {
  const rng = new Rng(5);
  const dir = [1, -2, 0.5, 3, 1];
  const norm = Math.hypot(...dir);
  const t = Array.from({ length: 300 }, () => 10 * rng.normal());
  const rows = t.map((ti) => dir.map((u) => (ti * u) / norm + 0.01 * rng.normal() + 7));
  const { coords, explained } = pca(matrix(rows));
  assert.ok(explained[0] > 0.9999, `PC1 ratio ${explained[0]}`);
  const meanT = t.reduce((s, x) => s + x, 0) / t.length;
  // The largest loading (3) is positive, so PC1 increases with t.
  column(coords, 2, 0).forEach((c, i) => assert.ok(Math.abs(c - (t[i] - meanT)) < 0.05));
});

Deno.test("pca: matches a float64 power-iteration reference on random 12-D data, also rotated", () => {
  // 12 dims and 3 components: the 7-vector block is a proper subspace, so the iteration must converge.
  const rng = new Rng(9);
  const scales = [5, 3, 2, 1.5, 1.2, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
  const d = scales.length;
  const rows = Array.from({ length: 300 }, () => scales.map((s) => s * rng.normal()));
  const data = matrix(rows);
  const f64 = rows.map((_, i) => [...data.features.subarray(i * d, (i + 1) * d)]);
  const ref = referencePca(f64, 3);
  const got = pca(data, { components: 3 });
  ref.ratios.forEach((r, j) => assert.ok(Math.abs(got.explained[j] - r) < 1e-9, `ratio ${j}`));
  const mean = Array.from({ length: d }, (_, t) => f64.reduce((s, r) => s + r[t], 0) / f64.length);
  for (let j = 0; j < 3; j++) {
    const want = f64.map((x) => ref.axes[j].reduce((s, a, t) => s + a * (x[t] - mean[t]), 0));
    assertEqualUpToSign(column(got.coords, 3, j), want, 1e-6, `pc${j + 1}`);
  }
  const rotated = pca(matrix(rotateRows(rows, randomRotation(d, 2))), { components: 3 });
  for (let j = 0; j < 3; j++) {
    assertEqualUpToSign(column(rotated.coords, 3, j), column(got.coords, 3, j), 1e-4, `rot pc${j}`);
    assert.ok(Math.abs(rotated.explained[j] - got.explained[j]) < 1e-6);
  }
});

Deno.test("pca: n < dim (Gram path) agrees with the reference on the covariance", () => {
  const rng = new Rng(21);
  const rows = Array.from({ length: 6 }, () => Array.from({ length: 40 }, () => rng.normal()));
  const data = matrix(rows);
  const f64 = Array.from({ length: 6 }, (_, i) => [...data.features.subarray(i * 40, i * 40 + 40)]);
  const ref = referencePca(f64, 2);
  const got = pca(data);
  ref.ratios.forEach((r, j) => assert.ok(Math.abs(got.explained[j] - r) < 1e-9));
  for (let j = 0; j < 2; j++) {
    const mean = Array.from({ length: 40 }, (_, t) => f64.reduce((s, r) => s + r[t], 0) / 6);
    const want = f64.map((x) => ref.axes[j].reduce((s, a, t) => s + a * (x[t] - mean[t]), 0));
    assertEqualUpToSign(column(got.coords, 2, j), want, 1e-6, `pc${j + 1}`);
  }
});

Deno.test("pca: the result does not depend on the seed", () => {
  const rng = new Rng(1);
  const data = matrix(
    Array.from({ length: 50 }, () => [4, 2, 1, 0.5].map((s) => s * rng.normal())),
  );
  const a = pca(data, { seed: 0 }), b = pca(data, { seed: 12345 });
  a.coords.forEach((x, i) => assert.ok(Math.abs(x - b.coords[i]) < 1e-8));
});

Deno.test("pca: constant data and rank-deficient data give zeros, never NaN", () => {
  const constant = pca(matrix([[1, 2, 3], [1, 2, 3], [1, 2, 3]]));
  assert.deepEqual([...constant.coords], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(constant.explained, [0, 0]);
  const single = pca(matrix([[4, 5]]));
  assert.deepEqual([...single.coords], [0, 0]);
  const line = pca(matrix([[0, 0, 0], [1, 1, 1], [2, 2, 2], [4, 4, 4]]), { components: 3 });
  assert.ok(Math.abs(line.explained[0] - 1) < 1e-12);
  assert.deepEqual(line.explained.slice(1), [0, 0]);
  for (let i = 0; i < 4; i++) {
    assert.equal(line.coords[i * 3 + 1], 0);
    assert.equal(line.coords[i * 3 + 2], 0);
  }
  assert.ok([...line.coords].every(Number.isFinite));
});

Deno.test("pca: rejects bad input with the value quoted", () => {
  const m = matrix([[1, 2], [3, 4]]);
  assert.throws(
    () => pca(m, { components: 3 }),
    /components must be an integer in \[1, 2\], got 3/,
  );
  assert.throws(() => pca(m, { components: 0 }), RangeError);
  assert.throws(() => pca(matrix([[1, NaN], [3, 4]])), /feature \[0, 1\] is NaN/);
  assert.throws(() => pca({ features: new Float32Array(3), n: 2, dim: 2 }), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => pca({ features: [1, 2] as any, n: 1, dim: 2 }), TypeError);
});
