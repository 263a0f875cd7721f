/**
 * Data for distillation: datasets from real files (Fashion-MNIST, MNIST,
 * CIFAR-10/100, image folders, `.npy`) with verified downloads, the MoCo-v2
 * augmentations batched on the active backend, the teacher-feature cache,
 * offline neighbour mining and the neighbour-aware batch sampler of CoSS.
 *
 * Labels never reach training code: {@linkcode openDataset} returns the
 * images as an {@linkcode ImageSource} and the labels separately, for
 * evaluation only.
 *
 * @example
 * ```ts ignore
 * import { Augmenter, augmentPreset, openDataset } from "./mod.ts";
 *
 * const { images } = await openDataset({ name: "fashion-mnist", split: "train" });
 * const augment = new Augmenter(augmentPreset("mocov2", { size: 28, mean: [0.286], std: [0.353] }), { seed: 0 });
 * const x = await images.batch([0, 1, 2, 3]);
 * const view = augment.apply(x); // the same tensor feeds teacher and student
 * ```
 *
 * @module
 */
// Re-exported (same bindings as in the modules that own them) so this module's docs are complete on their own.
export type { Tensor2D, Tensor4D } from "../tf_types.ts";
export type { Embedder, EmbedOptions } from "../models/types.ts";
export * from "./types.ts";
export * from "./datasets.ts";
export * from "./idx.ts";
export * from "./cifar.ts";
export * from "./folder.ts";
export * from "./npy.ts";
export * from "./download.ts";
export * from "../augment/augment.ts";
export * from "../teacher/cache.ts";
export * from "../neighbours/mod.ts";
export * from "./sampler.ts";
export { type Progress, progress, type ProgressOptions } from "../util/progress.ts";
export * from "./subset.ts";
