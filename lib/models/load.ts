/**
 * Build a zoo model and fill it from a PyTorch safetensors file in one call.
 *
 * @module
 */
import { readSafetensors } from "../io/safetensors.ts";
import type { Backbone } from "./backbone.ts";
import { checkFiniteWeights } from "./finite_weights.ts";
import { createModel, type ModelArgsMap, type ModelName } from "./registry.ts";
import { loadTorchWeights, type LoadTorchWeightsOptions } from "./torch_weights.ts";

/**
 * Create `name` with `args` and load a PyTorch state dict from `path`
 * (safetensors; `.pth` pickles are refused with the one-line conversion).
 *
 * @example A MoCo v2 ResNet-50 teacher
 * ```ts ignore
 * import { loadSafetensorsModel } from "./load.ts";
 * const teacher = await loadSafetensorsModel("moco_v2_800ep.safetensors", "resnet50", {}, {
 *   prefix: "module.encoder_q.",
 * });
 * ```
 *
 * @param path The safetensors file.
 * @param name Registry name of the architecture.
 * @param args Its arguments.
 * @param options Prefix and strictness, as {@linkcode loadTorchWeights}.
 * @returns The loaded model; the caller disposes it.
 * @throws {RangeError} When a tensor (under `options.prefix`) holds NaN or Inf, before the model is built.
 */
export async function loadSafetensorsModel<K extends ModelName>(
  path: string,
  name: K,
  args: ModelArgsMap[K] = {},
  options: LoadTorchWeightsOptions = {},
): Promise<Backbone> {
  const st = await readSafetensors(path);
  checkFiniteWeights(path, st.tensors, options.prefix);
  const model = createModel(name, args);
  try {
    loadTorchWeights(model, st.tensors, { source: path, ...options });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
