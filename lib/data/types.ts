/**
 * The shapes data takes between the dataset readers, the augmentations, the
 * teacher cache and the samplers.
 *
 * Labels are kept out of the distillation path by construction: a dataset
 * is opened as an {@linkcode ImageSource} (what training sees, no labels)
 * plus a separate {@linkcode EvaluationLabels} object that only evaluation
 * code is handed.
 *
 * @module
 */
import type { Tensor4D } from "../tf_types.ts";

/** Height, width, channels. */
export type ImageShape = [number, number, number];

/** Images by index, with no access to labels. */
export interface ImageSource {
  /** A short name for logs and cache keys, e.g. `fashion-mnist/train`. */
  readonly name: string;
  /** Number of images. */
  readonly length: number;
  /** Shape of one image; every image in a source has it. */
  readonly imageShape: ImageShape;
  /**
   * A stable description of the underlying files (paths, sizes, checksums
   * where known), used in teacher-cache keys.
   */
  readonly fingerprint: string;
  /**
   * Images at `indices` as float32 NHWC in `[0, 1]`, on the active backend.
   * The caller disposes the tensor.
   */
  batch(indices: ArrayLike<number>): Promise<Tensor4D>;
  /** Release file handles and buffers. */
  close(): void;
}

/** Labels and class names: only evaluation code receives these. */
export interface EvaluationLabels {
  /** One label per image, in the source's order. */
  readonly labels: Int32Array;
  /** Class names by label; their order is written down by the reader. */
  readonly classNames: readonly string[];
}

/** A dataset as opened: the images, and separately, labels if the format has them. */
export interface OpenedDataset {
  /** The images, the only part training code sees. */
  images: ImageSource;
  /** Undefined for unlabelled data. */
  evaluation?: EvaluationLabels;
}
