import assert from "assert";
import { assertClose, backendTest } from "../_helpers.ts";
import { cosineAgreement, linearCka } from "../../lib/eval/cka.ts";
import { randn } from "../kernels/_conv_reference.ts";

/** Float64 linear CKA straight from the definition. */
function ckaReference(x: Float32Array, y: Float32Array, n: number, p: number, q: number): number {
  const centre = (m: Float32Array, d: number) => {
    const out = Float64Array.from(m);
    for (let j = 0; j < d; j++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += out[i * d + j] / n;
      for (let i = 0; i < n; i++) out[i * d + j] -= mean;
    }
    return out;
  };
  const gram = (a: Float64Array, da: number, b: Float64Array, db: number) => {
    let s = 0;
    for (let u = 0; u < da; u++) {
      for (let v = 0; v < db; v++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += a[i * da + u] * b[i * db + v];
        s += dot * dot;
      }
    }
    return s;
  };
  const cx = centre(x, p), cy = centre(y, q);
  return gram(cy, q, cx, p) / Math.sqrt(gram(cx, p, cx, p) * gram(cy, q, cy, q));
}

/** A random orthogonal matrix (Gram–Schmidt on Gaussian columns), row-major d×d. */
function orthogonal(d: number, seed: number): Float64Array {
  const g = randn(seed, d * d);
  const q = new Float64Array(d * d);
  for (let c = 0; c < d; c++) {
    const v = new Float64Array(d);
    for (let r = 0; r < d; r++) v[r] = g[r * d + c];
    for (let k = 0; k < c; k++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += v[r] * q[r * d + k];
      for (let r = 0; r < d; r++) v[r] -= dot * q[r * d + k];
    }
    const norm = Math.hypot(...v);
    for (let r = 0; r < d; r++) q[r * d + c] = v[r] / norm;
  }
  return q;
}

backendTest("linear CKA matches a float64 reference and has its invariances", async () => {
  const n = 200, p = 12, q = 7;
  const x = randn(1, n * p);
  const y = randn(2, n * q);
  for (let i = 0; i < n; i++) y[i * q] += 3 * x[i * p]; // some shared signal
  const got = await linearCka({ features: x, n, dim: p }, { features: y, n, dim: q });
  assertClose(got, ckaReference(x, y, n, p, q), { rtol: 1e-4, label: "CKA" });
  assert.ok(got > 0.05 && got < 0.9, `CKA ${got}`);

  // 1 under an orthogonal transform plus isotropic scaling (and an offset: it centres).
  const r = orthogonal(p, 3);
  const xr = new Float32Array(n * p);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < p; c++) {
      let s = 0;
      for (let k = 0; k < p; k++) s += x[i * p + k] * r[k * p + c];
      xr[i * p + c] = 2.5 * s + 7;
    }
  }
  assertClose(await linearCka({ features: x, n, dim: p }, { features: xr, n, dim: p }), 1, {
    rtol: 1e-4,
    label: "CKA under rotation and scaling",
  });

  // Independent spaces: small (its expectation is about p·q/n-ish, well below 0.5 here).
  const z = randn(4, n * p);
  const independent = await linearCka({ features: x, n, dim: p }, { features: z, n, dim: p });
  assert.ok(independent < 0.15, `independent CKA ${independent}`);
  await assert.rejects(
    linearCka({ features: x, n, dim: p }, { features: z.subarray(0, 10 * p), n: 10, dim: p }),
    RangeError,
  );
}, { backends: ["cpu", "wasm"] });

backendTest("cosine agreement is 1 for a perfect student and matches hand values", async () => {
  const t = new Float32Array([1, 0, 0, 2, 3, 4]);
  const same = await cosineAgreement({ features: t, n: 3, dim: 2 }, {
    features: t.map((v) => 3 * v),
    n: 3,
    dim: 2,
  });
  assertClose([same.perSample, same.perDimension], [1, 1], { rtol: 1e-6 });
  // Student swaps the two dimensions: rows [0,1],[2,0],[4,3].
  const s = new Float32Array([0, 1, 2, 0, 4, 3]);
  const r = await cosineAgreement({ features: t, n: 3, dim: 2 }, { features: s, n: 3, dim: 2 });
  const rows = (0 + 0 + 24 / 25) / 3;
  const c0 = (0 + 0 + 12) / (Math.hypot(1, 0, 3) * Math.hypot(0, 2, 4));
  const c1 = (0 + 0 + 12) / (Math.hypot(0, 2, 4) * Math.hypot(1, 0, 3));
  assertClose([r.perSample, r.perDimension], [rows, (c0 + c1) / 2], { rtol: 1e-5 });
}, { backends: ["cpu", "wasm", "webgpu"] });
