/**
 * Linear centred kernel alignment (Kornblith et al., ICML 2019) between two
 * representations of the same images, and the cosine agreement of a student
 * (after its projection head) with its teacher per sample and per dimension.
 *
 * Linear CKA: with column-centred `X [n,p]` and `Y [n,q]`,
 * `CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F)`. It is 1 for identical spaces and
 * invariant to orthogonal transforms and isotropic scaling of either side.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { FeatureMatrix } from "../neighbours/types.ts";
import { featureSimilarityLoss, spaceSimilarityLoss } from "../losses/coss.ts";

function check(a: FeatureMatrix, b: FeatureMatrix, who: string): void {
  for (const [name, m] of [["a", a], ["b", b]] as const) {
    if (m.features.length !== m.n * m.dim || m.n < 2) {
      throw new RangeError(
        `${who}: ${name} holds ${m.features.length} values for n·dim = ${m.n}·${m.dim} (need n ≥ 2)`,
      );
    }
  }
  if (a.n !== b.n) throw new RangeError(`${who}: a has ${a.n} rows and b ${b.n}; they must match`);
}

/**
 * Linear CKA between two feature matrices over the same images, in [0, 1].
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { linearCka } from "./cka.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const a = { features: new Float32Array([1, 2, 3, 4, 5, 7]), n: 3, dim: 2 };
 * const b = { features: new Float32Array([2, 4, 6, 8, 10, 14]), n: 3, dim: 2 }; // a · 2
 * console.log((await linearCka(a, b)).toFixed(6)); // "1.000000"
 * ```
 *
 * @throws {RangeError} When the row counts differ or a matrix is malformed.
 */
export async function linearCka(a: FeatureMatrix, b: FeatureMatrix): Promise<number> {
  check(a, b, "linearCka");
  const parts = tf.tidy(() => {
    const centre = (m: FeatureMatrix) => {
      const x = tf.tensor2d(m.features, [m.n, m.dim]);
      return tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D;
    };
    const x = centre(a);
    const y = centre(b);
    const frob2 = (m: tf.Tensor2D) => tf.sum(tf.square(m));
    const cross = frob2(tf.matMul(y, x, true, false));
    const xx = tf.sqrt(frob2(tf.matMul(x, x, true, false)));
    const yy = tf.sqrt(frob2(tf.matMul(y, y, true, false)));
    return tf.stack([cross, xx, yy]);
  });
  const [cross, xx, yy] = await parts.data();
  parts.dispose();
  return xx > 0 && yy > 0 ? cross / (xx * yy) : 0;
}

/** The student's agreement with the teacher, both `[n, d]` (the student after its head). */
export interface CosineAgreement {
  /** Mean cosine between each image's student and teacher vectors (−L_co). */
  perSample: number;
  /** Mean cosine between each dimension's student and teacher columns over the images (−L_ss). */
  perDimension: number;
  /** Images compared (rows). */
  n: number;
  /** Feature dimensions compared (columns). */
  dim: number;
}

/**
 * Mean per-sample and per-dimension cosines of a projected student against
 * its teacher: the two terms CoSS optimises, measured on held-out images.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { cosineAgreement } from "./cka.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const teacher = { features: new Float32Array([1, 0, 0, 1, 1, 1]), n: 3, dim: 2 };
 * const student = { features: new Float32Array([2, 0, 0, 3, 1, 1]), n: 3, dim: 2 }; // rescaled rows
 * const agreement = await cosineAgreement(teacher, student);
 * console.log(agreement.perSample); // 1: each row points the same way
 * ```
 *
 * @throws {RangeError} When the shapes differ.
 */
export async function cosineAgreement(
  teacher: FeatureMatrix,
  student: FeatureMatrix,
): Promise<CosineAgreement> {
  check(teacher, student, "cosineAgreement");
  if (teacher.dim !== student.dim) {
    throw new RangeError(
      `cosineAgreement: teacher has ${teacher.dim} dimensions and student ${student.dim}`,
    );
  }
  const both = tf.tidy(() => {
    const t = tf.tensor2d(teacher.features, [teacher.n, teacher.dim]);
    const s = tf.tensor2d(student.features, [student.n, student.dim]);
    return tf.stack([tf.neg(featureSimilarityLoss(t, s)), tf.neg(spaceSimilarityLoss(t, s))]);
  });
  const [perSample, perDimension] = await both.data();
  both.dispose();
  return { perSample, perDimension, n: teacher.n, dim: teacher.dim };
}
