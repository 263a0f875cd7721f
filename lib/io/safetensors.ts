/**
 * Read and write the [safetensors](https://github.com/huggingface/safetensors)
 * format: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {…}}`,
 * then the little-endian tensor bytes (offsets count from the start of that
 * buffer). It holds no code, so unlike PyTorch pickles it is safe to load.
 *
 * Reading checks the layout as strictly as the reference reader does: the
 * tensors must tile the data buffer exactly, with no overlaps, no holes and no
 * trailing bytes (the format forbids holes so that no file can also be another
 * format). A malformed or truncated file is a one-line `SyntaxError` naming the
 * file and the problem, never an out-of-bounds read; a header over 100 MB is
 * refused before it is decoded. PyTorch pickle checkpoints are refused with a
 * one-line command that converts them.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic } from "./atomic.ts";
import {
  decodeValues,
  FLOAT_DTYPES,
  type SafetensorsDtype,
  type SafetensorsWritableDtype,
  ValueRangeError,
} from "./_safetensors_dtypes.ts";
import {
  looksLikePickle,
  MAX_HEADER_BYTES,
  parseLayout,
  PICKLE_EXTENSIONS,
  pickleProblem,
  prefix,
  SafetensorsFormatError,
} from "./_safetensors_parse.ts";
import { encodeOne, plan, type SafetensorsInput } from "./_safetensors_write.ts";
import { checkTensor, typeName } from "./_safetensors_check.ts";
import type { Tensor } from "../tf_types.ts";

export type { SafetensorsDtype, SafetensorsInput, SafetensorsWritableDtype };
export { pickleProblem, SafetensorsFormatError };

/** One decoded tensor. */
export interface SafetensorsTensor {
  /** The element type stored in the file. */
  dtype: SafetensorsDtype;
  /** The shape; `[]` for a scalar. */
  shape: number[];
  /**
   * Row-major values: floating types (F64, F32, F16, BF16) decoded to
   * float32, integer types (I64, I32, I16, I8, U64, U32, U16, U8) and BOOL
   * to int32.
   */
  values: Float32Array | Int32Array;
}

/** A decoded safetensors file. */
export interface Safetensors {
  /** Tensors by name, in the order the header lists them. */
  tensors: Map<string, SafetensorsTensor>;
  /** The `__metadata__` string map (empty when the file has none). */
  metadata: Record<string, string>;
}

/** Options for {@linkcode parseSafetensors}. */
export interface ParseSafetensorsOptions {
  /**
   * Name of the file the bytes came from, quoted in error messages.
   *
   * @default {undefined}
   */
  source?: string;
}

/**
 * Decode a safetensors file held in memory.
 *
 * @example
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "./safetensors.ts";
 *
 * const bytes = serializeSafetensors({ w: { shape: [2], values: [1.5, -2] } }, { step: "3" });
 * const st = parseSafetensors(bytes);
 * console.log(st.tensors.get("w")?.values, st.metadata.step); // Float32Array [1.5, -2], "3"
 * ```
 *
 * @param bytes The whole file.
 * @param options Where the bytes came from, for error messages.
 * @returns The tensors and the metadata.
 * @throws {SyntaxError} For a malformed or truncated file, naming the tensor and the problem.
 * @throws {RangeError} For integers outside int32 (I64, U32, U64) or F64 values outside float32.
 * @throws {TypeError} When `bytes` is not a Uint8Array.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: ParseSafetensorsOptions = {},
): Safetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`parseSafetensors: bytes must be a Uint8Array, got ${typeName(bytes)}`);
  }
  const { source } = options;
  if (source !== undefined && typeof source !== "string") {
    throw new TypeError(
      `parseSafetensors: options.source must be a string, got ${typeName(source)}`,
    );
  }
  const layout = parseLayout(bytes, source);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of layout.entries) {
    let values: Float32Array | Int32Array;
    try {
      values = decodeValues(
        e.dtype,
        bytes.subarray(layout.dataStart + e.begin, layout.dataStart + e.end),
      );
    } catch (err) {
      if (err instanceof ValueRangeError) {
        throw new RangeError(`${prefix(source)}: tensor "${e.name}" ${err.message}`);
      }
      throw err;
    }
    tensors.set(e.name, { dtype: e.dtype as SafetensorsDtype, shape: e.shape, values });
  }
  return { tensors, metadata: layout.metadata };
}

/**
 * Encode tensors as a safetensors file in memory. The header is padded with
 * spaces to a multiple of 8 bytes and tensors are laid out in sorted-name
 * order; `metadata`, when non-empty, becomes `__metadata__`.
 *
 * @example
 * ```ts
 * import { serializeSafetensors } from "./safetensors.ts";
 *
 * const bytes = serializeSafetensors({
 *   "fc.weight": { shape: [2, 2], values: [1, 0, 0, 1] },
 *   "fc.steps": { dtype: "I64", shape: [], values: [10] },
 * });
 * console.log(bytes.length % 8); // 0
 * ```
 *
 * @param tensors Tensors by name.
 * @param metadata String metadata.
 * @returns The whole file.
 * @throws {TypeError} For ill-typed arguments or an unwritable dtype.
 * @throws {RangeError} For a values/shape length mismatch or a value the dtype cannot hold.
 */
export function serializeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const who = "serializeSafetensors";
  const { header, order, total } = plan(tensors, metadata, who);
  const out = new Uint8Array(total);
  out.set(header);
  let at = header.length;
  for (const p of order) {
    const bytes = encodeOne(p, who);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/**
 * Encode tensors as a safetensors file, chunk by chunk: the header, then each
 * tensor's bytes (F32 from a Float32Array and I32 from an Int32Array without a
 * copy). Arguments are checked at once; values are encoded lazily while the
 * result is iterated. Pass it to {@linkcode writeFileAtomic} to write large
 * files without building them in memory.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, serializeSafetensors } from "./safetensors.ts";
 *
 * const tensors = { b: { shape: [3], values: new Float32Array([1, 2, 3]) } };
 * const chunks = [...encodeSafetensors(tensors)];
 * console.log(chunks.length, chunks[1].length); // 2, 12
 * ```
 *
 * @param tensors Tensors by name.
 * @param metadata String metadata.
 * @returns The file as a sequence of chunks.
 * @throws {TypeError} For ill-typed arguments or an unwritable dtype.
 * @throws {RangeError} For a values/shape length mismatch, or (while iterating) a value the dtype cannot hold.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Iterable<Uint8Array> {
  const who = "encodeSafetensors";
  const { header, order } = plan(tensors, metadata, who);
  return {
    *[Symbol.iterator]() {
      yield header;
      for (const p of order) yield encodeOne(p, who);
    },
  };
}

/**
 * Read a safetensors file. PyTorch pickle checkpoints (`.pth`, `.pt`,
 * `.bin`, `.ckpt`, or zip or pickle content) are refused with a one-line
 * Python command that converts them.
 *
 * @example
 * ```ts ignore
 * import { readSafetensors } from "./safetensors.ts";
 * const { tensors, metadata } = await readSafetensors("weights/resnet18.safetensors");
 * ```
 *
 * @param path The file.
 * @returns The tensors and the metadata.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {SyntaxError} For a malformed file or a PyTorch pickle.
 * @throws {RangeError} For values the decoded types cannot hold.
 */
export async function readSafetensors(path: string): Promise<Safetensors> {
  if (typeof path !== "string") {
    throw new TypeError(`readSafetensors: path must be a string, got ${typeName(path)}`);
  }
  if (PICKLE_EXTENSIONS.test(path)) {
    throw new SafetensorsFormatError(path, pickleProblem(path), false, `Cannot read "${path}"`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
  if (looksLikePickle(bytes)) {
    throw new SafetensorsFormatError(path, pickleProblem(path), false, `Cannot read "${path}"`);
  }
  return parseSafetensors(bytes, { source: path });
}

/** The error for a file that could not be opened or read: NotFound stays NotFound. */
function cannotRead(path: string, e: unknown): Error {
  if (e instanceof Deno.errors.NotFound) {
    return new Deno.errors.NotFound(`Cannot read "${path}": no such file`, { cause: e });
  }
  return new Error(`Cannot read "${path}": ${e instanceof Error ? e.message : e}`, { cause: e });
}

/** Part of a safetensors file: the tensors asked for, and what the others are. */
export interface SafetensorsPart extends Safetensors {
  /** Every tensor in the file, read or not: its dtype and shape. */
  shapes: Map<string, { dtype: SafetensorsDtype; shape: number[] }>;
  /** Bytes read from the file: the header and the tensors asked for. */
  bytesRead: number;
}

/** `length` bytes of `file` from `offset`. */
async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  for (let got = 0; got < length;) {
    const n = await file.read(out.subarray(got));
    if (n === null) throw new SyntaxError(`unexpected end of file at byte ${offset + got}`);
    got += n;
  }
  return out;
}

/**
 * Read only the tensors `names` of a safetensors file: the header, then the
 * byte range each named tensor's `data_offsets` give, never the rest (a
 * shard's view tensors, when only its features are needed). The layout is
 * checked as strictly as by {@linkcode readSafetensors}; a name the file
 * lacks is simply not in `tensors`.
 *
 * @example
 * ```ts ignore
 * import { readSafetensorsPart } from "./safetensors.ts";
 * const { tensors, shapes } = await readSafetensorsPart("embed-0of8.safetensors", ["features"]);
 * ```
 *
 * @param path The file.
 * @param names The tensors whose values to read.
 * @returns Those tensors, the metadata, every tensor's shape and the bytes read.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {SyntaxError} For a malformed or truncated file.
 * @throws {RangeError} For values the decoded types cannot hold.
 */
export async function readSafetensorsPart(
  path: string,
  names: string[],
): Promise<SafetensorsPart> {
  if (typeof path !== "string") {
    throw new TypeError(`readSafetensorsPart: path must be a string, got ${typeName(path)}`);
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
  try {
    const size = (await file.stat()).size;
    const head = await readAt(file, 0, Math.min(8, size));
    let headerEnd = head.length;
    if (head.length === 8) {
      const n = new DataView(head.buffer).getBigUint64(0, true);
      // An absurd or truncated length is parseLayout's to report, from the 8 bytes.
      if (n <= BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) headerEnd = 8 + Number(n);
    }
    const header = headerEnd > 8 ? await readAt(file, 0, headerEnd) : head;
    const layout = parseLayout(header, path, size);
    const tensors = new Map<string, SafetensorsTensor>();
    const shapes = new Map<string, { dtype: SafetensorsDtype; shape: number[] }>();
    let bytesRead = header.length;
    for (const e of layout.entries) {
      const dtype = e.dtype as SafetensorsDtype;
      shapes.set(e.name, { dtype, shape: e.shape });
      if (!names.includes(e.name)) continue;
      const bytes = await readAt(file, layout.dataStart + e.begin, e.end - e.begin);
      bytesRead += bytes.length;
      let values: Float32Array | Int32Array;
      try {
        values = decodeValues(e.dtype, bytes);
      } catch (err) {
        if (err instanceof ValueRangeError) {
          throw new RangeError(`${prefix(path)}: tensor "${e.name}" ${err.message}`);
        }
        throw err;
      }
      tensors.set(e.name, { dtype, shape: e.shape, values });
    }
    return { tensors, metadata: layout.metadata, shapes, bytesRead };
  } finally {
    file.close();
  }
}

/**
 * Write tensors to a safetensors file atomically (temporary file, fsync,
 * rename), streaming tensor by tensor. A crash leaves the old file or the new
 * one, never a partial file.
 *
 * @example
 * ```ts ignore
 * import { writeSafetensors } from "./safetensors.ts";
 * await writeSafetensors("out/head.safetensors", { w: { shape: [2], values: [1, 2] } });
 * ```
 *
 * @param path Where the file ends up.
 * @param tensors Tensors by name.
 * @param metadata String metadata.
 * @throws {TypeError} For ill-typed arguments, before anything is written.
 * @throws {RangeError} For a values/shape mismatch (before anything is written) or a value the dtype cannot hold.
 * @throws {Error} When the file cannot be written, naming `path`.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  const chunks = encodeSafetensors(tensors, metadata);
  try {
    await writeFileAtomic(path, chunks);
  } catch (e) {
    // A value error found mid-stream is the caller's, not the disk's.
    if (e instanceof Error && e.cause instanceof RangeError) throw e.cause;
    throw e;
  }
}

/**
 * Turn decoded safetensors into tfjs tensors on the active backend: float
 * types become float32 tensors, integer and boolean types int32. The tensors
 * may share memory with `st`'s arrays; the caller disposes them.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { parseSafetensors, serializeSafetensors, tensorsFromSafetensors } from "./safetensors.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const st = parseSafetensors(serializeSafetensors({ w: { shape: [2, 1], values: [3, 4] } }));
 * const { w } = tensorsFromSafetensors(st);
 * console.log(w.shape, w.dtype); // [2, 1], "float32"
 * tf.dispose(w);
 * ```
 *
 * @param st A decoded file.
 * @returns Tensors by name.
 */
export function tensorsFromSafetensors(st: Safetensors): Record<string, Tensor> {
  if (!(st?.tensors instanceof Map)) {
    throw new TypeError(`tensorsFromSafetensors: expected a parsed file, got ${typeName(st)}`);
  }
  // Built as entries so that any name, even "__proto__", becomes an own key.
  const made: [string, Tensor][] = [];
  try {
    for (const [name, t] of st.tensors) {
      const dtype = FLOAT_DTYPES.has(t.dtype) ? "float32" : "int32";
      made.push([name, tf.tensor(t.values, t.shape, dtype)]);
    }
  } catch (e) {
    tf.dispose(made.map(([, t]) => t));
    throw e;
  }
  return Object.fromEntries(made);
}

/**
 * Read tfjs tensors back (asynchronously, so GPU tensors work too) into
 * {@linkcode SafetensorsInput}s: float32 tensors as F32, int32 as I32. On the
 * cpu backend the values may share memory with the tensors.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { safetensorsFromTensors, serializeSafetensors } from "./safetensors.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const w = tf.tensor2d([[1, 2], [3, 4]]);
 * const bytes = serializeSafetensors(await safetensorsFromTensors({ w }));
 * w.dispose();
 * console.log(bytes.length); // 88: 8-byte length, 64-byte padded header, 16 data bytes
 * ```
 *
 * @param tensors tfjs tensors by name; not disposed.
 * @returns Inputs for {@linkcode serializeSafetensors} or {@linkcode writeSafetensors}.
 * @throws {TypeError} For a value that is not a live float32 or int32 tensor.
 */
export async function safetensorsFromTensors(
  tensors: Record<string, Tensor>,
): Promise<Record<string, Required<SafetensorsInput>>> {
  if (typeof tensors !== "object" || tensors === null) {
    throw new TypeError(
      `safetensorsFromTensors: expected an object of tensors, got ${typeName(tensors)}`,
    );
  }
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) checkTensor(t, `safetensorsFromTensors: "${name}"`);
  const out: [string, Required<SafetensorsInput>][] = [];
  for (const [name, t] of entries) {
    const values = await t.data() as Float32Array | Int32Array;
    out.push([name, { dtype: t.dtype === "int32" ? "I32" : "F32", shape: [...t.shape], values }]);
  }
  return Object.fromEntries(out);
}
