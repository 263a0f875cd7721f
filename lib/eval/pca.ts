/**
 * Principal component analysis of a feature matrix, on the host in float64,
 * for 2-D maps of an embedding space.
 *
 * Rows are centred, `X ← X − 1μᵀ`. The principal axes are the top eigenvectors
 * `v₁, v₂, …` of the scatter matrix `S = XᵀX` (eigenvalues `λ₁ ≥ λ₂ ≥ …`), the
 * coordinates of row `i` are `x_i·v_j`, and the explained variance ratio of
 * component `j` is `λ_j / tr S` (Jolliffe, _Principal Component Analysis_, 2nd
 * ed., 2002, ch. 1–3). When `n < dim` the `n × n` Gram matrix `XXᵀ` is
 * decomposed instead: it has the same non-zero eigenvalues, with `v_j ∝ Xᵀu_j`.
 *
 * The top eigenpairs come from subspace iteration with a Rayleigh–Ritz step on
 * a block of `components + 4` vectors (Golub & Van Loan, _Matrix
 * Computations_, 4th ed., §8.2.4; the small projected problem is solved by
 * cyclic Jacobi, §8.5). Each axis's sign is fixed so that its entry of largest
 * magnitude is positive, so results do not depend on the random start.
 * Components with no variance (constant data, rank below `components`) get
 * zero coordinates and a zero ratio.
 *
 * @module
 */
import type { FeatureMatrix } from "../neighbours/types.ts";
import { Rng } from "../util/rng.ts";

/** Options for {@linkcode pca}. */
export interface PcaOptions {
  /**
   * Number of principal components to keep, in `[1, dim]`.
   * @default {2}
   */
  components?: number;
  /**
   * Seed of the random start of the subspace iteration.
   * @default {0}
   */
  seed?: number;
}

/** The result of {@linkcode pca}. */
export interface PcaResult {
  /** `n · components` projected coordinates, row after row. */
  coords: Float64Array;
  /** Number of rows. */
  n: number;
  /** Number of components per row. */
  components: number;
  /** Explained variance ratio `λ_j / tr S` of each component, in decreasing order. */
  explained: number[];
}

const BLOCK_EXTRA = 4;
const MAX_ITERATIONS = 500;
const RESIDUAL_TOL = 1e-11;
const ZERO_VARIANCE = 1e-12;

/**
 * Project a feature matrix onto its top principal components.
 *
 * @example
 * ```ts
 * import { pca } from "./pca.ts";
 *
 * // Four points on the line y = 2x: all variance lies on PC1.
 * const m = { features: new Float32Array([0, 0, 1, 2, 2, 4, 3, 6]), n: 4, dim: 2 };
 * const { coords, explained } = pca(m);
 * console.log(explained.map((r) => r.toFixed(3))); // ["1.000", "0.000"]
 * console.log(coords[0] < 0 && coords[6] > 0); // true: PC1 increases along the line
 * ```
 *
 * @param m The features, `n × dim`, all finite.
 * @param options Number of components and seed.
 * @returns Coordinates `n × components` and explained variance ratios.
 * @throws {TypeError} When `m.features` is not a Float32Array.
 * @throws {RangeError} When the shape is inconsistent, a value is not finite, or
 *   `components` is not an integer in `[1, dim]`.
 */
export function pca(m: FeatureMatrix, options: PcaOptions = {}): PcaResult {
  if (!(m?.features instanceof Float32Array)) {
    throw new TypeError("pca: features must be a Float32Array");
  }
  const { features, n, dim } = m;
  if (!Number.isInteger(n) || !Number.isInteger(dim) || n < 1 || dim < 1) {
    throw new RangeError(`pca: n and dim must be positive integers, got n = ${n}, dim = ${dim}`);
  }
  if (features.length !== n * dim) {
    throw new RangeError(`pca: features hold ${features.length} values for n·dim = ${n}·${dim}`);
  }
  const k = options.components ?? 2;
  if (!Number.isInteger(k) || k < 1 || k > dim) {
    throw new RangeError(`pca: components must be an integer in [1, ${dim}], got ${k}`);
  }
  const x = centre(features, n, dim);
  const useGram = n < dim;
  const size = useGram ? n : dim;
  const s = useGram ? gram(x, n, dim) : covariance(x, n, dim);
  let trace = 0;
  for (let i = 0; i < size; i++) trace += s[i * size + i];
  const coords = new Float64Array(n * k);
  const explained = new Array<number>(k).fill(0);
  if (!(trace > 0)) return { coords, n, components: k, explained };

  const found = Math.min(k, size);
  const { values, vectors } = topEigen(s, size, found, new Rng(options.seed ?? 0));
  const axis = new Float64Array(dim);
  for (let j = 0; j < found; j++) {
    if (!(values[j] > ZERO_VARIANCE * trace)) continue;
    if (useGram) {
      // v_j = Xᵀu_j / ‖Xᵀu_j‖
      axis.fill(0);
      for (let i = 0; i < n; i++) {
        const u = vectors[j * size + i];
        for (let t = 0; t < dim; t++) axis[t] += u * x[i * dim + t];
      }
    } else {
      axis.set(vectors.subarray(j * size, (j + 1) * size));
    }
    let norm = 0, top = 0;
    for (let t = 0; t < dim; t++) {
      norm += axis[t] * axis[t];
      if (Math.abs(axis[t]) > Math.abs(axis[top])) top = t;
    }
    const scale = (axis[top] < 0 ? -1 : 1) / Math.sqrt(norm);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let t = 0; t < dim; t++) dot += x[i * dim + t] * axis[t];
      coords[i * k + j] = dot * scale;
    }
    explained[j] = values[j] / trace;
  }
  return { coords, n, components: k, explained };
}

function centre(features: Float32Array, n: number, dim: number): Float64Array {
  const x = Float64Array.from(features);
  for (let t = 0; t < dim; t++) {
    let mean = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i * dim + t];
      if (!Number.isFinite(v)) {
        throw new RangeError(`pca: feature [${i}, ${t}] is ${v}; drop non-finite rows first`);
      }
      mean += v;
    }
    mean /= n;
    for (let i = 0; i < n; i++) x[i * dim + t] -= mean;
  }
  return x;
}

/** `XᵀX`, `dim × dim`, row-major. */
function covariance(x: Float64Array, n: number, dim: number): Float64Array {
  const s = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * dim, (i + 1) * dim);
    for (let a = 0; a < dim; a++) {
      const xa = row[a];
      if (xa === 0) continue;
      const base = a * dim;
      for (let b = a; b < dim; b++) s[base + b] += xa * row[b];
    }
  }
  for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) s[a * dim + b] = s[b * dim + a];
  return s;
}

/** `XXᵀ`, `n × n`, row-major. */
function gram(x: Float64Array, n: number, dim: number): Float64Array {
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let dot = 0;
      for (let t = 0; t < dim; t++) dot += x[i * dim + t] * x[j * dim + t];
      s[i * n + j] = s[j * n + i] = dot;
    }
  }
  return s;
}

/**
 * Top `k` eigenpairs of the symmetric positive semi-definite `m × m` matrix
 * `s` by subspace iteration with Rayleigh–Ritz. Vectors are returned column
 * after column (`vectors[j·m + i]` is entry `i` of vector `j`).
 */
function topEigen(
  s: Float64Array,
  m: number,
  k: number,
  rng: Rng,
): { values: Float64Array; vectors: Float64Array } {
  const p = Math.min(m, k + BLOCK_EXTRA);
  const v = new Float64Array(m * p).map(() => rng.normal());
  orthonormalise(v, m, p, rng);
  const w = new Float64Array(m * p);
  for (let iteration = 1;; iteration++) {
    for (let c = 0; c < p; c++) {
      for (let r = 0; r < m; r++) {
        let dot = 0;
        for (let t = 0; t < m; t++) dot += s[r * m + t] * v[c * m + t];
        w[c * m + r] = dot;
      }
    }
    // Rayleigh–Ritz: eigen-decompose H = VᵀSV and rotate V, SV by its eigenvectors.
    const h = new Float64Array(p * p);
    for (let a = 0; a < p; a++) {
      for (let b = a; b < p; b++) {
        let dot = 0;
        for (let t = 0; t < m; t++) dot += v[a * m + t] * w[b * m + t];
        h[a * p + b] = h[b * p + a] = dot;
      }
    }
    const { values, vectors: q } = jacobiEigen(h, p);
    rotate(v, q, m, p);
    rotate(w, q, m, p);
    let residual = 0;
    for (let c = 0; c < k; c++) {
      let r2 = 0;
      for (let t = 0; t < m; t++) r2 += (w[c * m + t] - values[c] * v[c * m + t]) ** 2;
      residual = Math.max(residual, Math.sqrt(r2));
    }
    if (residual <= RESIDUAL_TOL * Math.abs(values[0]) || iteration >= MAX_ITERATIONS) {
      return { values: values.slice(0, k), vectors: v.slice(0, k * m) };
    }
    v.set(w);
    orthonormalise(v, m, p, rng);
  }
}

/** `A ← A·Q` for `A` stored column after column (`m × p`) and `Q` row-major `p × p`. */
function rotate(a: Float64Array, q: Float64Array, m: number, p: number): void {
  const out = new Float64Array(m * p);
  for (let c = 0; c < p; c++) {
    for (let j = 0; j < p; j++) {
      const f = q[j * p + c];
      if (f === 0) continue;
      for (let t = 0; t < m; t++) out[c * m + t] += f * a[j * m + t];
    }
  }
  a.set(out);
}

/** Modified Gram–Schmidt, twice; a column that vanishes is replaced by a random one. */
function orthonormalise(v: Float64Array, m: number, p: number, rng: Rng): void {
  for (let c = 0; c < p; c++) {
    const col = v.subarray(c * m, (c + 1) * m);
    for (let attempt = 0;; attempt++) {
      let before = 0;
      for (let t = 0; t < m; t++) before += col[t] * col[t];
      for (let pass = 0; pass < 2; pass++) {
        for (let b = 0; b < c; b++) {
          const prev = v.subarray(b * m, (b + 1) * m);
          let dot = 0;
          for (let t = 0; t < m; t++) dot += prev[t] * col[t];
          for (let t = 0; t < m; t++) col[t] -= dot * prev[t];
        }
      }
      let norm = 0;
      for (let t = 0; t < m; t++) norm += col[t] * col[t];
      if (norm > 1e-20 * before && norm > 0) {
        const inv = 1 / Math.sqrt(norm);
        for (let t = 0; t < m; t++) col[t] *= inv;
        break;
      }
      if (attempt > 8) throw new Error(`pca: cannot orthonormalise column ${c} of ${p}`);
      for (let t = 0; t < m; t++) col[t] = rng.normal();
    }
  }
}

/**
 * All eigenpairs of a small symmetric matrix by cyclic Jacobi rotations, sorted
 * by decreasing eigenvalue; `vectors[i·p + j]` is entry `i` of vector `j`.
 */
function jacobiEigen(h: Float64Array, p: number): { values: Float64Array; vectors: Float64Array } {
  const a = h.slice();
  const q = new Float64Array(p * p);
  for (let i = 0; i < p; i++) q[i * p + i] = 1;
  let total = 0;
  for (const value of a) total += value * value;
  for (let sweep = 0; sweep < 64; sweep++) {
    let off = 0;
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) off += a[i * p + j] ** 2;
    if (off <= 1e-30 * total) break;
    for (let i = 0; i < p - 1; i++) {
      for (let j = i + 1; j < p; j++) {
        const aij = a[i * p + j];
        if (aij === 0) continue;
        const theta = (a[j * p + j] - a[i * p + i]) / (2 * aij);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), sn = t * c;
        for (let r = 0; r < p; r++) {
          const ari = a[r * p + i], arj = a[r * p + j];
          a[r * p + i] = c * ari - sn * arj;
          a[r * p + j] = sn * ari + c * arj;
        }
        for (let r = 0; r < p; r++) {
          const air = a[i * p + r], ajr = a[j * p + r];
          a[i * p + r] = c * air - sn * ajr;
          a[j * p + r] = sn * air + c * ajr;
        }
        for (let r = 0; r < p; r++) {
          const qri = q[r * p + i], qrj = q[r * p + j];
          q[r * p + i] = c * qri - sn * qrj;
          q[r * p + j] = sn * qri + c * qrj;
        }
      }
    }
  }
  const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => a[y * p + y] - a[x * p + x]);
  const values = new Float64Array(order.map((i) => a[i * p + i]));
  const vectors = new Float64Array(p * p);
  for (let r = 0; r < p; r++) {
    for (let c = 0; c < p; c++) vectors[r * p + c] = q[r * p + order[c]];
  }
  return { values, vectors };
}
