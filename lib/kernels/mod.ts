/**
 * Kernels tfjs 4.22 lacks or runs badly, registered per backend so that conv
 * nets train everywhere:
 *
 * | kernel | wasm | cpu | webgpu |
 * |---|---|---|---|
 * | `Conv2DBackpropFilter` | added (tfjs has none) | replaced | replaced (implicit GEMM) |
 * | `Conv2DBackpropInput` | replaced (a forward conv at stride 1) | native | native |
 * | `DepthwiseConv2dNativeBackpropFilter` | added | native | native |
 * | `DepthwiseConv2dNativeBackpropInput` | added | native | native |
 * | `UnsortedSegmentSum` | added | native | native |
 * | `Sum` | replaced over leading axes of float32 (batch norm's), else tfjs's | native | native |
 * | `MaxPoolGrad` | replaced for float32 2×2 windows at stride 2, else tfjs's | native | native |
 * | `AddN` | native | native | replaced beyond the device's storage-buffer limit (tfjs's returns garbage from 8 inputs) |
 * | `CossBatchNormForward`, `CossBatchNormGrad` | — | — | added: training batch norm, running statistics included |
 * | `CossBatchNormInference` | — | — | added: inference batch norm in one dispatch |
 * | `CossSgdUpdate`, `CossAdamWUpdate` | — | — | added: one dispatch per variable, weight and slots together |
 *
 * What each gains, and the dispatch counts per training step, are measured in
 * docs/performance.md ("Kernels"; `deno task bench`).
 *
 * The `Coss*` kernels are the toolkit's own ops (`tf.engine().runKernel`):
 * `batchNormTraining`, `EagerOps.batchNorm` and the optimizers call them on
 * webgpu and compose tfjs ops elsewhere. They record several outputs into
 * tfjs-webgpu's command stream (`_webgpu_multi.ts`).
 *
 * @module
 */
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs-core";
import type { BackendName } from "../backend_names.ts";
import type { KernelConfig } from "../tf_types.ts";
import { recordOriginal } from "./runner.ts";
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from "./conv2d_grads.ts";
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from "./depthwise_grads.ts";
import { unsortedSegmentSumConfig } from "./unsorted_segment_sum.ts";
import { conv2DBackpropFilterWebGPUConfig } from "./conv2d_filter_webgpu.ts";
import { addNWebGPUConfig } from "./add_n_webgpu.ts";
import { sumLeadingConfig } from "./sum_leading.ts";
import { maxPoolGradConfig } from "./max_pool_grad.ts";
import {
  batchNormForwardWebGPUConfig,
  batchNormGradWebGPUConfig,
  batchNormInferenceWebGPUConfig,
} from "./batch_norm_webgpu.ts";
import { adamwUpdateWebGPUConfig, sgdUpdateWebGPUConfig } from "./optimizer_webgpu.ts";

// Re-exported (same bindings as in the modules that own them) so this module's docs are complete on their own.
export type { BackendChoice, BackendName } from "../backend_names.ts";
export type { KernelConfig } from "../tf_types.ts";
export {
  conv2DBackpropFilterConfig,
  type Conv2DBackpropFilterOptions,
  conv2DBackpropInputConfig,
} from "./conv2d_grads.ts";
export { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from "./depthwise_grads.ts";
export { unsortedSegmentSumConfig } from "./unsorted_segment_sum.ts";
export {
  conv2DBackpropFilterWebGPUConfig,
  type Conv2DFilterGemmOptions,
  type FilterGemmPlan,
  planFilterGemm,
} from "./conv2d_filter_webgpu.ts";
export { sumLeadingConfig } from "./sum_leading.ts";
export { addNWebGPUConfig } from "./add_n_webgpu.ts";
export { maxPoolGradConfig } from "./max_pool_grad.ts";
export {
  BATCH_NORM_FORWARD,
  BATCH_NORM_GRAD,
  BATCH_NORM_INFERENCE,
  batchNormForwardWebGPUConfig,
  batchNormGradWebGPUConfig,
  batchNormInferenceWebGPUConfig,
  type BatchNormPlan,
  planBatchNorm,
} from "./batch_norm_webgpu.ts";
export {
  ADAMW_UPDATE,
  type AdamWUpdateAttrs,
  adamwUpdateWebGPUConfig,
  SGD_UPDATE,
  type SgdUpdateAttrs,
  sgdUpdateWebGPUConfig,
} from "./optimizer_webgpu.ts";
export { originalKernel } from "./runner.ts";

/** Builds a tfjs kernel registration (`tf.registerKernel`'s argument) for the named backend. */
export type KernelFactory = (backendName: string) => KernelConfig;

/** Which kernels each backend gets, as factories over the backend's name. */
export const TRAINING_KERNELS: Readonly<Record<BackendName, readonly KernelFactory[]>> = {
  wasm: [
    conv2DBackpropFilterConfig,
    conv2DBackpropInputConfig,
    depthwiseBackpropFilterConfig,
    depthwiseBackpropInputConfig,
    unsortedSegmentSumConfig,
    sumLeadingConfig,
    maxPoolGradConfig,
  ],
  cpu: [conv2DBackpropFilterConfig],
  webgpu: [
    conv2DBackpropFilterWebGPUConfig,
    addNWebGPUConfig,
    batchNormForwardWebGPUConfig,
    batchNormGradWebGPUConfig,
    batchNormInferenceWebGPUConfig,
    sgdUpdateWebGPUConfig,
    adamwUpdateWebGPUConfig,
  ],
};

const registered = new Map<BackendName, string[]>();

/**
 * Register the training kernels for `backend` (idempotent) and return their
 * names. A kernel the backend already had is kept as a delegate, for the
 * layouts the replacement does not handle, and its setup still runs.
 *
 * @example
 * ```ts
 * import { registerTrainingKernels } from "./mod.ts";
 * console.log(registerTrainingKernels("cpu")); // ["Conv2DBackpropFilter"]
 * ```
 */
export function registerTrainingKernels(backend: BackendName): string[] {
  const done = registered.get(backend);
  if (done) return [...done];
  const names: string[] = [];
  for (const factory of TRAINING_KERNELS[backend]) {
    const config = factory(backend);
    recordOriginal(config.kernelName, backend);
    const original = getKernel(config.kernelName, backend);
    if (original) unregisterKernel(config.kernelName, backend);
    // tfjs-wasm binds a kernel's C++ function in its setup, which runs only for
    // registered kernels: keep it, so that the delegate to the original works.
    const setupFunc = config.setupFunc ?? original?.setupFunc;
    registerKernel(setupFunc ? { ...config, setupFunc } : config);
    names.push(config.kernelName);
  }
  registered.set(backend, names);
  return [...names];
}
