/**
 * An image folder in the ImageFolder layout (`root/<class>/**.png|jpg`),
 * listed and checked at open, decoded lazily per batch.
 *
 * Class order: the subfolder names sorted by UTF-16 code units (`Array.sort`,
 * locale-independent, so `"B" < "a"`); label `i` is `classNames[i]`. Files
 * within a class are sorted the same way by their path below the class folder.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkIndices } from "./array_source.ts";
import { join, reason, sha256Text } from "../util/bytes.ts";
import {
  checkPixels,
  decodeImage,
  DEFAULT_MAX_PIXELS,
  PixelLimitError,
  readImageHeader,
  toUnitFloat,
} from "./_image.ts";
import type { ImageShape, ImageSource, OpenedDataset } from "./types.ts";

/** Options for {@linkcode openFolder}. */
export interface OpenFolderOptions {
  /**
   * File extensions to read, case-insensitive. The format is told by the
   * file's bytes, not its extension.
   *
   * @default {[".png", ".jpg", ".jpeg"]}
   */
  extensions?: readonly string[];
  /**
   * What to do with a file that cannot be read: `"fail"` throws naming the
   * first one and the count, `"skip"` leaves them out and reports them in one
   * line through `onWarning`.
   *
   * @default {"fail"}
   */
  onBadImage?: "skip" | "fail";
  /**
   * How much of each file is checked at open: `"header"` reads only the
   * size (fast; a file with a good header but a corrupt body then fails at
   * `batch`), `"decode"` decodes every image once.
   *
   * @default {"header"}
   */
  verify?: "header" | "decode";
  /**
   * Output `[height, width]`. When given, images of another size are resized
   * on read (bilinear, half-pixel centres, as PyTorch's `align_corners=False`);
   * when not, every image must have the first image's size.
   *
   * @default {undefined}
   */
  size?: readonly [number, number];
  /**
   * Output channels: 3 (RGB; grey images are repeated) or 1 (BT.601 luma).
   * PNG alpha is dropped.
   *
   * @default {3}
   */
  channels?: 1 | 3;
  /**
   * Files read at once within one batch.
   *
   * @default {8}
   */
  concurrency?: number;
  /**
   * The most pixels (height × width) an image may have, read from its header
   * at open, before anything is decoded: a small PNG can claim 20000×20000
   * pixels and cost gigabytes per batch. A larger image is unreadable
   * (`onBadImage` decides).
   *
   * @default {50_000_000}
   */
  maxPixels?: number;
  /**
   * The config key of this dataset, named in the pixel-limit error
   * (e.g. `data.train` gives `data.train.maxPixels`).
   *
   * @default {undefined}
   */
  key?: string;
  /**
   * Receives one-line warnings (skipped files, images outside class folders).
   *
   * @default {console.warn}
   */
  onWarning?: (line: string) => void;
}

interface Entry {
  path: string;
  label: number;
  height: number;
  width: number;
  stamp: string;
}

const SHOW = 3;

async function sortedEntries(dir: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) entries.push(e);
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function isDir(path: string, entry: Deno.DirEntry): Promise<boolean> {
  return entry.isDirectory || (entry.isSymlink && (await Deno.stat(path)).isDirectory);
}

async function listImages(dir: string, exts: string[], out: string[]): Promise<void> {
  for (const e of await sortedEntries(dir)) {
    const path = join(dir, e.name);
    if (await isDir(path, e)) await listImages(path, exts, out);
    else if (exts.some((x) => e.name.toLowerCase().endsWith(x))) out.push(path);
  }
}

/** Run `fn` over `items` with at most `limit` in flight, keeping order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * Open an ImageFolder-style tree: one subfolder per class, PNG and JPEG
 * files (any depth) below each. Files are listed and their headers read at
 * open; pixels are decoded only when a batch asks for them, so folders larger
 * than memory work (pair with {@linkcode prefetchBatches} to overlap reading).
 *
 * @example
 * ```ts ignore
 * import { openFolder } from "./folder.ts";
 * const { images, evaluation } = await openFolder("data/pets", { size: [64, 64], onBadImage: "skip" });
 * console.log(images.length, evaluation?.classNames); // e.g. 1200 ["cat", "dog"]
 * const x = await images.batch([0, 1, 2]); // [3, 64, 64, 3] float32 in [0, 1]
 * x.dispose();
 * ```
 *
 * @param root The folder holding one subfolder per class.
 * @param options Extensions, bad-file policy, output size and channels.
 * @returns The lazily decoded images, and the labels for evaluation only.
 * @throws {Error} On an empty folder, an unreadable file (with `onBadImage: "fail"`) or mixed sizes without `size`.
 */
export async function openFolder(
  root: string,
  options: OpenFolderOptions = {},
): Promise<OpenedDataset> {
  const exts = (options.extensions ?? [".png", ".jpg", ".jpeg"]).map((x) => x.toLowerCase());
  const channels = options.channels ?? 3;
  const warn = options.onWarning ?? ((line: string) => console.warn(line));
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`Folder "${root}": channels must be 1 or 3, got ${channels}`);
  }
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const limitKey = options.key ? `${options.key}.maxPixels` : "maxPixels";
  if (!(Number.isSafeInteger(maxPixels) && maxPixels >= 1)) {
    throw new RangeError(`${limitKey}: expected an integer ≥ 1, got ${maxPixels}`);
  }
  const classNames: string[] = [];
  const files: { path: string; label: number }[] = [];
  let loose = 0;
  let top: Deno.DirEntry[];
  try {
    top = await sortedEntries(root);
  } catch (e) {
    const key = options.key ? `${options.key}.root` : "the path";
    throw new Error(`Cannot list image folder "${root}": ${reason(e)} (check ${key})`, {
      cause: e,
    });
  }
  for (const e of top) {
    const path = join(root, e.name);
    if (await isDir(path, e)) {
      const found: string[] = [];
      await listImages(path, exts, found);
      for (const f of found) files.push({ path: f, label: classNames.length });
      classNames.push(e.name);
    } else if (exts.some((x) => e.name.toLowerCase().endsWith(x))) loose++;
  }
  if (loose > 0) {
    warn(`Folder "${root}": ignored ${loose} image(s) outside class subfolders`);
  }
  if (files.length === 0) {
    throw new Error(
      `Folder "${root}" has no ${exts.join("/")} images in class subfolders ` +
        `(expected ${root}/<class>/<image>; check the path and data.extensions)`,
    );
  }
  const bad: { path: string; why: string }[] = [];
  const checked = await mapLimited(files, 16, async (f): Promise<Entry | undefined> => {
    try {
      const h = await readImageHeader(f.path);
      checkPixels(h.height, h.width, maxPixels);
      if (options.verify === "decode") {
        const img = decodeImage(await Deno.readFile(f.path), maxPixels);
        if (img.height !== h.height || img.width !== h.width) throw new Error("header disagrees");
      }
      return { ...f, height: h.height, width: h.width, stamp: `${f.path}:${h.size}:${h.mtime}` };
    } catch (e) {
      if (e instanceof PixelLimitError && options.onBadImage !== "skip") {
        throw new Error(
          `Cannot read image "${f.path}": ${e.message} (${limitKey}); raise ${limitKey} ` +
            `if the image is genuine, or remove it`,
        );
      }
      bad.push({ path: f.path, why: reason(e) });
      return undefined;
    }
  });
  bad.sort((a, b) => (a.path < b.path ? -1 : 1));
  if (bad.length > 0) {
    const more = bad.slice(1, SHOW).map((b) => `"${b.path}"`).join(", ");
    const rest = bad.length > SHOW ? ` and ${bad.length - SHOW} more` : "";
    if (options.onBadImage !== "skip") {
      throw new Error(
        `Cannot read image "${bad[0].path}": ${bad[0].why} (${bad.length} of ${files.length} ` +
          `files unreadable${more ? `, also ${more}${rest}` : ""}; fix or remove them, ` +
          `or pass onBadImage: "skip")`,
      );
    }
    const list = bad.slice(0, SHOW).map((b) => `"${b.path}" (${b.why})`).join(", ");
    warn(
      `Folder "${root}": skipped ${bad.length} unreadable image(s) of ${files.length}: ${list}${rest}`,
    );
  }
  const entries = checked.filter((e): e is Entry => e !== undefined);
  if (entries.length === 0) throw new Error(`Folder "${root}": every image is unreadable`);
  const first = entries[0];
  if (!options.size) {
    const odd = entries.find((e) => e.height !== first.height || e.width !== first.width);
    if (odd) {
      throw new Error(
        `Image "${odd.path}" is ${odd.height}×${odd.width} (h×w) but the first image ` +
          `"${first.path}" is ${first.height}×${first.width}: make all images one size, ` +
          `or pass size: [h, w] to resize on read`,
      );
    }
  }
  const [h, w] = options.size ?? [first.height, first.width];
  const shape: ImageShape = [h, w, channels];
  const digest = await sha256Text(
    [root, shape.join("x"), classNames.join("/"), ...entries.map((e) => e.stamp)].join("\n"),
  );
  const name = `folder/${root.split("/").filter(Boolean).pop() ?? root}`;
  const fingerprint = `${name}|folder|${root}|${entries.length} files|sha256 ${digest}`;
  return {
    images: new FolderImageSource(
      name,
      entries,
      shape,
      fingerprint,
      options.concurrency ?? 8,
      maxPixels,
    ),
    evaluation: { labels: Int32Array.from(entries, (e) => e.label), classNames },
  };
}

/** Decodes files on demand; holds paths and sizes only (no labels). */
class FolderImageSource implements ImageSource {
  readonly length: number;
  #files: { path: string; height: number; width: number }[] | undefined;

  constructor(
    readonly name: string,
    entries: readonly Entry[],
    readonly imageShape: ImageShape,
    readonly fingerprint: string,
    readonly concurrency: number,
    readonly maxPixels: number,
  ) {
    this.length = entries.length;
    this.#files = entries.map(({ path, height, width }) => ({ path, height, width }));
  }

  async batch(indices: ArrayLike<number>): Promise<tf.Tensor4D> {
    const files = this.#files;
    if (!files) throw new Error(`"${this.name}" is closed`);
    checkIndices(indices, this.length, this.name);
    const [h, w, c] = this.imageShape;
    const size = h * w * c;
    const wanted = Array.from(indices, (i) => files[i]);
    const images = await mapLimited(wanted, this.concurrency, async (f) => {
      try {
        const img = decodeImage(await Deno.readFile(f.path), this.maxPixels);
        const pixels = new Float32Array(img.height * img.width * c);
        toUnitFloat(img.rgb, c as 1 | 3, pixels, 0);
        return { height: img.height, width: img.width, pixels };
      } catch (e) {
        throw new Error(
          `Cannot decode image "${f.path}": ${reason(e)} (replace or remove it; ` +
            `verify: "decode" with onBadImage: "skip" leaves such files out at open)`,
        );
      }
    });
    if (images.every((im) => im.height === h && im.width === w)) {
      const out = new Float32Array(images.length * size);
      images.forEach((im, k) => out.set(im.pixels, k * size));
      return tf.tensor4d(out, [images.length, h, w, c], "float32");
    }
    return tf.tidy(() =>
      tf.stack(images.map((im) => {
        const t = tf.tensor3d(im.pixels, [im.height, im.width, c], "float32");
        if (im.height === h && im.width === w) return t;
        return tf.image.resizeBilinear(t, [h, w], false, true);
      })) as tf.Tensor4D
    );
  }

  close(): void {
    this.#files = undefined;
  }
}
