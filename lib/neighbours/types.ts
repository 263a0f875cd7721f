/**
 * The feature matrix and neighbour lists that mining, the teacher cache and
 * the evaluation metrics share.
 *
 * @module
 */

/** A row-major feature matrix: `n` rows of `dim` floats (what the teacher cache returns). */
export interface FeatureMatrix {
  /** `n · dim` values, row after row. */
  features: Float32Array;
  /** Number of rows (images). */
  n: number;
  /** Width of a row. */
  dim: number;
}

/** Each image's `k` nearest neighbours, most similar first. */
export interface Neighbours {
  /** `n · k` image indices: row `i` holds `indices[i*k .. i*k+k)`; never `i` itself. */
  indices: Int32Array;
  /** The matching cosine similarities, descending within a row. */
  similarities: Float32Array;
  /** Number of images. */
  n: number;
  /** Neighbours per image. */
  k: number;
}
