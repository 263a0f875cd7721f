/**
 * Training-mode batch norm on WebGPU in six dispatches (three each way)
 * instead of the ~33 programs tfjs runs for the same formulas
 * (`lib/models/batch_norm.ts`), with the running statistics updated in the
 * same pass.
 *
 * Over the `n` rows of `x` viewed as `[n, C]` (every axis but the last):
 *
 * - `CossBatchNormForward(x, γ, β, runMean, runVar)` → `[y, μ, 1/σ, runMean',
 *   runVar']`: per-block Welford statistics (one workgroup per block of rows
 *   and tile of channels), merged per channel with Chan's formula (the
 *   biased variance, `σ = √(var + ε)`, and the running averages
 *   `r ← (1 − m)·r + m·s` with the unbiased variance, as PyTorch), then
 *   `y = (x − μ)·(γ/σ) + β`;
 * - `CossBatchNormGrad(dy, x, μ, 1/σ, γ)` → `[dx, dγ, dβ]`: per-block sums of
 *   `dy` and `dy·x̂` merged into `dβ = Σdy`, `dγ = Σdy·x̂`, then
 *   `dx = (γ/σ)·(dy − dβ/n − x̂·dγ/n)`.
 *
 * - `CossBatchNormInference(x, γ, β, runMean, runVar)` → `y = x·s + (β − runMean·s)` with
 *   `s = γ/√(runVar + ε)`: one dispatch instead of about five.
 *
 * Registered for `webgpu` only; `batchNormTraining` uses them there and its
 * tfjs-op formulation elsewhere.
 *
 * @module
 */
import type { KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { KernelConfig } from "../tf_types.ts";
import { bindings, linearDispatch, runMultiOutput } from "./_webgpu_multi.ts";

/** The forward kernel's name. */
export const BATCH_NORM_FORWARD = "CossBatchNormForward";
/** The gradient kernel's name. */
export const BATCH_NORM_GRAD = "CossBatchNormGrad";
/** The inference kernel's name. */
export const BATCH_NORM_INFERENCE = "CossBatchNormInference";

/** How rows and channels are split over workgroups of 256 threads. */
export interface BatchNormPlan {
  /** Channels per workgroup (threads along x). */
  tc: number;
  /** Row lanes per workgroup (threads along y), `256 / tc`. */
  tr: number;
  /** Rows each workgroup reduces. */
  rowsPerBlock: number;
  /** Blocks of rows. */
  blocks: number;
}

/**
 * The split for `rows × channels`: up to 64 channels a workgroup (adjacent
 * threads read adjacent channels of a row), and up to 512 blocks of rows so
 * that a large batch fills a GPU while each thread still sums several rows.
 *
 * @example
 * ```ts
 * import { planBatchNorm } from "./batch_norm_webgpu.ts";
 * // ResNet-18's first layer at batch 256 on 32×32: 262144 rows of 64 channels.
 * console.log(planBatchNorm(262144, 64)); // { tc: 64, tr: 4, rowsPerBlock: 512, blocks: 512 }
 * ```
 */
export function planBatchNorm(rows: number, channels: number): BatchNormPlan {
  let tc = 1;
  while (tc < Math.min(64, channels)) tc *= 2;
  const tr = 256 / tc;
  const blocks = Math.max(1, Math.min(512, Math.ceil(rows / (tr * 4))));
  const rowsPerBlock = Math.ceil(rows / blocks);
  return { tc, tr, rowsPerBlock, blocks: Math.ceil(rows / rowsPerBlock) };
}

const ROWS = ["rows: u32", "channels: u32", "rowsPerBlock: u32", "blocks: u32"];

/** Per-block partials over rows: Welford `(mean, M2)` (stats) or plain sums (grad). */
function partialsShader(plan: BatchNormPlan, grad: boolean): string {
  const { tc, tr } = plan;
  const outs = grad ? ["pSumDy", "pSumDyXhat"] : ["pMean", "pM2"];
  const ins = grad ? ["dy", "x", "mean", "invStd"] : ["x"];
  const accumulate = grad
    ? `let g = dy[r * u.channels + c];
        a = a + g;
        b = b + g * (x[r * u.channels + c] - mu) * rs;`
    : `let v = x[r * u.channels + c];
        n = n + 1.0;
        let d = v - a;
        a = a + d / n;
        b = b + d * (v - a);`;
  const combine = grad
    ? `sA[i] = sA[i] + sA[j];
          sB[i] = sB[i] + sB[j];`
    : `let na = sN[i];
          let nb = sN[j];
          let nn = na + nb;
          if (nn > 0.0) {
            let delta = sA[j] - sA[i];
            sA[i] = sA[i] + delta * nb / nn;
            sB[i] = sB[i] + sB[j] + delta * delta * na * nb / nn;
            sN[i] = nn;
          }`;
  return `
${bindings(outs, ins, ROWS)}
var<workgroup> sA: array<f32, 256>;
var<workgroup> sB: array<f32, 256>;
var<workgroup> sN: array<f32, 256>;

@compute @workgroup_size(${tc}, ${tr}, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = wid.x * ${tc}u + lid.x;
  let block = wid.y;
  let r0 = block * u.rowsPerBlock;
  let r1 = min(r0 + u.rowsPerBlock, u.rows);
  var a = 0.0;
  var b = 0.0;
  var n = 0.0;
  if (c < u.channels) {
    ${grad ? "let mu = mean[c];\n    let rs = invStd[c];" : ""}
    for (var r = r0 + lid.y; r < r1; r = r + ${tr}u) {
      ${accumulate}
    }
  }
  let i = lid.y * ${tc}u + lid.x;
  sA[i] = a;
  sB[i] = b;
  sN[i] = n;
  workgroupBarrier();
  for (var s = ${tr / 2}u; s > 0u; s = s / 2u) {
    if (lid.y < s) {
      let j = (lid.y + s) * ${tc}u + lid.x;
      ${combine}
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && c < u.channels) {
    ${outs[0]}[block * u.channels + c] = sA[lid.x];
    ${outs[1]}[block * u.channels + c] = sB[lid.x];
  }
}`;
}

/** Merge the blocks per channel: statistics and running averages, or the two gradient sums. */
function finalizeShader(grad: boolean): string {
  if (grad) {
    return `
${bindings(["dGamma", "dBeta"], ["pSumDy", "pSumDyXhat"], ROWS)}
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= u.channels) { return; }
  var sumDy = 0.0;
  var sumDyXhat = 0.0;
  for (var k = 0u; k < u.blocks; k = k + 1u) {
    sumDy = sumDy + pSumDy[k * u.channels + c];
    sumDyXhat = sumDyXhat + pSumDyXhat[k * u.channels + c];
  }
  dGamma[c] = sumDyXhat;
  dBeta[c] = sumDy;
}`;
  }
  return `
${
    bindings(["mean", "invStd", "runMeanOut", "runVarOut"], ["pMean", "pM2", "runMean", "runVar"], [
      ...ROWS,
      "eps: f32",
      "keep: f32",
      "momentum: f32",
      "unbias: f32",
    ])
  }
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= u.channels) { return; }
  var n = 0.0;
  var m = 0.0;
  var m2 = 0.0;
  for (var k = 0u; k < u.blocks; k = k + 1u) {
    let nb = f32(min(u.rowsPerBlock, u.rows - k * u.rowsPerBlock));
    let nn = n + nb;
    let delta = pMean[k * u.channels + c] - m;
    m = m + delta * nb / nn;
    m2 = m2 + pM2[k * u.channels + c] + delta * delta * n * nb / nn;
    n = nn;
  }
  let variance = m2 / n;
  mean[c] = m;
  invStd[c] = 1.0 / sqrt(variance + u.eps);
  runMeanOut[c] = runMean[c] * u.keep + m * u.momentum;
  runVarOut[c] = runVar[c] * u.keep + (variance * u.unbias) * u.momentum;
}`;
}

/** `y = (x − μ)·(γ/σ) + β`, or the gradient `dx`, one invocation per element. */
function elementwiseShader(grad: boolean): string {
  const ins = grad
    ? ["dy", "x", "mean", "invStd", "gamma", "dGamma", "dBeta"]
    : ["x", "mean", "invStd", "gamma", "beta"];
  const body = grad
    ? `let xhat = (x[i] - mean[c]) * invStd[c];
  out[i] = gamma[c] * invStd[c] * (dy[i] - dBeta[c] * u.invN - xhat * dGamma[c] * u.invN);`
    : `out[i] = (x[i] - mean[c]) * (gamma[c] * invStd[c]) + beta[c];`;
  return `
${
    bindings(["out"], ins, [
      "size: u32",
      "channels: u32",
      "stride: u32",
      ...(grad ? ["invN: f32"] : []),
    ])
  }
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * u.stride;
  if (i >= u.size) { return; }
  let c = i % u.channels;
  ${body}
}`;
}

function inferenceShader(): string {
  return `
${
    bindings(["out"], ["x", "gamma", "beta", "runMean", "runVar"], [
      "size: u32",
      "channels: u32",
      "stride: u32",
      "eps: f32",
    ])
  }
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * u.stride;
  if (i >= u.size) { return; }
  let c = i % u.channels;
  let s = gamma[c] * (1.0 / sqrt(runVar[c] + u.eps));
  out[i] = x[i] * s + (beta[c] - runMean[c] * s);
}`;
}

/** `CossBatchNormInference` on webgpu: attr `eps`. */
export function batchNormInferenceWebGPUConfig(backendName = "webgpu"): KernelConfig {
  return {
    kernelName: BATCH_NORM_INFERENCE,
    backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, gamma, beta, runMean, runVar } = inputs as Record<string, TensorInfo>;
      const { eps } = attrs as unknown as { eps: number };
      const [, channels] = rowsAndChannels(x.shape);
      const size = x.shape.reduce((a, b) => a * b, 1);
      const dispatch = linearDispatch(size, 256);
      return runMultiOutput(
        backend as unknown as WebGPUBackend,
        {
          key: "cossBatchNormInference",
          code: inferenceShader(),
          dispatch,
          name: BATCH_NORM_INFERENCE,
        },
        [x, gamma, beta, runMean, runVar],
        [x.shape],
        [
          { type: "uint32", value: size },
          { type: "uint32", value: channels },
          { type: "uint32", value: dispatch[0] * 256 },
          { type: "float32", value: eps },
        ],
      )[0];
    },
  };
}

function rowsAndChannels(shape: number[]): [number, number] {
  const channels = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return [rows, channels];
}

function rowUniforms(rows: number, channels: number, plan: BatchNormPlan) {
  return [
    { type: "uint32" as const, value: rows },
    { type: "uint32" as const, value: channels },
    { type: "uint32" as const, value: plan.rowsPerBlock },
    { type: "uint32" as const, value: plan.blocks },
  ];
}

/**
 * The two-stage reduction over rows: per-block partials of `partialInputs`
 * (Welford statistics, or the two gradient sums), then their merge per
 * channel, which also reads `extraInputs` and writes `outputs` tensors of
 * `[C]`. The partials are freed.
 */
function reduceRows(
  webgpu: WebGPUBackend,
  grad: boolean,
  shape: number[],
  stage: {
    partialInputs: TensorInfo[];
    extraInputs: TensorInfo[];
    outputs: number;
    uniforms: { type: "float32"; value: number }[];
  },
): TensorInfo[] {
  const [rows, channels] = rowsAndChannels(shape);
  const plan = planBatchNorm(rows, channels);
  const name = grad ? "CossBatchNormGradSums" : "CossBatchNormStats";
  const partials = runMultiOutput(
    webgpu,
    {
      key: `${name}_${plan.tc}`,
      code: partialsShader(plan, grad),
      dispatch: [Math.ceil(channels / plan.tc), plan.blocks, 1],
      name,
    },
    stage.partialInputs,
    [[plan.blocks, channels], [plan.blocks, channels]],
    rowUniforms(rows, channels, plan),
  );
  try {
    return runMultiOutput(
      webgpu,
      {
        key: `${name}Final`,
        code: finalizeShader(grad),
        dispatch: [Math.ceil(channels / 64), 1, 1],
        name: `${name}Final`,
      },
      [...partials, ...stage.extraInputs],
      Array.from({ length: stage.outputs }, () => [channels]),
      [...rowUniforms(rows, channels, plan), ...stage.uniforms],
    );
  } finally {
    for (const p of partials) (webgpu as unknown as KernelBackend).disposeData(p.dataId);
  }
}

function elementwise(
  backend: WebGPUBackend,
  grad: boolean,
  inputs: TensorInfo[],
  shape: number[],
  channels: number,
  invN?: number,
): TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  const dispatch = linearDispatch(size, 256);
  return runMultiOutput(
    backend,
    {
      key: `cossBatchNorm${grad ? "Dx" : "Normalize"}`,
      code: elementwiseShader(grad),
      dispatch,
      name: grad ? "CossBatchNormDx" : "CossBatchNormNormalize",
    },
    inputs,
    [shape],
    [
      { type: "uint32", value: size },
      { type: "uint32", value: channels },
      { type: "uint32", value: dispatch[0] * 256 },
      ...(grad ? [{ type: "float32" as const, value: invN! }] : []),
    ],
  )[0];
}

/** `CossBatchNormForward` on webgpu: attrs `eps` and `momentum` (of the running averages). */
export function batchNormForwardWebGPUConfig(backendName = "webgpu"): KernelConfig {
  return {
    kernelName: BATCH_NORM_FORWARD,
    backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, gamma, beta, runMean, runVar } = inputs as Record<string, TensorInfo>;
      const { eps, momentum } = attrs as unknown as { eps: number; momentum: number };
      const webgpu = backend as unknown as WebGPUBackend;
      const [rows, channels] = rowsAndChannels(x.shape);
      const [mean, invStd, runMeanOut, runVarOut] = reduceRows(webgpu, false, x.shape, {
        partialInputs: [x],
        extraInputs: [runMean, runVar],
        outputs: 4,
        uniforms: [
          { type: "float32", value: eps },
          { type: "float32", value: 1 - momentum },
          { type: "float32", value: momentum },
          { type: "float32", value: rows > 1 ? rows / (rows - 1) : 1 },
        ],
      });
      const y = elementwise(webgpu, false, [x, mean, invStd, gamma, beta], x.shape, channels);
      return [y, mean, invStd, runMeanOut, runVarOut];
    },
  };
}

/** `CossBatchNormGrad` on webgpu: `dy, x, mean, invStd, gamma` → `[dx, dGamma, dBeta]`. */
export function batchNormGradWebGPUConfig(backendName = "webgpu"): KernelConfig {
  return {
    kernelName: BATCH_NORM_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { dy, x, mean, invStd, gamma } = inputs as Record<string, TensorInfo>;
      const webgpu = backend as unknown as WebGPUBackend;
      const [rows, channels] = rowsAndChannels(x.shape);
      const [dGamma, dBeta] = reduceRows(webgpu, true, x.shape, {
        partialInputs: [dy, x, mean, invStd],
        extraInputs: [],
        outputs: 2,
        uniforms: [],
      });
      const dx = elementwise(
        webgpu,
        true,
        [dy, x, mean, invStd, gamma, dGamma, dBeta],
        x.shape,
        channels,
        1 / rows,
      );
      return [dx, dGamma, dBeta];
    },
  };
}
