/**
 * The optimizer updates on WebGPU as one dispatch per variable, writing the
 * new weight and its slots together, instead of the 6 (SGD) to 12 (AdamW)
 * elementwise programs tfjs runs per variable for the same formulas
 * (`lib/optim/optim.ts`, whose order of operations they keep):
 *
 * - `CossSgdUpdate(p, g[, buf])` → `[p'[, buf']]`: `g ← g + wd·p`;
 *   `buf' = μ·buf + g`; `g ← g + μ·buf'` (Nesterov) or `buf'`; `p' = p − lr·g`.
 * - `CossAdamWUpdate(p, g, m, v, coef)` → `[p', m', v']`, with
 *   `coef = [lr/(1−β₁ᵗ), √(1−β₂ᵗ)]` computed on the device from the step
 *   count: `m' = β₁m + (1−β₁)g`; `v' = β₂v + (1−β₂)g²`;
 *   `p' = p·(1 − lr·wd) − coef₀·m'/(√v'/coef₁ + eps)`.
 *
 * Registered for `webgpu` only.
 *
 * @module
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { KernelConfig } from "../tf_types.ts";
import { bindings, linearDispatch, runMultiOutput } from "./_webgpu_multi.ts";

/** The SGD kernel's name. */
export const SGD_UPDATE = "CossSgdUpdate";
/** The AdamW kernel's name. */
export const ADAMW_UPDATE = "CossAdamWUpdate";

/** Attributes of `CossSgdUpdate`. */
export interface SgdUpdateAttrs {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** Attributes of `CossAdamWUpdate`. */
export interface AdamWUpdateAttrs {
  /** `1 − lr·weightDecay`. */
  decay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Whether to apply `decay` (weight decay ≠ 0). */
  decayed: boolean;
}

const HEAD = `
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * u.stride;
  if (i >= u.size) { return; }`;

function sgdShader(a: SgdUpdateAttrs): string {
  const momentum = a.momentum !== 0;
  const decay = a.weightDecay !== 0;
  return `
${
    bindings(momentum ? ["pOut", "bufOut"] : ["pOut"], momentum ? ["p", "g", "buf"] : ["p", "g"], [
      "size: u32",
      "stride: u32",
      "lr: f32",
      "mu: f32",
      "wd: f32",
    ])
  }
${HEAD}
  var grad = g[i];
  ${decay ? "grad = grad + p[i] * u.wd;" : ""}
  ${
    momentum
      ? `let b = buf[i] * u.mu + grad;
  bufOut[i] = b;
  ${a.nesterov ? "grad = grad + b * u.mu;" : "grad = b;"}`
      : ""
  }
  pOut[i] = p[i] - grad * u.lr;
}`;
}

function adamwShader(a: AdamWUpdateAttrs): string {
  return `
${
    bindings(["pOut", "mOut", "vOut"], ["p", "g", "m", "v", "coef"], [
      "size: u32",
      "stride: u32",
      "decay: f32",
      "beta1: f32",
      "beta2: f32",
      "c1: f32",
      "c2: f32",
      "eps: f32",
    ])
  }
${HEAD}
  let grad = g[i];
  let mNew = m[i] * u.beta1 + grad * u.c1;
  let vNew = v[i] * u.beta2 + (grad * grad) * u.c2;
  mOut[i] = mNew;
  vOut[i] = vNew;
  let denom = sqrt(vNew) / coef[1] + u.eps;
  let decayed = ${a.decayed ? "p[i] * u.decay" : "p[i] + 0.0 * u.decay"};
  pOut[i] = decayed - (mNew / denom) * coef[0];
}`;
}

function sizeOf(t: TensorInfo): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

/** `CossSgdUpdate` on webgpu. */
export function sgdUpdateWebGPUConfig(backendName = "webgpu"): KernelConfig {
  return {
    kernelName: SGD_UPDATE,
    backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { p, g, buf } = inputs as Record<string, TensorInfo>;
      const a = attrs as unknown as SgdUpdateAttrs;
      const momentum = a.momentum !== 0;
      if (momentum && !buf) throw new Error(`${SGD_UPDATE}: momentum ${a.momentum} needs buf`);
      const size = sizeOf(p);
      const dispatch = linearDispatch(size, 256);
      const key = `cossSgd_${momentum ? (a.nesterov ? "n" : "m") : "0"}${a.weightDecay ? "d" : ""}`;
      return runMultiOutput(
        backend as unknown as WebGPUBackend,
        { key, code: sgdShader(a), dispatch, name: SGD_UPDATE },
        momentum ? [p, g, buf] : [p, g],
        momentum ? [p.shape, p.shape] : [p.shape],
        [
          { type: "uint32", value: size },
          { type: "uint32", value: dispatch[0] * 256 },
          { type: "float32", value: a.lr },
          { type: "float32", value: a.momentum },
          { type: "float32", value: a.weightDecay },
        ],
      );
    },
  };
}

/** `CossAdamWUpdate` on webgpu. */
export function adamwUpdateWebGPUConfig(backendName = "webgpu"): KernelConfig {
  return {
    kernelName: ADAMW_UPDATE,
    backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { p, g, m, v, coef } = inputs as Record<string, TensorInfo>;
      const a = attrs as unknown as AdamWUpdateAttrs;
      const size = sizeOf(p);
      const dispatch = linearDispatch(size, 256);
      return runMultiOutput(
        backend as unknown as WebGPUBackend,
        {
          key: `cossAdamW_${a.decayed ? "d" : "0"}`,
          code: adamwShader(a),
          dispatch,
          name: ADAMW_UPDATE,
        },
        [p, g, m, v, coef],
        [p.shape, p.shape, p.shape],
        [
          { type: "uint32", value: size },
          { type: "uint32", value: dispatch[0] * 256 },
          { type: "float32", value: a.decay },
          { type: "float32", value: a.beta1 },
          { type: "float32", value: a.beta2 },
          { type: "float32", value: 1 - a.beta1 },
          { type: "float32", value: 1 - a.beta2 },
          { type: "float32", value: a.eps },
        ],
      );
    },
  };
}
