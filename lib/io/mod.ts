/**
 * File input and output: the safetensors format (the weights and checkpoint
 * format of the toolkit, readable by PyTorch) and crash-safe writes.
 *
 * - {@linkcode readSafetensors} / {@linkcode writeSafetensors}: files;
 *   {@linkcode parseSafetensors} / {@linkcode serializeSafetensors} /
 *   {@linkcode encodeSafetensors}: bytes.
 * - {@linkcode tensorsFromSafetensors} / {@linkcode safetensorsFromTensors}:
 *   to and from tfjs tensors.
 * - {@linkcode writeFileAtomic}: temporary file, fsync, rename.
 *
 * @example Round trip through bytes
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "./mod.ts";
 *
 * const bytes = serializeSafetensors({
 *   "head.weight": { dtype: "F16", shape: [2, 2], values: [0.5, -1, 65504, 1e-7] },
 * });
 * const { tensors } = parseSafetensors(bytes, { source: "head.safetensors" });
 * console.log(tensors.get("head.weight")?.values); // Float32Array [0.5, -1, 65504, 1.1920928955078125e-7]
 * ```
 *
 * @module
 */
// Re-exported (same bindings as in the modules that own them) so this module's docs are complete on their own.
export type { IOHandler, Tensor } from "../tf_types.ts";
export {
  encodeSafetensors,
  parseSafetensors,
  type ParseSafetensorsOptions,
  readSafetensors,
  type Safetensors,
  type SafetensorsDtype,
  safetensorsFromTensors,
  type SafetensorsInput,
  type SafetensorsTensor,
  type SafetensorsWritableDtype,
  serializeSafetensors,
  tensorsFromSafetensors,
  writeSafetensors,
} from "./safetensors.ts";
export { type WriteAtomicOptions, writeFileAtomic } from "./atomic.ts";
export { fileSystemHandler, type FileSystemHandlerOptions } from "./tfjs_files.ts";
