/**
 * The CoSS projection head: `Linear(d_s, hidden) → ReLU → Linear(hidden, d_t)`,
 * no batch norm, created only when the student's feature width differs from
 * the teacher's. It exists for training only and is never exported.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { ParamStore } from "./params.ts";

/** Options for {@linkcode createProjectionHead}. */
export interface ProjectionHeadOptions {
  /** Hidden width. @default {2048} */
  hidden?: number;
  /** Seed of the initialisers. @default {0} */
  seed?: number;
}

/** A two-layer MLP from student features to teacher features. */
export class ProjectionHead {
  /** Parameters, named as `nn.Sequential(Linear, ReLU, Linear)`: `0.*`, `2.*`. */
  readonly params: ParamStore;

  constructor(readonly inDim: number, readonly outDim: number, readonly hidden = 2048, seed = 0) {
    for (const [k, v] of [["inDim", inDim], ["outDim", outDim], ["hidden", hidden]] as const) {
      if (!(Number.isInteger(v) && v > 0)) {
        throw new RangeError(`projection head: ${k} must be a positive integer, got ${v}`);
      }
    }
    this.params = new ParamStore(seed);
    this.params.linear("0", inDim, hidden);
    this.params.linear("2", hidden, outDim);
  }

  /** `[B, inDim] → [B, outDim]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.inDim) {
      throw new RangeError(
        `projection head: input shape [${x.shape}] is not [batch, ${this.inDim}]`,
      );
    }
    const p = (n: string) => this.params.get(n) as tf.Tensor;
    return tf.tidy(() => {
      const h = tf.relu(tf.add(tf.matMul(x, p("0.weight") as tf.Tensor2D), p("0.bias")));
      return tf.add(tf.matMul(h as tf.Tensor2D, p("2.weight") as tf.Tensor2D), p("2.bias"));
    });
  }

  /** The head's trainable variables. */
  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  /** Free the head's variables. */
  dispose(): void {
    this.params.dispose();
  }
}

/**
 * The head CoSS puts between a student and a teacher of different widths, or
 * `undefined` when the widths agree (the student's features are used as they are).
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createProjectionHead } from "./head.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * console.log(createProjectionHead(512, 512)); // undefined
 * const head = createProjectionHead(512, 2048, { hidden: 256 })!;
 * console.log(head.outDim); // 2048
 * head.dispose();
 * ```
 */
export function createProjectionHead(
  studentDim: number,
  teacherDim: number,
  options: ProjectionHeadOptions = {},
): ProjectionHead | undefined {
  if (studentDim === teacherDim) return undefined;
  return new ProjectionHead(studentDim, teacherDim, options.hidden ?? 2048, options.seed ?? 0);
}
