/**
 * The `.npy` header and data parser (numpy.lib.format, versions 1–3).
 *
 * @module
 */

/** An array read from a `.npy` file. */
export interface NpyArray {
  /** The file read. */
  path: string;
  /** NumPy's dtype string, e.g. `"<f4"`. */
  descr: string;
  /** The shape, C order. */
  shape: number[];
  /** The values: a view on the file's bytes where aligned, else a copy. 64-bit types become `Float64Array`. */
  data:
    | Uint8Array
    | Int8Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | Int32Array
    | Float32Array
    | Float64Array;
}

/** A shape as Python prints it: `(3,)`, `(2, 3)`. */
export function pyShape(shape: readonly number[]): string {
  return `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
}

type Ctor = new (buffer: ArrayBuffer, offset: number, length: number) => NpyArray["data"];
const TYPES: Record<string, [Ctor, number]> = {
  u1: [Uint8Array, 1],
  i1: [Int8Array, 1],
  u2: [Uint16Array, 2],
  i2: [Int16Array, 2],
  u4: [Uint32Array, 4],
  i4: [Int32Array, 4],
  f4: [Float32Array, 4],
  f8: [Float64Array, 8],
};

/**
 * Parse `.npy` bytes.
 *
 * @example
 * ```ts
 * import { parseNpy } from "./npy.ts";
 * const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }";
 * const padded = header.padEnd(118, " ") + "\n";
 * const bytes = new Uint8Array([0x93, ...new TextEncoder().encode("NUMPY"), 1, 0, 118 + 1, 0,
 *   ...new TextEncoder().encode(padded), 7, 9]);
 * console.log(parseNpy(bytes, "a.npy").data); // Uint8Array [7, 9]
 * ```
 *
 * @param bytes The whole file.
 * @param path The file's name, for errors.
 * @returns Dtype, shape and values.
 * @throws {SyntaxError} On a bad header, an unsupported dtype, Fortran order or a size mismatch.
 */
export function parseNpy(bytes: Uint8Array, path: string): NpyArray {
  const fail = (what: string, fix: string) =>
    new SyntaxError(`Cannot read .npy file "${path}": ${what} (${fix})`);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) {
    throw fail("it does not start with \\x93NUMPY", "is it a .npy file? save it with numpy.save");
  }
  const major = bytes[6];
  if (major < 1 || major > 3) {
    throw fail(`format version ${major} is unknown`, "save it with numpy.save");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start + headerLen) throw fail("truncated inside the header", "write it again");
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1")
    .decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw fail(
      `header ${JSON.stringify(header.trim())} lacks descr, fortran_order or shape`,
      "save it with numpy.save",
    );
  }
  if (fortran === "True") {
    throw fail("it is in Fortran order", "save numpy.ascontiguousarray(x) instead");
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw fail(`bad shape (${shapeText})`, "save it with numpy.save");
  }
  const order = descr[0];
  const kind = descr.slice(1);
  const bigEndianOk = kind === "u1" || kind === "i1";
  if (
    !(order === "<" || order === "|" || order === "=" || (order === ">" && bigEndianOk)) ||
    !(kind in TYPES || kind === "i8" || kind === "u8")
  ) {
    throw fail(
      `dtype '${descr}' is not supported`,
      "convert with x.astype('<f4') or x.astype('<i4')",
    );
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const width = kind === "i8" || kind === "u8" ? 8 : TYPES[kind][1];
  if (bytes.length - offset !== count * width) {
    throw fail(
      `shape ${pyShape(shape)} of '${descr}' needs ${count * width} data bytes, the file has ${
        bytes.length - offset
      }`,
      "the file is truncated or damaged: write it again",
    );
  }
  let data: NpyArray["data"];
  if (kind === "i8" || kind === "u8") {
    data = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const v = kind === "i8"
        ? view.getBigInt64(offset + 8 * i, true)
        : view.getBigUint64(offset + 8 * i, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw fail(`value ${v} at ${i} does not fit a double exactly`, "store smaller integers");
      }
      data[i] = Number(v);
    }
  } else {
    const [Type, size] = TYPES[kind];
    const at = bytes.byteOffset + offset;
    data = at % size === 0
      ? new Type(bytes.buffer as ArrayBuffer, at, count)
      : new Type(bytes.slice(offset).buffer as ArrayBuffer, 0, count);
  }
  return { path, descr, shape, data };
}
