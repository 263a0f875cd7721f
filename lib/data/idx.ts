/**
 * The IDX format of MNIST and Fashion-MNIST (gzipped or not), streamed into
 * one preallocated uint8 array.
 *
 * Format (LeCun's): a 4-byte magic `00 00 08 ndim` (0x08 = unsigned byte),
 * then `ndim` big-endian uint32 sizes, then the bytes in C order. Images are
 * magic 0x0803 (`N×rows×cols`), labels 0x0801 (`N`).
 *
 * @module
 */
import { ArrayImageSource } from "./array_source.ts";
import { ByteReader, fileStamp, openBytes, reason } from "../util/bytes.ts";
import type { OpenedDataset } from "./types.ts";

/** Fashion-MNIST's class names, by label (from the dataset's README). */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** MNIST's class names: the digits. */
export const MNIST_CLASSES: readonly string[] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/** An IDX array as read: unsigned bytes in C order and their dimensions. */
export interface IdxArray {
  /** The file read. */
  path: string;
  /** Dimensions from the header, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** The values. */
  data: Uint8Array;
}

/** Options for {@linkcode readIdx}. */
export interface ReadIdxOptions {
  /**
   * What the file must hold: `"images"` (magic 0x0803) or `"labels"` (magic
   * 0x0801). Any other magic is a SyntaxError naming both.
   *
   * @default {undefined} (any unsigned-byte IDX file)
   */
  expect?: "images" | "labels";
}

const MAGIC = { images: 0x0803, labels: 0x0801 } as const;
/** Larger than any real IDX file; stops a corrupt header from allocating gigabytes. */
const MAX_BYTES = 2 ** 32;

function hex4(v: number): string {
  return "0x" + v.toString(16).padStart(4, "0");
}

/**
 * Read one IDX file of unsigned bytes. A `.gz` file (detected by its magic,
 * not its name) is gunzipped on the fly straight into one array of the size
 * the header states, so only one decoded copy is ever held.
 *
 * @example
 * ```ts ignore
 * import { readIdx } from "./idx.ts";
 * const labels = await readIdx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", {
 *   expect: "labels",
 * });
 * console.log(labels.dims); // [10000]
 * ```
 *
 * @param path The `.idx` or `.gz` file.
 * @param options What the file must hold.
 * @returns The dimensions and bytes.
 * @throws {SyntaxError} On a wrong magic, a truncated file or trailing bytes; the message names the file.
 */
export async function readIdx(path: string, options: ReadIdxOptions = {}): Promise<IdxArray> {
  const fail = (what: string, fix = "delete it and download it again") =>
    new SyntaxError(`Cannot read IDX file "${path}": ${what} (${fix})`);
  let opened: Awaited<ReturnType<typeof openBytes>>;
  try {
    opened = await openBytes(path);
  } catch (e) {
    throw new Error(`Cannot read IDX file "${path}": ${reason(e)} (check the path)`, { cause: e });
  }
  const { stream, gzip } = opened;
  const reader = new ByteReader(stream);
  try {
    const head = new Uint8Array(4);
    if (await reader.readInto(head) < 4) throw fail("truncated: the file is shorter than a header");
    const magic = (head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3]) >>> 0;
    if (head[0] !== 0 || head[1] !== 0 || head[2] !== 0x08 || head[3] < 1 || head[3] > 4) {
      throw fail(
        `magic 0x${magic.toString(16).padStart(8, "0")} is not an unsigned-byte IDX magic ` +
          `(0x0000080N)`,
        "is it the right file? MNIST-style files are named like train-images-idx3-ubyte.gz",
      );
    }
    if (options.expect && magic !== MAGIC[options.expect]) {
      const other = options.expect === "images" ? "labels" : "images";
      const isOther = magic === MAGIC[other];
      throw fail(
        `magic ${hex4(magic)} is not ${
          options.expect === "images" ? "an image" : "a label"
        } file (${hex4(MAGIC[options.expect])})`,
        isOther ? `it holds ${other}: swap the images and labels paths` : "is it the right file?",
      );
    }
    const dimBytes = new Uint8Array(4 * head[3]);
    if (await reader.readInto(dimBytes) < dimBytes.length) {
      throw fail("truncated inside the header");
    }
    const view = new DataView(dimBytes.buffer);
    const dims = Array.from({ length: head[3] }, (_, i) => view.getUint32(4 * i));
    const total = dims.reduce((a, b) => a * b, 1);
    if (total > MAX_BYTES) {
      throw fail(`header states ${dims.join("×")} = ${total} bytes, which is implausible`);
    }
    const data = new Uint8Array(total);
    const got = await reader.readInto(data);
    if (got < total) {
      throw fail(
        `truncated: the header states ${dims.join("×")} = ${total} bytes of data, ` +
          `the ${gzip ? "decompressed " : ""}file has ${got}`,
      );
    }
    if (!(await reader.atEnd())) {
      const extra = await reader.drain();
      throw fail(`${extra} unexpected bytes after the ${total} bytes the header states`);
    }
    return { path, dims, data };
  } catch (e) {
    if (e instanceof SyntaxError && e.message.startsWith("Cannot read IDX")) throw e;
    throw fail(
      `${gzip ? "the gzip data is corrupt or truncated: " : ""}${reason(e)}`,
    );
  } finally {
    await reader.cancel();
  }
}

/** The files of one IDX split. */
export interface IdxFiles {
  /** Images, magic 0x0803, `N×rows×cols`. */
  images: string;
  /** Labels, magic 0x0801, `N`; without them the dataset has no `evaluation`. */
  labels?: string;
}

/** Options for {@linkcode openIdx}. */
export interface OpenIdxOptions {
  /**
   * The source's name in logs and cache keys, e.g. `fashion-mnist/train`.
   *
   * @default {"idx"}
   */
  name?: string;
  /**
   * Class names by label. Every label must index into it.
   *
   * @default {undefined} (the labels' decimal values, `"0"` up to the largest label)
   */
  classNames?: readonly string[];
}

/**
 * Open an IDX image file, and optionally its labels, as an
 * {@linkcode OpenedDataset}: images `[rows, cols, 1]` kept as uint8 and
 * converted per batch.
 *
 * @example
 * ```ts ignore
 * import { openIdx, FASHION_MNIST_CLASSES } from "./idx.ts";
 * const dir = "/usr/share/datasets/fashion-mnist";
 * const { images, evaluation } = await openIdx(
 *   { images: `${dir}/t10k-images-idx3-ubyte.gz`, labels: `${dir}/t10k-labels-idx1-ubyte.gz` },
 *   { name: "fashion-mnist/test", classNames: FASHION_MNIST_CLASSES },
 * );
 * console.log(images.length, images.imageShape, evaluation?.labels[0]); // 10000 [28, 28, 1] 9
 * ```
 *
 * @param files The images file and, optionally, the labels file.
 * @param options Name and class names.
 * @returns The images, and the labels for evaluation only.
 * @throws {SyntaxError} On a bad file, or when the counts of images and labels differ.
 */
export async function openIdx(
  files: IdxFiles,
  options: OpenIdxOptions = {},
): Promise<OpenedDataset> {
  const name = options.name ?? "idx";
  const images = await readIdx(files.images, { expect: "images" });
  const [n, rows, cols] = images.dims;
  const fingerprint = `${name}|idx|${await fileStamp(files.images)}`;
  const source = new ArrayImageSource(name, images.data, [rows, cols, 1], fingerprint);
  if (files.labels === undefined) return { images: source };
  const labels = await readIdx(files.labels, { expect: "labels" });
  if (labels.dims[0] !== n) {
    source.close();
    throw new SyntaxError(
      `IDX files disagree: "${files.images}" has ${n} images but "${files.labels}" has ` +
        `${labels.dims[0]} labels (use the images and labels of the same split)`,
    );
  }
  return { images: source, evaluation: labelsFor(labels, options.classNames, source) };
}

function labelsFor(
  labels: IdxArray,
  classNames: readonly string[] | undefined,
  source: ArrayImageSource,
): { labels: Int32Array; classNames: readonly string[] } {
  const values = Int32Array.from(labels.data);
  let max = -1;
  for (const v of values) max = Math.max(max, v);
  if (classNames && max >= classNames.length) {
    source.close();
    throw new SyntaxError(
      `Cannot read IDX file "${labels.path}": label ${max} is out of range for ` +
        `${classNames.length} classes (is it the right dataset?)`,
    );
  }
  const names = classNames ?? Array.from({ length: max + 1 }, (_, i) => String(i));
  return { labels: values, classNames: [...names] };
}
