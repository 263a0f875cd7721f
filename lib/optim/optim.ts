/**
 * SGD (momentum, Nesterov, weight decay) and AdamW (decoupled weight decay)
 * with PyTorch's update rules, global-norm gradient clipping, and optimizer
 * state that checkpoints exactly: every slot and the step count are tensors
 * that {@linkcode Optimizer.state} returns and {@linkcode Optimizer.setState}
 * restores, and the update reads nothing back from the device.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Scalar, Tensor, Variable } from "../tf_types.ts";
import { ADAMW_UPDATE, SGD_UPDATE } from "../kernels/optimizer_webgpu.ts";

/** The optimizer names {@linkcode createOptimizer} accepts. */
export const OPTIMIZER_NAMES: readonly OptimizerConfig["name"][] = ["sgd", "adamw"];

/** Which optimizer, and its hyper-parameters (the `optim` section of the config). */
export interface OptimizerConfig {
  /**
   * `"sgd"` (torch.optim.SGD) or `"adamw"` (torch.optim.AdamW).
   * @default {"sgd"}
   */
  name: "sgd" | "adamw";
  /**
   * Base learning rate, the schedule's peak. {@linkcode Optimizer.apply} uses
   * the rate it is given, not this one.
   *
   * @default {0.03}
   */
  lr: number;
  /**
   * SGD momentum (0: none, no slots).
   * @default {0.9}
   */
  momentum: number;
  /**
   * SGD: Nesterov momentum (needs momentum > 0).
   * @default {false}
   */
  nesterov: boolean;
  /**
   * SGD: L2 penalty added to the gradient; AdamW: decoupled decay.
   * @default {1e-4}
   */
  weightDecay: number;
  /**
   * AdamW: decay rates of the first and second moments.
   * @default {[0.9, 0.999]}
   */
  betas: [number, number];
  /**
   * AdamW: added to the denominator.
   * @default {1e-8}
   */
  eps: number;
  /**
   * Clip gradients to this global L2 norm before each update; null: no clipping.
   * @default {null}
   */
  clipNorm: number | null;
}

/** An optimizer over a fixed list of variables; see {@linkcode createOptimizer}. */
export interface Optimizer {
  /**
   * Apply one update at learning rate `lr` (clipping first when the config
   * says so), in one `tf.tidy`. `grads` maps
   * every optimized variable's name to its gradient (what `tf.variableGrads`
   * returns); a missing or unknown name throws before anything changes. The
   * gradients stay the caller's to dispose.
   */
  apply(grads: Record<string, Tensor>, lr: number): void;
  /**
   * Every slot by name: `"step"` (a float32 scalar, the number of updates
   * applied; exact up to 2²⁴), then `"momentum/<var>"` (SGD with momentum) or `"adam_m/<var>"`
   * and `"adam_v/<var>"` (AdamW), in variable order. The tensors are
   * zero-copy snapshots that later updates do not change; the caller
   * disposes them.
   */
  state(): Record<string, Tensor>;
  /**
   * Restore every slot from `state` (e.g. a checkpoint's). Missing,
   * unexpected, mis-shaped or mistyped entries throw one `Error` naming all of
   * them, before anything is assigned. `"step"` may be int32. The caller
   * keeps ownership of (and may dispose) the tensors it passed.
   */
  setState(state: Record<string, Tensor>): void;
  /** Free every slot. Later calls throw. Idempotent. */
  dispose(): void;
}

function check(ok: boolean, key: string, what: string, value: unknown, number = true): void {
  if (ok) return;
  const shown = typeof value === "number" ? String(value) : JSON.stringify(value) ?? String(value);
  const Err = number && typeof value !== "number" ? TypeError : RangeError;
  throw new Err(`${key}: expected ${what}, got ${shown}`);
}

const isNonNegative = (v: unknown): boolean =>
  typeof v === "number" && Number.isFinite(v) && v >= 0;

/**
 * Check an optimizer config. Every key is checked, whichever optimizer is
 * named; errors name the key (`optim.lr`, `optim.betas[1]`, ...) and quote
 * the value.
 *
 * @example
 * ```ts
 * import { validateOptimizerConfig } from "./optim.ts";
 * try {
 *   validateOptimizerConfig({
 *     name: "sgd", lr: -1, momentum: 0.9, nesterov: false, weightDecay: 0,
 *     betas: [0.9, 0.999], eps: 1e-8, clipNorm: null,
 *   });
 * } catch (e) {
 *   console.log(String(e)); // RangeError: optim.lr: expected a finite number >= 0, got -1
 * }
 * ```
 *
 * @param config The optim section of the config.
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For an unknown name or an out-of-range value.
 */
export function validateOptimizerConfig(config: OptimizerConfig): void {
  if (typeof config !== "object" || config === null) {
    throw new TypeError(`optim: expected an object, got ${config}`);
  }
  const { name, lr, momentum, nesterov, weightDecay, betas, eps, clipNorm } = config;
  check(OPTIMIZER_NAMES.includes(name), "optim.name", `"sgd" or "adamw"`, name, false);
  check(isNonNegative(lr), "optim.lr", "a finite number >= 0", lr);
  check(isNonNegative(momentum), "optim.momentum", "a finite number >= 0", momentum);
  if (typeof nesterov !== "boolean") {
    throw new TypeError(`optim.nesterov: expected true or false, got ${JSON.stringify(nesterov)}`);
  }
  if (nesterov && !(momentum > 0)) {
    throw new RangeError(
      `optim.nesterov: Nesterov momentum needs optim.momentum > 0, got ${momentum}`,
    );
  }
  check(isNonNegative(weightDecay), "optim.weightDecay", "a finite number >= 0", weightDecay);
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new TypeError(`optim.betas: expected [beta1, beta2], got ${JSON.stringify(betas)}`);
  }
  betas.forEach((b, i) =>
    check(isNonNegative(b) && b < 1, `optim.betas[${i}]`, "a number in [0, 1)", b)
  );
  check(isNonNegative(eps), "optim.eps", "a finite number >= 0", eps);
  if (clipNorm !== null) {
    check(
      isNonNegative(clipNorm) && clipNorm > 0,
      "optim.clipNorm",
      "null or a number > 0",
      clipNorm,
    );
  }
}

/** Global L2 norm of a list (PyTorch's norm of the per-tensor norms) and the clipped list. */
function clipList(grads: Tensor[], maxNorm: number): { grads: Tensor[]; norm: Scalar } {
  if (grads.length === 0) return { grads: [], norm: tf.scalar(0) };
  const norms = grads.map((g) => tf.sqrt(tf.sum(tf.square(g))));
  const norm = tf.sqrt(tf.sum(tf.square(tf.stack(norms)))) as Scalar;
  // Multiplying by exactly 1 when under the limit avoids a device read (as torch does).
  const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
  return { grads: grads.map((g) => tf.mul(g, coef)), norm };
}

/**
 * Scale gradients so that their global L2 norm is at most `maxNorm`, like
 * `torch.nn.utils.clip_grad_norm_`: `norm = ‖(‖g₁‖₂, …, ‖gₙ‖₂)‖₂`,
 * `scale = maxNorm / (norm + 1e-6)`, and every gradient is multiplied by
 * `min(scale, 1)`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { clipByGlobalNorm } from "./optim.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
 * const clipped = clipByGlobalNorm(grads, 1);
 * console.log(await clipped.norm.data()); // [5]
 * console.log(await clipped.grads.a.data()); // [0.6, 0]  (times 1 / (5 + 1e-6))
 * tf.dispose([grads, clipped.grads, clipped.norm]);
 * ```
 *
 * @param grads Gradients by name; not disposed.
 * @param maxNorm The largest global norm allowed, > 0.
 * @returns New tensors (by the same names) and the pre-clip norm, all the caller's to dispose.
 * @throws {TypeError} For a `maxNorm` that is not a number.
 * @throws {RangeError} For a `maxNorm` that is not a finite number > 0.
 */
export function clipByGlobalNorm(
  grads: Record<string, Tensor>,
  maxNorm: number,
): { grads: Record<string, Tensor>; norm: Scalar } {
  check(isNonNegative(maxNorm) && maxNorm > 0, "maxNorm", "a finite number > 0", maxNorm);
  const names = Object.keys(grads);
  return tf.tidy(() => {
    const out = clipList(names.map((n) => grads[n]), maxNorm);
    return { grads: Object.fromEntries(names.map((n, i) => [n, out.grads[i]])), norm: out.norm };
  });
}

/**
 * `1 − βᵗ` on the device without cancellation: `−expm1(t · ln β)`, by Taylor
 * series where `|t · ln β| ≤ 0.5`. (`1 − pow(β, t)` in float32 is off by
 * 1.3e-5 relative for β = 0.999, where torch computes in float64.)
 */
function oneMinusPow(beta: number, t: Scalar): Scalar {
  const x = tf.mul(t, Math.log(beta));
  const small = tf.maximum(x, -0.5);
  let acc: Tensor = tf.scalar(1 / 40320);
  for (const c of [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1]) {
    acc = tf.add(c, tf.mul(small, acc));
  }
  const expm1 = tf.where(tf.greaterEqual(x, -0.5), tf.mul(small, acc), tf.sub(tf.exp(x), 1));
  return tf.neg(expm1) as Scalar;
}

/** Whether the active backend has the fused update kernel `name` (webgpu). */
function fusedOn(name: string): boolean {
  return tf.getBackend() === "webgpu" && tf.getKernel(name, "webgpu") !== undefined;
}

const zerosVariable = (v: Variable): Variable => tf.tidy(() => tf.variable(tf.zerosLike(v), false));

class SlotOptimizer implements Optimizer {
  readonly #config: OptimizerConfig;
  readonly #vars: Variable[];
  readonly #step: Variable;
  readonly #first: Variable[]; // SGD momentum buffers or Adam's m
  readonly #second: Variable[]; // Adam's v
  readonly #slots: Map<string, Variable>;
  #disposed = false;

  constructor(config: OptimizerConfig, vars: Variable[]) {
    this.#config = { ...config, betas: [...config.betas] };
    this.#vars = vars;
    this.#step = tf.tidy(() => tf.variable(tf.scalar(0), false));
    const adam = config.name === "adamw";
    const first = adam || config.momentum !== 0;
    this.#first = first ? vars.map(zerosVariable) : [];
    this.#second = adam ? vars.map(zerosVariable) : [];
    const [a, b] = adam ? ["adam_m", "adam_v"] : ["momentum", ""];
    this.#slots = new Map<string, Variable>([
      ["step", this.#step],
      ...this.#first.map((s, i) => [`${a}/${vars[i].name}`, s] as const),
      ...this.#second.map((s, i) => [`${b}/${vars[i].name}`, s] as const),
    ]);
  }

  #alive(who: string): void {
    if (this.#disposed) throw new Error(`Optimizer.${who}: the optimizer was disposed`);
  }

  apply(grads: Record<string, Tensor>, lr: number): void {
    this.#alive("apply");
    check(isNonNegative(lr), "lr", "a finite number >= 0", lr);
    const gs = this.#vars.map((v) => grads[v.name]);
    const missing = this.#vars.filter((_, i) => gs[i] === undefined).map((v) => `"${v.name}"`);
    const known = new Set(this.#vars.map((v) => v.name));
    const unknown = Object.keys(grads).filter((n) => !known.has(n)).map((n) => `"${n}"`);
    if (missing.length || unknown.length) {
      throw new Error(
        "Optimizer.apply: " + [
          missing.length ? `no gradient for ${missing.join(", ")}` : "",
          unknown.length
            ? `gradients for variables it does not optimize: ${unknown.join(", ")}`
            : "",
        ].filter(Boolean).join("; "),
      );
    }
    this.#vars.forEach((v, i) => {
      const g = gs[i];
      if (!(g instanceof tf.Tensor) || g.dtype !== "float32") {
        throw new TypeError(`Optimizer.apply: gradient of "${v.name}" is not a float32 tensor`);
      }
      if (!tf.util.arraysEqual(g.shape, v.shape)) {
        throw new RangeError(
          `Optimizer.apply: gradient of "${v.name}" has shape [${g.shape}], the variable [${v.shape}]`,
        );
      }
    });
    tf.tidy(() => {
      const clip = this.#config.clipNorm;
      const g = clip === null ? gs : clipList(gs, clip).grads;
      const t = tf.add(this.#step, 1) as Scalar;
      this.#step.assign(t);
      if (this.#config.name === "sgd") this.#sgd(g, lr);
      else this.#adamw(g, lr, t);
    });
  }

  // The formulas are in createOptimizer's documentation; the order of
  // operations follows torch's single-tensor code.
  #sgd(grads: Tensor[], lr: number): void {
    const { momentum, nesterov, weightDecay } = this.#config;
    if (fusedOn(SGD_UPDATE)) {
      // One dispatch per variable on WebGPU (lib/kernels/optimizer_webgpu.ts), same formulas.
      const attrs = { lr, momentum, weightDecay, nesterov };
      this.#vars.forEach((p, i) => {
        const inputs: tf.NamedTensorMap = { p, g: grads[i] };
        if (momentum !== 0) inputs.buf = this.#first[i];
        const [np, nb] = tf.engine().runKernel(
          SGD_UPDATE,
          inputs,
          attrs as unknown as tf.NamedAttrMap,
        ) as Tensor[];
        if (nb) this.#first[i].assign(nb);
        p.assign(np);
      });
      return;
    }
    const lrT = tf.scalar(lr);
    const mu = tf.scalar(momentum);
    const wd = tf.scalar(weightDecay);
    this.#vars.forEach((p, i) => {
      let g = grads[i];
      if (weightDecay !== 0) g = tf.add(g, tf.mul(p, wd));
      if (momentum !== 0) {
        const buf = tf.add(tf.mul(this.#first[i], mu), g);
        this.#first[i].assign(buf);
        g = nesterov ? tf.add(g, tf.mul(buf, mu)) : buf;
      }
      p.assign(tf.sub(p, tf.mul(g, lrT)));
    });
  }

  #adamw(grads: Tensor[], lr: number, t: Scalar): void {
    const { weightDecay, betas: [beta1, beta2], eps } = this.#config;
    const decay = tf.scalar(1 - lr * weightDecay);
    const b1 = tf.scalar(beta1);
    const b2 = tf.scalar(beta2);
    const c1 = tf.scalar(1 - beta1);
    const c2 = tf.scalar(1 - beta2);
    const epsT = tf.scalar(eps);
    const stepSize = tf.div(lr, oneMinusPow(beta1, t));
    const bc2Sqrt = tf.sqrt(oneMinusPow(beta2, t));
    if (fusedOn(ADAMW_UPDATE)) {
      // One dispatch per variable on WebGPU (lib/kernels/optimizer_webgpu.ts), same formulas.
      const coef = tf.stack([stepSize, bc2Sqrt]);
      const attrs = { decay: 1 - lr * weightDecay, beta1, beta2, eps, decayed: weightDecay !== 0 };
      this.#vars.forEach((p, i) => {
        const [np, m, v] = tf.engine().runKernel(
          ADAMW_UPDATE,
          { p, g: grads[i], m: this.#first[i], v: this.#second[i], coef },
          attrs as unknown as tf.NamedAttrMap,
        ) as Tensor[];
        this.#first[i].assign(m);
        this.#second[i].assign(v);
        p.assign(np);
      });
      return;
    }
    this.#vars.forEach((p, i) => {
      const g = grads[i];
      const decayed = weightDecay !== 0 ? tf.mul(p, decay) : p;
      const m = tf.add(tf.mul(this.#first[i], b1), tf.mul(g, c1));
      const v = tf.add(tf.mul(this.#second[i], b2), tf.mul(tf.square(g), c2));
      this.#first[i].assign(m);
      this.#second[i].assign(v);
      const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), epsT);
      p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize)));
    });
  }

  state(): Record<string, Tensor> {
    this.#alive("state");
    return Object.fromEntries([...this.#slots].map(([k, v]) => [k, tf.clone(v)]));
  }

  setState(state: Record<string, Tensor>): void {
    this.#alive("setState");
    if (typeof state !== "object" || state === null) {
      throw new TypeError(`Optimizer.setState: expected an object of tensors, got ${state}`);
    }
    const problems: string[] = [];
    const missing = [...this.#slots.keys()].filter((k) => !(k in state));
    if (missing.length) problems.push(`missing ${missing.map((k) => `"${k}"`).join(", ")}`);
    const extra = Object.keys(state).filter((k) => !this.#slots.has(k));
    if (extra.length) problems.push(`unexpected ${extra.map((k) => `"${k}"`).join(", ")}`);
    for (const [key, slot] of this.#slots) {
      const t = state[key];
      if (t === undefined) continue;
      const dtypes = key === "step" ? ["float32", "int32"] : ["float32"];
      if (!(t instanceof tf.Tensor) || t.isDisposed) {
        problems.push(`"${key}" is not a live tensor`);
      } else if (!tf.util.arraysEqual(t.shape, slot.shape)) {
        problems.push(`"${key}" has shape [${t.shape}], expected [${slot.shape}]`);
      } else if (!dtypes.includes(t.dtype)) {
        problems.push(`"${key}" is ${t.dtype}, expected ${dtypes.join(" or ")}`);
      }
    }
    if (problems.length) throw new Error(`Optimizer.setState: ${problems.join("; ")}`);
    tf.tidy(() => {
      for (const [key, slot] of this.#slots) slot.assign(tf.cast(state[key], "float32"));
    });
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const slot of this.#slots.values()) slot.dispose();
  }
}

/**
 * Create an SGD or AdamW optimizer over `variables`, identified by their tfjs
 * names (the keys of `tf.variableGrads`), with PyTorch 1.13's update rules.
 * Each update, at rate `lr` for parameter `p` with gradient `g`:
 *
 * - clipping (when `clipNorm` is set), as `clip_grad_norm_`: every `g` times
 *   `min(1, clipNorm / (‖(‖g₁‖₂, …, ‖gₙ‖₂)‖₂ + 1e-6))`;
 * - `sgd` (torch.optim.SGD, dampening 0): `g ← g + wd·p`;
 *   `buf ← μ·buf + g` (`buf = g` on the first step, as torch);
 *   `g ← g + μ·buf` with Nesterov, else `g ← buf`; `p ← p − lr·g`.
 *   Momentum 0 keeps no buffer;
 * - `adamw` (torch.optim.AdamW): `t ← t + 1`; `p ← p·(1 − lr·wd)`;
 *   `m ← β₁m + (1−β₁)g`; `v ← β₂v + (1−β₂)g²`;
 *   `p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + eps)`, i.e.
 *   `p − lr·m̂/(√v̂ + eps)` with `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`.
 *
 * Weight decay applies to every variable given: pass only those that train.
 * All slots are created here, up front, as zero non-trainable variables (a
 * zero buffer gives `buf = g` on the first step exactly, like torch's lazily
 * created one), so `state()` is complete from the start. Updates are
 * deterministic and read nothing back from the device: `1 − βᵗ` is computed
 * from the `step` slot on the device, to float32 accuracy (torch computes it
 * in float64; a float32 `1 − pow(β, t)` would be 1.3e-5 off for β = 0.999).
 *
 * @example One SGD step on `(w − 3)²`
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { createOptimizer } from "./optim.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const w = tf.variable(tf.scalar(1), true, "example/w");
 * const opt = createOptimizer({
 *   name: "sgd", lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0,
 *   betas: [0.9, 0.999], eps: 1e-8, clipNorm: null,
 * }, [w]);
 * const { value, grads } = tf.variableGrads(() => tf.square(tf.sub(w, 3)), [w]);
 * opt.apply(grads, 0.1); // gradient −4: w ← 1 − 0.1 · (−4)
 * console.log(await w.data()); // [1.4]
 * tf.dispose([value, grads]);
 * const state = opt.state();
 * console.log(Object.keys(state)); // ["step", "momentum/example/w"]
 * tf.dispose(state);
 * opt.dispose();
 * w.dispose();
 * ```
 *
 * @param config Which optimizer and its hyper-parameters.
 * @param variables The float32 variables to update, with unique names.
 * @returns The optimizer; `dispose()` it to free its slots.
 * @throws {TypeError} For a value of the wrong type, or a variable that is not float32.
 * @throws {RangeError} For an out-of-range config value, no variables, or duplicate names.
 */
export function createOptimizer(config: OptimizerConfig, variables: Variable[]): Optimizer {
  validateOptimizerConfig(config);
  if (!Array.isArray(variables)) {
    throw new TypeError(`createOptimizer: variables must be an array of Variable`);
  }
  if (variables.length === 0) throw new RangeError("createOptimizer: no variables to optimize");
  const seen = new Set<string>();
  variables.forEach((v, i) => {
    if (!(v instanceof tf.Variable) || v.isDisposed) {
      throw new TypeError(`createOptimizer: variables[${i}] is not a live Variable`);
    }
    if (v.dtype !== "float32") {
      throw new TypeError(`createOptimizer: variable "${v.name}" is ${v.dtype}, expected float32`);
    }
    if (seen.has(v.name)) throw new RangeError(`createOptimizer: variable "${v.name}" given twice`);
    seen.add(v.name);
  });
  return new SlotOptimizer(config, [...variables]);
}
