/**
 * An {@linkcode ImageSource} over pixels held in memory as one typed array
 * (uint8 in [0, 255] or float32 in [0, 1], NHWC). Only the requested batch is
 * ever converted to float32. It never sees labels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ImageShape, ImageSource } from "./types.ts";

/** `i / 255` for every byte, as float32, so uint8 batches convert by table lookup. */
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, i) => i / 255);

/** Throw a RangeError naming the first index that is not an integer in `[0, length)`. */
export function checkIndices(indices: ArrayLike<number>, length: number, name: string): void {
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= length) {
      throw new RangeError(
        `Index ${i} at position ${k} is out of range for "${name}" ` +
          `(length ${length}; valid indices are integers 0..${length - 1})`,
      );
    }
  }
}

/** Images in one typed array, NHWC. */
export class ArrayImageSource implements ImageSource {
  readonly name: string;
  readonly length: number;
  readonly imageShape: ImageShape;
  readonly fingerprint: string;
  #pixels: Uint8Array | Float32Array | undefined;

  constructor(
    name: string,
    pixels: Uint8Array | Float32Array,
    imageShape: ImageShape,
    fingerprint: string,
  ) {
    const size = imageShape[0] * imageShape[1] * imageShape[2];
    if (size === 0 || pixels.length % size !== 0) {
      throw new RangeError(
        `"${name}": ${pixels.length} values is not a whole number of ${
          imageShape.join("×")
        } images`,
      );
    }
    this.name = name;
    this.length = pixels.length / size;
    this.imageShape = [...imageShape];
    this.fingerprint = fingerprint;
    this.#pixels = pixels;
  }

  batch(indices: ArrayLike<number>): Promise<tf.Tensor4D> {
    const pixels = this.#pixels;
    if (!pixels) return Promise.reject(new Error(`"${this.name}" is closed`));
    try {
      checkIndices(indices, this.length, this.name);
    } catch (e) {
      return Promise.reject(e);
    }
    const [h, w, c] = this.imageShape;
    const size = h * w * c;
    const out = new Float32Array(indices.length * size);
    for (let k = 0; k < indices.length; k++) {
      const from = indices[k] * size;
      const to = k * size;
      if (pixels instanceof Uint8Array) {
        for (let j = 0; j < size; j++) out[to + j] = BYTE_TO_UNIT[pixels[from + j]];
      } else {
        out.set(pixels.subarray(from, from + size), to);
      }
    }
    return Promise.resolve(tf.tensor4d(out, [indices.length, h, w, c], "float32"));
  }

  close(): void {
    this.#pixels = undefined;
  }
}
