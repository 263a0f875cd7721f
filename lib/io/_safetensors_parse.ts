/**
 * Validation of a safetensors file's header and layout. Private to lib/io;
 * the public surface is ./safetensors.ts.
 */
import { DECODABLE, ITEM_SIZE } from "./_safetensors_dtypes.ts";

/** The reference implementation's limit on the JSON header (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * A malformed safetensors file. `problem` is the message without the
 * "Cannot read …" prefix; `truncated` says whether the file looks cut short,
 * so that callers (checkpoint loading) can say so in their own words. `head`
 * replaces the usual `Cannot read safetensors "x"` before the problem.
 */
export class SafetensorsFormatError extends SyntaxError {
  /** What is wrong, without the file name. */
  readonly problem: string;
  /** Whether the file ends before its header says it should. */
  readonly truncated: boolean;
  constructor(
    source: string | undefined,
    problem: string,
    truncated = false,
    head: string = prefix(source),
  ) {
    super(`${head}: ${problem}`);
    this.name = "SyntaxError";
    this.problem = problem;
    this.truncated = truncated;
  }
}

/** `Cannot read safetensors "x"`, or without a name when there is none. */
export function prefix(source: string | undefined): string {
  return source === undefined ? "Cannot read safetensors" : `Cannot read safetensors "${source}"`;
}

/** One validated header entry. */
export interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated layout: entries in header order, where the data buffer starts. */
export interface Layout {
  entries: Entry[];
  metadata: Record<string, string>;
  dataStart: number;
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

const isNonNegInt = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * Check everything about the file except the values themselves, so that
 * every later read is within bounds. `bytes` may be the file's first
 * `8 + header` bytes only, with the file's length in `fileLength`. Throws {@linkcode SafetensorsFormatError}.
 */
export function parseLayout(
  bytes: Uint8Array,
  source: string | undefined,
  fileLength: number = bytes.length,
): Layout {
  const fail = (problem: string, truncated = false): never => {
    throw new SafetensorsFormatError(source, problem, truncated);
  };
  // `bytes` may be the file's head only (header included): `fileLength` is the whole file's.
  if (fileLength === 0) fail("file is empty", true);
  if (fileLength < 8) {
    fail(`file is truncated: ${fileLength} bytes, shorter than the 8-byte header length`, true);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(
      `header length ${headerLength} is absurd (over the ${MAX_HEADER_BYTES}-byte limit)`,
    );
  }
  const n = Number(headerLength);
  if (n < 2) fail(`header length ${n} is too short for a JSON object`);
  if (8 + n > fileLength) {
    fail(
      `file is truncated: the header says it is ${n} bytes but only ${fileLength - 8} follow`,
      true,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, 8 + n),
    );
  } catch {
    return fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(`header is ${Array.isArray(header) ? "an array" : show(header)}, not a JSON object`);
  }

  const dataStart = 8 + n;
  const dataLength = fileLength - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        fail(`"__metadata__" is ${show(raw)}, not an object of strings`);
      }
      for (const [k, v] of Object.entries(raw as object)) {
        if (typeof v !== "string") fail(`"__metadata__" entry "${k}" is ${show(v)}, not a string`);
      }
      metadata = Object.fromEntries(Object.entries(raw as Record<string, string>));
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      fail(`${where} is described by ${show(raw)}, not an object`);
    }
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (dtype === undefined) fail(`${where} has no "dtype"`);
    if (typeof dtype !== "string") fail(`${where} has dtype ${show(dtype)}, not a string`);
    const dt = dtype as string;
    if (!(dt in ITEM_SIZE)) fail(`${where} has unknown dtype "${dt}"`);
    if (!DECODABLE.has(dt)) {
      fail(`${where} has dtype "${dt}", which is not supported (${[...DECODABLE].join(", ")})`);
    }
    if (shape === undefined) fail(`${where} has no "shape"`);
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      fail(`${where} has shape ${show(shape)}, not a list of non-negative integers`);
    }
    if (offsets === undefined) fail(`${where} has no "data_offsets"`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
      fail(`${where} has data_offsets ${show(offsets)}, not two non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end) fail(`${where} has data_offsets [${begin}, ${end}] that begin after they end`);
    if (end > dataLength) {
      fail(
        `file is truncated: ${where} data_offsets [${begin}, ${end}] point past the end ` +
          `of the ${dataLength}-byte data buffer`,
        true,
      );
    }
    const dims = shape as number[];
    const expected = dims.reduce((a, d) => a * d, 1) * ITEM_SIZE[dt];
    if (end - begin !== expected) {
      fail(
        `${where} data_offsets [${begin}, ${end}] do not match ${dt} shape ` +
          `[${dims.join(",")}] (${expected} bytes): wrong dtype or shape`,
      );
    }
    entries.push({ name, dtype: dt, shape: dims, begin, end });
  }

  // The format forbids holes and overlaps (no polyglot files): the tensors
  // must tile the data buffer exactly, as the reference reader checks.
  const byOffset = entries.toSorted((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last: Entry | undefined;
  for (const e of byOffset) {
    if (e.begin < covered) {
      fail(
        `tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap tensor ` +
          `"${last!.name}" [${last!.begin}, ${last!.end}]`,
      );
    }
    if (e.begin > covered) {
      fail(
        `bytes [${covered}, ${e.begin}) of the data buffer belong to no tensor ` +
          "(the format forbids holes)",
      );
    }
    covered = e.end;
    if (e.end > e.begin || !last) last = e;
  }
  if (covered !== dataLength) {
    fail(
      `${dataLength - covered} trailing bytes after the last tensor ` +
        `(data buffer is ${dataLength} bytes, tensors cover ${covered})`,
    );
  }
  return { entries, metadata, dataStart };
}

/** Does `bytes` look like a PyTorch pickle rather than a safetensors file? */
export function looksLikePickle(bytes: Uint8Array): boolean {
  // A safetensors file starts with a length that fits the file, then "{":
  // checked first because a header length such as 0x280 also starts with 0x80.
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n <= BigInt(bytes.length - 8)) return false;
  }
  const zip = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  const pickle = bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
  return zip || pickle;
}

/** Why PyTorch pickle checkpoints are refused, with the conversion command. */
export function pickleProblem(path: string): string {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  const stem = dot > slash + 1 ? path.slice(0, dot) : path;
  const out = `${stem}.safetensors`;
  return `PyTorch pickle checkpoints are not supported (unpickling can run ` +
    `code). Convert once in Python: python -c "import torch; from safetensors.torch import ` +
    `save_file; save_file(torch.load('${path}', map_location='cpu'), '${out}')" (index a nested ` +
    `state dict first, e.g. torch.load(...)['state_dict'])`;
}

/** File extensions PyTorch pickle checkpoints use. */
export const PICKLE_EXTENSIONS = /\.(pth|pt|bin|ckpt)$/i;
