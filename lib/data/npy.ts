/**
 * NumPy `.npy` files (format versions 1, 2 and 3): images for an
 * {@linkcode ImageSource}, precomputed features, and integer labels.
 *
 * Format (numpy.lib.format): `\x93NUMPY`, major and minor version bytes, a
 * little-endian header length (uint16 in v1, uint32 in v2/v3), then a Python
 * dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W), }`
 * (UTF-8 in v3), then the data. Supported: little-endian or byte-order-free
 * `u1 i1 u2 i2 u4 i4 i8 u8 f4 f8`, C order only.
 *
 * Features are not images, so they do not pretend to be an ImageSource:
 * read them with {@linkcode openFeatures}.
 *
 * @module
 */
import { ArrayImageSource } from "./array_source.ts";
import { fileStamp, reason } from "../util/bytes.ts";
import { type NpyArray, parseNpy, pyShape } from "./_npy_parse.ts";
import type { ImageShape, OpenedDataset } from "./types.ts";

export { type NpyArray, parseNpy };
/**
 * Read a `.npy` file (one read of the whole file; the data stays a view on it).
 *
 * @example
 * ```ts ignore
 * import { readNpy } from "./npy.ts";
 * const { shape, data } = await readNpy("features.npy");
 * ```
 *
 * @param path The file.
 * @returns Dtype, shape and values.
 * @throws {SyntaxError} See {@linkcode parseNpy}.
 */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`Cannot read .npy file "${path}": ${reason(e)} (check the path)`, { cause: e });
  }
  return parseNpy(bytes, path);
}

/** Options for {@linkcode openNpyImages} and {@linkcode openFeatures}. */
export interface OpenNpyOptions {
  /**
   * A `.npy` of integer labels, shape `[N]`, in the same order.
   *
   * @default {undefined} (no `evaluation`)
   */
  labels?: string;
  /**
   * Class names by label.
   *
   * @default {undefined} (the labels' decimal values, `"0"` up to the largest)
   */
  classNames?: readonly string[];
}

async function readLabels(
  path: string,
  n: number,
  of: string,
  classNames?: readonly string[],
): Promise<{ labels: Int32Array; classNames: readonly string[] }> {
  const arr = await readNpy(path);
  const fail = (what: string) =>
    new SyntaxError(`Cannot use labels "${path}" for "${of}": ${what}`);
  if (arr.descr.includes("f")) {
    throw fail(`dtype '${arr.descr}' is not an integer type (save x.astype('<i4'))`);
  }
  if (arr.shape.length !== 1 || arr.shape[0] !== n) {
    throw fail(`shape ${pyShape(arr.shape)} should be (${n},), one label per row of "${of}"`);
  }
  const labels = Int32Array.from(arr.data as ArrayLike<number>);
  let max = -1;
  for (const v of labels) {
    if (v < 0) throw fail(`label ${v} is negative`);
    max = Math.max(max, v);
  }
  if (classNames && max >= classNames.length) {
    throw fail(`label ${max} is out of range for ${classNames.length} class names`);
  }
  return {
    labels,
    classNames: [...(classNames ?? Array.from({ length: max + 1 }, (_, i) => String(i)))],
  };
}

/**
 * Open a `.npy` of images, `[N, H, W, C]` (C = 1 or 3) or `[N, H, W]`, as
 * uint8 in [0, 255] (`u1`) or floats in [0, 1] (`f4`/`f8`; checked).
 *
 * @example
 * ```ts ignore
 * import { openNpyImages } from "./npy.ts";
 * const { images, evaluation } = await openNpyImages("x.npy", { labels: "y.npy" });
 * ```
 *
 * @param path The images file.
 * @param options Labels and class names.
 * @returns The images, and the labels for evaluation only.
 * @throws {SyntaxError} On a bad file, a wrong shape or dtype, or float values outside [0, 1].
 */
export async function openNpyImages(
  path: string,
  options: OpenNpyOptions = {},
): Promise<OpenedDataset> {
  const arr = await readNpy(path);
  const fail = (what: string, fix: string) =>
    new SyntaxError(`Cannot use "${path}" as images: ${what} (${fix})`);
  const shape = arr.shape.length === 3 ? [...arr.shape, 1] : arr.shape;
  if (shape.length !== 4 || (shape[3] !== 1 && shape[3] !== 3)) {
    throw fail(
      `shape ${pyShape(arr.shape)} is not (N, H, W) or (N, H, W, C) with C 1 or 3`,
      'transpose NCHW to NHWC, or pass kind: "features" for (N, D)',
    );
  }
  let pixels: Uint8Array | Float32Array;
  if (arr.data instanceof Uint8Array) pixels = arr.data;
  else if (
    arr.data instanceof Float32Array ||
    (arr.data instanceof Float64Array && arr.descr.endsWith("f8"))
  ) {
    pixels = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data);
    for (let i = 0; i < pixels.length; i++) {
      if (!(pixels[i] >= 0 && pixels[i] <= 1)) {
        throw fail(
          `value ${pixels[i]} at flat index ${i} is outside [0, 1]`,
          "divide by 255, or save uint8",
        );
      }
    }
  } else {throw fail(
      `dtype '${arr.descr}' is not uint8 or float`,
      "save uint8 in [0, 255] or float32 in [0, 1]",
    );}
  const name = `npy/${path.split("/").pop()}`;
  const fingerprint = `${name}|npy|${await fileStamp(path)}`;
  const images = new ArrayImageSource(name, pixels, shape.slice(1) as ImageShape, fingerprint);
  if (options.labels === undefined) return { images };
  return {
    images,
    evaluation: await readLabels(options.labels, shape[0], path, options.classNames),
  };
}

/** Precomputed features: `n` rows of `dim` float32 values. Labels, if any, stay separate. */
export interface FeatureSet {
  /** Row-major `[n, dim]`. */
  features: Float32Array;
  /** Number of rows. */
  n: number;
  /** Values per row. */
  dim: number;
  /** `path:size:mtime`, for cache keys. */
  fingerprint: string;
  /** Present when labels were given. */
  evaluation?: { labels: Int32Array; classNames: readonly string[] };
}

/**
 * Read precomputed features, `[N, D]` floats (or `[N, ...]`, flattened per row), as float32.
 *
 * @example
 * ```ts ignore
 * import { openFeatures } from "./npy.ts";
 * const { features, n, dim } = await openFeatures("teacher_feats.npy");
 * ```
 *
 * @param path The features file.
 * @param options Labels and class names.
 * @returns The features and, separately, the labels.
 * @throws {SyntaxError} On a bad file or a one-dimensional array.
 */
export async function openFeatures(
  path: string,
  options: OpenNpyOptions = {},
): Promise<FeatureSet> {
  const arr = await readNpy(path);
  if (arr.shape.length < 2) {
    throw new SyntaxError(
      `Cannot use "${path}" as features: shape ${pyShape(arr.shape)} is not (N, D)`,
    );
  }
  const n = arr.shape[0];
  const dim = arr.shape.slice(1).reduce((a, b) => a * b, 1);
  const features = arr.data instanceof Float32Array
    ? arr.data
    : Float32Array.from(arr.data as ArrayLike<number>);
  const set: FeatureSet = { features, n, dim, fingerprint: await fileStamp(path) };
  if (options.labels !== undefined) {
    set.evaluation = await readLabels(options.labels, n, path, options.classNames);
  }
  return set;
}
