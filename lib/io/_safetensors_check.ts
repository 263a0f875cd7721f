/**
 * Argument checks shared by lib/io/safetensors.ts and lib/io/checkpoint.ts.
 * Private.
 */
import type * as tf from "@tensorflow/tfjs-core";

/** Throw a TypeError unless `t` is a live float32 or int32 tfjs tensor. */
export function checkTensor(t: unknown, where: string): asserts t is tf.Tensor {
  const x = t as tf.Tensor | null;
  if (
    typeof x !== "object" || x === null || typeof x.data !== "function" || !Array.isArray(x.shape)
  ) {
    throw new TypeError(`${where} is ${typeName(t)}, not a tf.Tensor`);
  }
  if (x.isDisposed) throw new TypeError(`${where} is a disposed tensor`);
  if (x.dtype !== "float32" && x.dtype !== "int32") {
    throw new TypeError(`${where} has dtype ${x.dtype}; only float32 and int32 can be saved`);
  }
}

/** A short description of a value's type, for error messages. */
export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "function") return "a function";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return (v as object).constructor?.name ?? "an object";
  return typeof v === "string" ? `the string ${JSON.stringify(v).slice(0, 40)}` : String(v);
}
