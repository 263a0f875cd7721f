/** Deterministic random features and labels for the evaluation tests. */
import type { FeatureMatrix } from "../../lib/neighbours/types.ts";
import { Rng } from "../../lib/util/rng.ts";

/** `n × dim` standard normal features from `seed`. */
export function randomMatrix(n: number, dim: number, seed: number): FeatureMatrix {
  const rng = new Rng(seed);
  return { features: new Float32Array(n * dim).map(() => rng.normal()), n, dim };
}

/** `n` labels uniform in `[0, classes)` from `seed`. */
export function labelled(n: number, classes: number, seed: number): Int32Array {
  const rng = new Rng(seed + 7919);
  return new Int32Array(n).map(() => rng.int(classes));
}

/** Cosine of row `i` of `a` and row `j` of `b` in double precision (0 for a zero row). */
export function cosine(a: FeatureMatrix, i: number, b: FeatureMatrix, j: number): number {
  let dot = 0, x2 = 0, y2 = 0;
  for (let t = 0; t < a.dim; t++) {
    const x = a.features[i * a.dim + t], y = b.features[j * b.dim + t];
    dot += x * y;
    x2 += x * x;
    y2 += y * y;
  }
  return x2 > 0 && y2 > 0 ? dot / Math.sqrt(x2 * y2) : 0;
}
