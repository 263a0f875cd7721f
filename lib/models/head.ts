/**
 * The CoSS projection head: `Linear(d_s, hidden) → ReLU → Linear(hidden, d_t)`,
 * no batch norm, created only when the student's feature width differs from
 * the teacher's. It exists for training only and is never exported.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { ParamStore } from "./params.ts";
import type { Tensor, Tensor2D, Variable } from "../tf_types.ts";

/** Options for {@linkcode createProjectionHead}. */
export interface ProjectionHeadOptions {
  /**
   * Hidden width.
   * @default {2048}
   */
  hidden?: number;
  /**
   * Seed of the initialisers.
   * @default {0}
   */
  seed?: number;
}

/**
 * A two-layer MLP from student features to teacher features.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { ProjectionHead } from "./head.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const head = new ProjectionHead(128, 512, 256); // student width 128 → teacher width 512
 * const x = tf.zeros([4, 128]) as tf.Tensor2D;
 * const y = head.apply(x);
 * console.log(y.shape, head.trainableVariables().length); // [4, 512] 4
 * tf.dispose([x, y]);
 * head.dispose();
 * ```
 */
export class ProjectionHead {
  /** Parameters, named as `nn.Sequential(Linear, ReLU, Linear)`: `0.*`, `2.*`. */
  readonly params: ParamStore;

  /**
   * A head from `inDim` student features to `outDim` teacher features through
   * `hidden` units, with weights initialised from `seed`.
   *
   * @throws {RangeError} When a width is not a positive integer.
   */
  constructor(
    /** Student feature width, the input. */
    readonly inDim: number,
    /** Teacher feature width, the output. */
    readonly outDim: number,
    /** Hidden width. */
    readonly hidden = 2048,
    seed = 0,
  ) {
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
  apply(x: Tensor2D): Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.inDim) {
      throw new RangeError(
        `projection head: input shape [${x.shape}] is not [batch, ${this.inDim}]`,
      );
    }
    const p = (n: string) => this.params.get(n) as Tensor;
    return tf.tidy(() => {
      const h = tf.relu(tf.add(tf.matMul(x, p("0.weight") as Tensor2D), p("0.bias")));
      return tf.add(tf.matMul(h as Tensor2D, p("2.weight") as Tensor2D), p("2.bias"));
    });
  }

  /** The head's trainable variables. */
  trainableVariables(): Variable[] {
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
