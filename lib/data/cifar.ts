/**
 * CIFAR-10 and CIFAR-100, binary version: read the record files into one
 * uint8 HWC array, and fetch + extract the official archives.
 *
 * Format (Krizhevsky's page): each record is the label byte(s) then 3072
 * pixel bytes, 1024 red, 1024 green, 1024 blue, each plane row-major 32×32
 * (CHW). CIFAR-10 (`cifar-10-batches-bin/`): 1 label byte; `data_batch_1..5.bin`
 * train, `test_batch.bin` test, names in `batches.meta.txt`. CIFAR-100
 * (`cifar-100-binary/`): coarse then fine label byte (the fine label is
 * used); `train.bin`, `test.bin`, names in `fine_label_names.txt`.
 *
 * @module
 */
import { ArrayImageSource } from "./array_source.ts";
import { ByteReader, exists, fileStamp, join, reason } from "../util/bytes.ts";
import { extractTar } from "./_tar.ts";
import { downloadFile, type DownloadProgress, type FileHashes } from "./download.ts";
import type { OpenedDataset } from "./types.ts";

/** Which CIFAR. */
export type CifarVariant = "cifar10" | "cifar100";

/** CIFAR-10's class names, by label (as in `batches.meta.txt`). */
export const CIFAR10_CLASSES: readonly string[] = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

/** CIFAR-100's fine class names, by label (as in `fine_label_names.txt`). */
export const CIFAR100_CLASSES: readonly string[] = (
  "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus " +
  "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch " +
  "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo " +
  "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse " +
  "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy " +
  "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper " +
  "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television " +
  "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split(" ");

/** Where each variant's files live and come from. */
export const CIFAR_LAYOUT: Readonly<
  Record<CifarVariant, {
    folder: string;
    archive: string;
    url: string;
    hashes: FileHashes;
    labelBytes: number;
    train: readonly string[];
    test: readonly string[];
    namesFile: string;
    classes: readonly string[];
  }>
> = {
  cifar10: {
    folder: "cifar-10-batches-bin",
    archive: "cifar-10-binary.tar.gz",
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    hashes: { md5: "c32a1d4ab5d03f1284b67883e8d87530" }, // published on the CIFAR page
    labelBytes: 1,
    train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    test: ["test_batch.bin"],
    namesFile: "batches.meta.txt",
    classes: CIFAR10_CLASSES,
  },
  cifar100: {
    folder: "cifar-100-binary",
    archive: "cifar-100-binary.tar.gz",
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    hashes: { md5: "03b5dce01913d631647c71ecec9e9cb8" }, // published on the CIFAR page
    labelBytes: 2,
    train: ["train.bin"],
    test: ["test.bin"],
    namesFile: "fine_label_names.txt",
    classes: CIFAR100_CLASSES,
  },
};

const PIXELS = 32 * 32 * 3;
const CHUNK_RECORDS = 512;

/** Options for {@linkcode openCifar}. */
export interface OpenCifarOptions {
  /**
   * Which split to read.
   *
   * @default {"train"}
   */
  split?: "train" | "test";
}

/** Which variant an extracted folder holds, judged by its files. */
async function detect(dir: string): Promise<CifarVariant> {
  if (await exists(join(dir, "test_batch.bin"))) return "cifar10";
  if (await exists(join(dir, "test.bin"))) return "cifar100";
  throw new Error(
    `"${dir}" is not an extracted CIFAR binary folder: it has neither test_batch.bin ` +
      `(cifar-10-batches-bin) nor test.bin (cifar-100-binary); extract cifar-10-binary.tar.gz ` +
      `or cifar-100-binary.tar.gz there`,
  );
}

async function classNamesIn(dir: string, variant: CifarVariant): Promise<readonly string[]> {
  const layout = CIFAR_LAYOUT[variant];
  try {
    const text = await Deno.readTextFile(join(dir, layout.namesFile));
    const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== "");
    return names.length ? names : layout.classes;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return layout.classes;
    throw e;
  }
}

/**
 * Open an extracted CIFAR binary folder (`cifar-10-batches-bin` or
 * `cifar-100-binary`; the variant is told by its files). Images are
 * `[32, 32, 3]`, converted from the files' CHW to HWC once, at load.
 *
 * @example
 * ```ts ignore
 * import { openCifar } from "./cifar.ts";
 * const { images, evaluation } = await openCifar("data/cifar-10-batches-bin", { split: "test" });
 * console.log(images.length, evaluation?.classNames[0]); // 10000 "airplane"
 * ```
 *
 * @param dir The extracted folder.
 * @param options Which split.
 * @returns The images, and the labels for evaluation only.
 * @throws {SyntaxError} On a truncated file or an out-of-range label, naming the file.
 */
export async function openCifar(
  dir: string,
  options: OpenCifarOptions = {},
): Promise<OpenedDataset> {
  const split = options.split ?? "train";
  const variant = await detect(dir);
  const layout = CIFAR_LAYOUT[variant];
  const record = layout.labelBytes + PIXELS;
  const files = layout[split].map((f) => join(dir, f));
  const counts: number[] = [];
  for (const path of files) {
    let size: number;
    try {
      size = (await Deno.stat(path)).size;
    } catch (e) {
      throw new Error(
        `Cannot read CIFAR file "${path}": ${reason(e)} (the folder is incomplete: ` +
          `extract ${layout.archive} again)`,
      );
    }
    if (size % record !== 0) {
      throw new SyntaxError(
        `Cannot read CIFAR file "${path}": ${size} bytes is not a whole number of ` +
          `${record}-byte records (truncated? extract ${layout.archive} again)`,
      );
    }
    counts.push(size / record);
  }
  const n = counts.reduce((a, b) => a + b, 0);
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  const classNames = await classNamesIn(dir, variant);
  const scratch = new Uint8Array(CHUNK_RECORDS * record);
  let image = 0;
  for (const [f, path] of files.entries()) {
    const reader = new ByteReader((await Deno.open(path)).readable);
    try {
      for (let left = counts[f]; left > 0;) {
        const take = Math.min(left, CHUNK_RECORDS);
        const bytes = take * record;
        if (await reader.readInto(scratch.subarray(0, bytes)) < bytes) {
          throw new SyntaxError(`Cannot read CIFAR file "${path}": it shrank while being read`);
        }
        for (let r = 0; r < take; r++, image++) {
          const base = r * record;
          const label = scratch[base + layout.labelBytes - 1];
          if (label >= classNames.length) {
            throw new SyntaxError(
              `Cannot read CIFAR file "${path}": record ${
                counts[f] - left + r
              } has label ${label}, but there are ${classNames.length} classes ` +
                `(is it the right variant? extract ${layout.archive} again)`,
            );
          }
          labels[image] = label;
          chwToHwc(scratch, base + layout.labelBytes, pixels, image * PIXELS);
        }
        left -= take;
      }
    } finally {
      await reader.cancel();
    }
  }
  const name = `${variant}/${split}`;
  const stamps = await Promise.all(files.map(fileStamp));
  const fingerprint = `${name}|cifar-binary|${stamps.join("|")}`;
  return {
    images: new ArrayImageSource(name, pixels, [32, 32, 3], fingerprint),
    evaluation: { labels, classNames: [...classNames] },
  };
}

function chwToHwc(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
  for (let p = 0; p < 1024; p++) {
    dst[to + 3 * p] = src[from + p];
    dst[to + 3 * p + 1] = src[from + 1024 + p];
    dst[to + 3 * p + 2] = src[from + 2048 + p];
  }
}

/** Options for {@linkcode fetchCifar}. */
export interface FetchCifarOptions {
  /**
   * The archive's URL.
   * @default {the official URL in CIFAR_LAYOUT}
   */
  url?: string;
  /**
   * Digests the archive must have.
   * @default {the published MD5 in CIFAR_LAYOUT}
   */
  hashes?: FileHashes;
  /**
   * The fetch to use (tests inject one).
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Download progress.
   * @default {undefined}
   */
  onProgress?: (progress: DownloadProgress) => void;
}

/**
 * Download a CIFAR binary archive into `dir` (verified), extract it there and
 * return the extracted folder. The archive is kept next to it; extraction goes
 * to a temporary folder that is renamed into place only when complete.
 *
 * @example
 * ```ts ignore
 * import { fetchCifar, openCifar } from "./cifar.ts";
 * const folder = await fetchCifar("cifar10", `${Deno.env.get("HOME")}/.cache/coss/datasets/cifar10`);
 * const { images } = await openCifar(folder);
 * ```
 *
 * @param variant Which CIFAR.
 * @param dir The folder to download and extract into.
 * @param options URL, digests and hooks.
 * @returns The path of the extracted folder.
 * @throws {Error} When the download or the extraction fails; nothing partial is left behind.
 */
export async function fetchCifar(
  variant: CifarVariant,
  dir: string,
  options: FetchCifarOptions = {},
): Promise<string> {
  const layout = CIFAR_LAYOUT[variant];
  const archive = join(dir, layout.archive);
  const target = join(dir, layout.folder);
  if (!(await exists(archive))) {
    await downloadFile(options.url ?? layout.url, archive, {
      ...(options.hashes ?? layout.hashes),
      fetch: options.fetch,
      onProgress: options.onProgress,
    });
  }
  const temp = join(dir, `.extract-${crypto.randomUUID().slice(0, 8)}`);
  await Deno.mkdir(temp, { recursive: true });
  try {
    const stream = (await Deno.open(archive)).readable
      .pipeThrough(new DecompressionStream("gzip") as ReadableWritablePair<Uint8Array>);
    await extractTar(stream, temp, archive);
    if (!(await exists(join(temp, layout.folder)))) {
      throw new SyntaxError(
        `Cannot extract "${archive}": it has no "${layout.folder}/" folder ` +
          `(delete it and download it again)`,
      );
    }
    await Deno.remove(target, { recursive: true }).catch(() => {});
    await Deno.rename(join(temp, layout.folder), target);
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
  return target;
}
