/**
 * Named parameter storage for the model zoo. Names follow the PyTorch
 * reference implementations (torchvision for CNNs, timm for ViT), so weights
 * move between the two by name; layouts are tfjs's (NHWC convs).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Tensor, Variable } from "../tf_types.ts";

/**
 * How a parameter's tfjs layout relates to PyTorch's:
 * - `conv`: tfjs `[kh,kw,in,out]`, PyTorch `[out,in,kh,kw]`;
 * - `depthwise`: tfjs `[kh,kw,C,1]`, PyTorch `[C,1,kh,kw]`;
 * - `linear`: tfjs `[in,out]`, PyTorch `[out,in]`;
 * - `plain`: identical (biases, norms, tokens).
 */
export type ParamLayout = "conv" | "depthwise" | "linear" | "plain";

/** One named parameter or buffer. */
export interface ParamEntry {
  /** The variable holding the value, in tfjs layout. */
  variable: Variable;
  /** Layout relation to PyTorch. */
  layout: ParamLayout;
  /** Trained by the optimizer (weights) or updated by the forward pass (BN statistics). */
  trainable: boolean;
}

/** A deterministic stream of seeds for initialisers. */
function seedStream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/**
 * Named variables of one model; owns and disposes them.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { ParamStore } from "./params.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const params = new ParamStore(0);
 * params.conv("conv1.weight", 3, 3, 1, 8); // tfjs layout [kh, kw, in, out]
 * params.batchNorm("bn1", 8);
 * console.log(params.names().length, params.countTrainable()); // 5 88 (running stats are not trained)
 * console.log(params.get("conv1.weight").shape); // [3, 3, 1, 8]
 * params.dispose();
 * ```
 */
export class ParamStore {
  readonly #entries = new Map<string, ParamEntry>();
  readonly #nextSeed: () => number;

  /**
   * An empty store whose initialisers draw their seeds from `seed`.
   *
   * @param seed Seed for the initialisers, so a model is reproducible.
   */
  constructor(seed = 0) {
    this.#nextSeed = seedStream(seed);
  }

  /** Add a parameter initialised by `init`; the tensor `init` returns is owned. */
  add(
    name: string,
    layout: ParamLayout,
    trainable: boolean,
    init: (seed: number) => Tensor,
  ): void {
    if (this.#entries.has(name)) throw new Error(`Duplicate parameter name "${name}"`);
    const seed = this.#nextSeed();
    const variable = tf.tidy(() => tf.variable(init(seed), trainable, undefined, "float32"));
    this.#entries.set(name, { variable, layout, trainable });
  }

  /** Conv weight `[kh,kw,in,out]`, Kaiming-normal with fan-out as torchvision does. */
  conv(name: string, kh: number, kw: number, cin: number, cout: number): void {
    const std = Math.sqrt(2 / (cout * kh * kw));
    this.add(name, "conv", true, (s) => tf.randomNormal([kh, kw, cin, cout], 0, std, "float32", s));
  }

  /** Depthwise weight `[kh,kw,C,1]`, Kaiming-normal with fan-out. */
  depthwise(name: string, kh: number, kw: number, channels: number): void {
    const std = Math.sqrt(2 / (kh * kw));
    this.add(
      name,
      "depthwise",
      true,
      (s) => tf.randomNormal([kh, kw, channels, 1], 0, std, "float32", s),
    );
  }

  /** Linear layer `prefix.weight [in,out]` (+ `prefix.bias`), PyTorch's default uniform init. */
  linear(prefix: string, cin: number, cout: number, bias = true): void {
    const bound = 1 / Math.sqrt(cin);
    this.add(
      `${prefix}.weight`,
      "linear",
      true,
      (s) => tf.randomUniform([cin, cout], -bound, bound, "float32", s),
    );
    if (bias) {
      this.add(
        `${prefix}.bias`,
        "plain",
        true,
        (s) => tf.randomUniform([cout], -bound, bound, "float32", s),
      );
    }
  }

  /** Batch norm: `weight`, `bias` (trainable), `running_mean`, `running_var` (buffers). */
  batchNorm(prefix: string, channels: number): void {
    this.add(`${prefix}.weight`, "plain", true, () => tf.ones([channels]));
    this.add(`${prefix}.bias`, "plain", true, () => tf.zeros([channels]));
    this.add(`${prefix}.running_mean`, "plain", false, () => tf.zeros([channels]));
    this.add(`${prefix}.running_var`, "plain", false, () => tf.ones([channels]));
  }

  /** Layer norm: `weight` (ones) and `bias` (zeros). */
  layerNorm(prefix: string, channels: number): void {
    this.add(`${prefix}.weight`, "plain", true, () => tf.ones([channels]));
    this.add(`${prefix}.bias`, "plain", true, () => tf.zeros([channels]));
  }

  /** A bias or token, zero or truncated-normal (std) initialised. */
  vector(name: string, shape: number[], std = 0): void {
    this.add(name, "plain", true, (s) =>
      std === 0 ? tf.zeros(shape) : tf.clipByValue(
        tf.randomNormal(shape, 0, std, "float32", s),
        -2 * std,
        2 * std,
      ));
  }

  /** The variable called `name`; throws naming it if absent. */
  get(name: string): Variable {
    const entry = this.#entries.get(name);
    if (!entry) throw new Error(`No parameter named "${name}"`);
    return entry.variable;
  }

  /** The entry called `name`, or undefined. */
  entry(name: string): ParamEntry | undefined {
    return this.#entries.get(name);
  }

  /** All names, in creation order. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** `[name, entry]` pairs in creation order. */
  entries(): [string, ParamEntry][] {
    return [...this.#entries.entries()];
  }

  /** The trainable variables, in creation order. */
  trainable(): Variable[] {
    return [...this.#entries.values()].filter((e) => e.trainable).map((e) => e.variable);
  }

  /** Number of trainable scalars. */
  countTrainable(): number {
    return this.trainable().reduce((n, v) => n + v.size, 0);
  }

  /** Free every variable. */
  dispose(): void {
    for (const e of this.#entries.values()) e.variable.dispose();
    this.#entries.clear();
  }
}
