/**
 * The validation of a {@linkcode FeatureMatrix} (and of integer options) that
 * mining, the kNN search and the linear probe share.
 *
 * @module
 */
import type { FeatureMatrix } from "./types.ts";

/**
 * Check that `m` is a feature matrix: a Float32Array of `n · dim` values,
 * `n` and `dim` positive integers. Errors name `who` and, when given, which
 * matrix (`what`, e.g. "train": "train.features must be ...").
 *
 * @example
 * ```ts
 * import { checkMatrix } from "./check.ts";
 *
 * checkMatrix({ features: new Float32Array(6), n: 3, dim: 2 }, "example"); // passes
 * ```
 */
export function checkMatrix(m: FeatureMatrix, who: string, what?: string): void {
  const at = what ? `${what}.` : "";
  if (!(m?.features instanceof Float32Array)) {
    throw new TypeError(`${who}: ${at}features must be a Float32Array`);
  }
  for (const key of ["n", "dim"] as const) {
    if (!(Number.isInteger(m[key]) && m[key] > 0)) {
      throw new RangeError(`${who}: ${at}${key} must be a positive integer, got ${m[key]}`);
    }
  }
  if (m.features.length !== m.n * m.dim) {
    throw new RangeError(
      `${who}: ${at}features has ${m.features.length} values, expected n·dim = ${m.n}·${m.dim}`,
    );
  }
}

/**
 * Check that `v` is an integer in `[min, max]`; the error names `who` and the
 * option (`name`), e.g. "knnSearch: k must be an integer in [1, 100], got 0".
 */
export function checkInt(who: string, name: string, v: number, min: number, max = Infinity): void {
  if (!(Number.isInteger(v) && v >= min && v <= max)) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new RangeError(`${who}: ${name} must be an integer ${range}, got ${v}`);
  }
}
