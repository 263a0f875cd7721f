/**
 * Argument checks and layout for writing safetensors. Private to lib/io; the
 * public surface is ./safetensors.ts.
 */
import {
  encodeValues,
  ITEM_SIZE,
  type SafetensorsWritableDtype,
  WRITABLE,
} from "./_safetensors_dtypes.ts";
import { typeName } from "./_safetensors_check.ts";

/** One checked input tensor, in file order. */
export interface Planned {
  name: string;
  dtype: SafetensorsWritableDtype;
  shape: number[];
  values: ArrayLike<number>;
}

/** Check the inputs and lay out the file: the padded header and the order. */
export function plan(
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> | undefined,
  who: string,
): { header: Uint8Array; order: Planned[]; total: number } {
  if (typeof tensors !== "object" || tensors === null || Array.isArray(tensors)) {
    throw new TypeError(
      `${who}: tensors must be an object of {shape, values}, got ${typeName(tensors)}`,
    );
  }
  if (metadata !== undefined) {
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      throw new TypeError(
        `${who}: metadata must be an object of strings, got ${typeName(metadata)}`,
      );
    }
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(`${who}: metadata "${k}" must be a string, got ${typeName(v)}`);
      }
    }
  }
  const order: Planned[] = [];
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    const where = `${who}: tensor "${name}"`;
    if (name === "" || name === "__metadata__") {
      throw new TypeError(`${who}: "${name}" cannot be a tensor name`);
    }
    if (typeof t !== "object" || t === null) {
      throw new TypeError(`${where} must be {shape, values}, got ${typeName(t)}`);
    }
    const dtype = t.dtype ?? "F32";
    if (!WRITABLE.has(dtype)) {
      throw new TypeError(
        `${where} has dtype ${JSON.stringify(dtype)}; writable: ${[...WRITABLE].join(", ")}`,
      );
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => typeof d === "number")) {
      throw new TypeError(`${where} shape must be an array of numbers`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RangeError(`${where} shape [${t.shape.join(",")}] needs non-negative integers`);
    }
    const v = t.values;
    if (typeof v !== "object" || v === null || typeof v.length !== "number") {
      throw new TypeError(`${where} values must be an array or typed array, got ${typeName(v)}`);
    }
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (v.length !== size) {
      throw new RangeError(
        `${where} has ${v.length} values but shape [${t.shape.join(",")}] holds ${size}`,
      );
    }
    order.push({ name, dtype, shape: [...t.shape], values: v });
  }
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    Object.defineProperty(json, "__metadata__", { value: metadata, enumerable: true });
  }
  let offset = 0;
  for (const p of order) {
    const end = offset + p.values.length * ITEM_SIZE[p.dtype];
    const entry = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, end] };
    Object.defineProperty(json, p.name, { value: entry, enumerable: true });
    offset = end;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  // Pad with spaces so that the data buffer starts 8-byte aligned, as the
  // reference writer does.
  const padded = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, order, total: header.length + offset };
}

/** Encode one planned tensor, naming it in a RangeError. */
export function encodeOne(p: Planned, who: string): Uint8Array {
  try {
    return encodeValues(p.dtype, p.values);
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`${who}: tensor "${p.name}" ${e.message}`);
    throw e;
  }
}

/** A tensor to write: its values and shape, and the element type to store. */
export interface SafetensorsInput {
  /**
   * Element type to store. F16 rounds to the nearest half (ties to even);
   * I32 and I64 need integers.
   *
   * @default {"F32"}
   */
  dtype?: SafetensorsWritableDtype;
  /** The shape; `[]` for a scalar. */
  shape: number[];
  /** Row-major values; exactly as many as the shape holds. */
  values: ArrayLike<number>;
}
