/**
 * The model zoo: ResNet-18/34/50, MobileNetV2, EfficientNet-B0 and ViT
 * backbones with PyTorch-compatible parameter names, the CoSS projection
 * head, weights in from PyTorch safetensors and tfjs `model.json`, and
 * exports out to tfjs graph models, PyTorch and ONNX (onnxruntime, transformers.js).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { createModel } from "./mod.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const student = createModel("resnet18", { stem: "cifar", width: 0.25, inChannels: 1 });
 * const features = student.embed(tf.zeros([2, 28, 28, 1]));
 * console.log(features.shape, student.parameterCount); // [2, 128] ...
 * tf.dispose(features);
 * student.dispose();
 * ```
 *
 * @module
 */
// Re-exported (same bindings as in the modules that own them) so this module's docs are complete on their own.
export type {
  GraphModel,
  LayersModel,
  ModelArtifacts,
  Tensor,
  Tensor2D,
  Tensor4D,
  Variable,
} from "../tf_types.ts";
export type { SafetensorsInput, SafetensorsWritableDtype } from "../io/safetensors.ts";
export { Backbone, type BackboneInfo, type MobileNetArgs } from "./backbone.ts";
export type { ConvOptions, LinearOptions, Ops } from "./ops.ts";
export { type EfficientNetArgs, EfficientNetB0 } from "./efficientnet.ts";
export {
  type ExportFormat,
  type ExportOptions,
  exportStudent,
  GRAPH_INPUT,
  GRAPH_OUTPUT,
  graphModelArtifacts,
  type ModelCard,
} from "./export.ts";
export { createProjectionHead, ProjectionHead, type ProjectionHeadOptions } from "./head.ts";
export {
  ONNX_INPUT,
  ONNX_OPSET,
  ONNX_OUTPUT,
  onnxModelBytes,
  type OnnxPreprocessing,
} from "./onnx_export.ts";
export { loadSafetensorsModel } from "./load.ts";
export { MobileNetV2, type MobileNetV2Args } from "./mobilenet_v2.ts";
export { type ParamEntry, type ParamLayout, ParamStore } from "./params.ts";
export {
  createModel,
  listModels,
  modelArgNames,
  type ModelArgsMap,
  type ModelName,
} from "./registry.ts";
export { ResNet, type ResNetArgs } from "./resnet.ts";
export {
  loadTfjsTeacher,
  type TfjsModelFormat,
  type TfjsTeacher,
  type TfjsTeacherOptions,
} from "./tfjs_teacher.ts";
export {
  DEFAULT_IGNORE,
  type LoadReport,
  loadTorchWeights,
  type LoadTorchWeightsOptions,
  type RawTensor,
  torchShape,
  torchStateDict,
} from "./torch_weights.ts";
export { type Embedder, embedInference, type EmbedOptions } from "./types.ts";
export {
  loadOnnxTeacher,
  type OnnxInputSpec,
  type OnnxTeacher,
  type OnnxTeacherOptions,
} from "./onnx_teacher.ts";
export { ViT, VIT_PRESETS, type ViTArgs } from "./vit.ts";
export {
  BUNDLED_TEACHERS,
  type CardKnn,
  type CardLinear,
  loadBundledTeacher,
  type TeacherCard,
} from "./bundled.ts";
