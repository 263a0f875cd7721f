/**
 * CoSS: unsupervised knowledge distillation with space similarity, on
 * TensorFlow.js for Deno.
 *
 * A frozen teacher maps images to embeddings; a small student learns, without
 * labels, to reproduce that embedding space with the CoSS loss
 * `L = scale·(L_co + λ·L_ss)` (Singh & Wang, ECCV 2024, arXiv 2409.13939).
 *
 * This module re-exports `tf`, the one tfjs namespace the toolkit computes
 * with, so scripts create tensors on the same engine (with the tensor types
 * its signatures use, `Tensor2D`, `Scalar`, ..., also as `tf.Tensor2D`, ...),
 * plus backend selection, the losses and the stateful baseline methods, the
 * model zoo with its weight import and export, file formats (safetensors,
 * tfjs model files), training, checkpoints and evaluation, and the data side:
 * datasets, augmentation, the teacher-feature cache and neighbour-aware
 * batches. Subpaths (`./backend`, `./kernels`, `./losses`, `./methods`,
 * `./models`, `./io`, `./train`, `./data`, `./eval`) expose the same pieces
 * separately.
 *
 * @example Loss and gradient for a random batch
 * ```ts
 * import { cossLoss, initBackend, tf } from "./mod.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const teacher = tf.relu(tf.randomNormal([8, 16])) as tf.Tensor2D;
 * const student = tf.randomNormal([8, 16]) as tf.Tensor2D;
 * const loss = cossLoss(teacher, student);
 * const grad = tf.grad((s) => cossLoss(teacher, s as tf.Tensor2D))(student);
 * console.log(await loss.data(), grad.shape); // a value above -scale·(1+λ), [8, 16]
 * tf.dispose([teacher, student, loss, grad]);
 * ```
 *
 * @module
 */
export { tf } from "./lib/tf.ts";
export type {
  GraphModel,
  IOHandler,
  KernelConfig,
  LayersModel,
  ModelArtifacts,
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Variable,
} from "./lib/tf_types.ts";
export {
  type AdapterProbe,
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
  type BackendName,
  initBackend,
  type InitBackendOptions,
  probeWebGPU,
} from "./lib/backend.ts";
export {
  type KernelFactory,
  registerTrainingKernels,
  TRAINING_KERNELS,
} from "./lib/kernels/mod.ts";
export * from "./lib/losses/mod.ts";
export * from "./lib/methods/mod.ts";
export * from "./lib/models/mod.ts";
export * from "./lib/io/mod.ts";
export * from "./lib/train/mod.ts";
export * from "./lib/data/mod.ts";
export * from "./lib/eval/mod.ts";
