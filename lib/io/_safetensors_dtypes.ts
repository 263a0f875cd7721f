/**
 * Byte-level encoding and decoding of safetensors element types. Private to
 * lib/io; the public surface is ./safetensors.ts.
 *
 * Everything here assumes a little-endian host (every platform Deno ships
 * for), so typed-array views read the file's little-endian bytes directly.
 */

/** Element types of the safetensors format that this toolkit decodes. */
export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/** Element types that can be written. */
export type SafetensorsWritableDtype = "F32" | "F16" | "I32" | "I64";

/** Bytes per element, for every dtype the format defines. */
export const ITEM_SIZE: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** Dtypes decoded to a Float32Array; the rest decode to an Int32Array. */
export const FLOAT_DTYPES: ReadonlySet<string> = new Set(["F64", "F32", "F16", "BF16"]);

/** Every dtype {@linkcode decodeValues} accepts. */
export const DECODABLE: ReadonlySet<string> = new Set([
  ...FLOAT_DTYPES,
  "I64",
  "I32",
  "I16",
  "I8",
  "U64",
  "U32",
  "U16",
  "U8",
  "BOOL",
]);

/** Every dtype the writer produces. */
export const WRITABLE: ReadonlySet<string> = new Set(["F32", "F16", "I32", "I64"]);

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("safetensors: this module needs a little-endian host");
}

let f16Table: Float32Array | undefined;

/** float16 bits → float32 value, for all 65536 patterns (built once, 256 KiB). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 0x1f) v = mant ? NaN : Infinity;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    table[h] = h & 0x8000 ? -v : v;
  }
  f16Table = table;
  return table;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * Round a number to float32, then to the nearest float16 (ties to even), and
 * return its bits: what PyTorch's `float32_tensor.half()` does. Overflow gives
 * ±inf; NaN stays NaN; subnormals are kept.
 */
export function toHalfBits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // float16 subnormal (or zero): value / 2^-24, rounded to an integer.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** Raised by {@linkcode decodeValues} for a value the output type cannot hold. */
export class ValueRangeError extends RangeError {}

/**
 * Decode `bytes` (exactly count·itemsize long, any alignment) of `dtype`.
 * Throws {@linkcode ValueRangeError} (message without the tensor name) for
 * integers outside int32 or finite F64 values outside float32.
 */
export function decodeValues(dtype: string, bytes: Uint8Array): Float32Array | Int32Array {
  // A private, aligned copy: the caller's buffer may be shared or misaligned.
  const buf = bytes.slice().buffer;
  switch (dtype) {
    case "F32":
      return new Float32Array(buf);
    case "F64": {
      const src = new Float64Array(buf);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        out[i] = src[i];
        if (!Number.isFinite(out[i]) && Number.isFinite(src[i])) {
          throw new ValueRangeError(`F64 value ${src[i]} at index ${i} overflows float32`);
        }
      }
      return out;
    }
    case "F16": {
      const src = new Uint16Array(buf);
      const table = halfTable();
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
      return out;
    }
    case "BF16": {
      const src = new Uint16Array(buf);
      const bits = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case "I32":
      return new Int32Array(buf);
    case "I16":
      return Int32Array.from(new Int16Array(buf));
    case "I8":
      return Int32Array.from(new Int8Array(buf));
    case "U16":
      return Int32Array.from(new Uint16Array(buf));
    case "U8":
      return Int32Array.from(new Uint8Array(buf));
    case "BOOL": {
      const src = new Uint8Array(buf);
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] ? 1 : 0;
      return out;
    }
    case "U32": {
      const src = new Uint32Array(buf);
      for (let i = 0; i < src.length; i++) {
        if (src[i] > 0x7fffffff) {
          throw new ValueRangeError(`U32 value ${src[i]} at index ${i} does not fit in int32`);
        }
      }
      return new Int32Array(buf);
    }
    case "I64":
    case "U64": {
      // Each element is (low, high) 32-bit words; it fits int32 iff the high
      // word is the sign extension of the low one.
      const words = new Int32Array(buf);
      const out = new Int32Array(words.length / 2);
      for (let i = 0; i < out.length; i++) {
        const lo = words[2 * i];
        const hi = words[2 * i + 1];
        const fits = dtype === "I64" ? hi === lo >> 31 : hi === 0 && lo >= 0;
        if (!fits) {
          const big = dtype === "I64"
            ? new DataView(buf).getBigInt64(8 * i, true)
            : new DataView(buf).getBigUint64(8 * i, true);
          throw new ValueRangeError(`${dtype} value ${big} at index ${i} does not fit in int32`);
        }
        out[i] = lo;
      }
      return out;
    }
    default:
      throw new Error(`unreachable: dtype ${dtype}`);
  }
}

/**
 * Encode `values` as `dtype`, little-endian. Float32Array / Int32Array inputs
 * for F32 / I32 are returned as views, without a copy. Throws a RangeError
 * (message without the tensor name) for a value the dtype cannot hold.
 */
export function encodeValues(
  dtype: SafetensorsWritableDtype,
  values: ArrayLike<number>,
): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case "F32": {
      if (values instanceof Float32Array) {
        return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      }
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        out[i] = values[i];
        if (!Number.isFinite(out[i]) && Number.isFinite(values[i])) {
          throw new RangeError(`value ${values[i]} at index ${i} overflows F32`);
        }
      }
      return new Uint8Array(out.buffer);
    }
    case "F16": {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const h = toHalfBits(values[i]);
        if ((h & 0x7fff) === 0x7c00 && Number.isFinite(values[i])) {
          throw new RangeError(`value ${values[i]} at index ${i} overflows F16 (max 65504)`);
        }
        out[i] = h;
      }
      return new Uint8Array(out.buffer);
    }
    case "I32": {
      if (values instanceof Int32Array) {
        return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      }
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
          throw new RangeError(`value ${v} at index ${i} is not an int32`);
        }
        out[i] = v;
      }
      return new Uint8Array(out.buffer);
    }
    case "I64": {
      const out = new Int32Array(2 * n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (!Number.isSafeInteger(v)) {
          throw new RangeError(`value ${v} at index ${i} is not a safe integer for I64`);
        }
        const hi = Math.floor(v / 2 ** 32);
        out[2 * i] = v - hi * 2 ** 32; // wraps to the signed low word
        out[2 * i + 1] = hi;
      }
      return new Uint8Array(out.buffer);
    }
  }
}
