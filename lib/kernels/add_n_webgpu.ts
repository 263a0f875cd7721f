/**
 * `AddN` for WebGPU that works for any number of inputs.
 *
 * tfjs-webgpu 4.22 sums `n` tensors in one shader that binds every input and
 * the output as a storage buffer: `n + 1` bindings. A device gets
 * `maxStorageBuffersPerShaderStage = 8` unless it asks for more (neither
 * tfjs's device factory nor the toolkit's does), so from 8 inputs on the
 * pipeline fails validation, nothing is thrown, and the output is whatever
 * the reused buffer held before. `tf.addN` of the per-variable counts in the
 * loop's finiteness check (100 of them for a ResNet-18) thus returned
 * garbage, and `deno task distill --backend=webgpu` stopped with "non-finite
 * weights" on finite weights. tfjs's `Concat` splits its inputs at this
 * limit; `AddN` does not.
 *
 * Here at most `limit − 1` inputs go to tfjs's own kernel at once, and the
 * partial sums are summed the same way until one tensor is left.
 *
 * @module
 */
import type { KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { requireOriginal } from "./runner.ts";
import type { KernelConfig } from "../tf_types.ts";

/** Inputs one shader may read: the device's storage-buffer limit less the output. */
function maxInputs(backend: KernelBackend): number {
  const device = (backend as unknown as Partial<WebGPUBackend>).device;
  const limit = device?.limits?.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(2, limit - 1);
}

/**
 * `AddN` for the WebGPU backend `backendName`: tfjs's own kernel on chunks
 * small enough for the device's storage-buffer limit, summed as a tree.
 * The result equals tfjs's up to float32 rounding (the order of the
 * additions differs once there are more inputs than the limit).
 *
 * @example
 * ```ts ignore
 * import { registerTrainingKernels } from "./mod.ts";
 * // Records tfjs's AddN as the delegate, then registers this one in its place.
 * registerTrainingKernels("webgpu"); // ["Conv2DBackpropFilter", "AddN"]
 * ```
 *
 * @param backendName The WebGPU backend's registered name.
 * @returns The kernel registration.
 */
export function addNWebGPUConfig(backendName: string): KernelConfig {
  return {
    kernelName: "AddN",
    backendName,
    kernelFunc: (args) => {
      const original = requireOriginal("AddN", backendName);
      const backend = args.backend as KernelBackend;
      const inputs = args.inputs as unknown as TensorInfo[];
      const max = maxInputs(backend);
      if (inputs.length <= max) return original.kernelFunc(args);
      const sum = (terms: TensorInfo[]) =>
        original.kernelFunc({ inputs: terms as never, backend, attrs: {} }) as TensorInfo;
      const temps: TensorInfo[] = [];
      try {
        let terms = inputs;
        while (terms.length > max) {
          const next: TensorInfo[] = [];
          for (let i = 0; i < terms.length; i += max) {
            const chunk = terms.slice(i, i + max);
            if (chunk.length === 1) {
              next.push(chunk[0]);
            } else {
              const partial = sum(chunk);
              temps.push(partial);
              next.push(partial);
            }
          }
          terms = next;
        }
        return sum(terms);
      } finally {
        for (const t of temps) backend.disposeData(t.dataId);
      }
    },
  };
}
