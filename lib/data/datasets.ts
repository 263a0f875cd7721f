/**
 * The dataset registry: one {@linkcode DatasetSpec} (plain data, as found in
 * a config file) in, one {@linkcode OpenedDataset} out.
 *
 * Labels never reach training by construction: `openDataset` returns the
 * images as an `ImageSource`, which has no labels, and the labels in a
 * separate `evaluation` object that only evaluation code is handed.
 *
 * Downloadable datasets (`fashion-mnist`, `mnist`, `cifar10`, `cifar100`)
 * are looked for in `dataDir`, then in system folders (Debian's
 * `/usr/share/datasets/fashion-mnist` from `dataset-fashion-mnist`), then in
 * `cacheDir/<name>`; if absent and `download` is true, they are downloaded
 * there and verified. Checksums: Fashion-MNIST, SHA-256 and MD5 (the SHA-256
 * values were computed from the upstream files, the MD5s are upstream's);
 * MNIST and CIFAR, the MD5s their authors publish (no SHA-256 is published,
 * and none could be computed without the files). See {@linkcode IDX_DATASETS}
 * and {@linkcode CIFAR_LAYOUT}.
 *
 * @module
 */
import {
  defaultCacheDir,
  type DownloadableSpec,
  IDX_DATASETS,
  type IdxDataset,
  resolveCifar,
  resolveIdx,
} from "./_resolve.ts";
import { defaultProgress } from "./_progress.ts";

export type { DownloadableSpec };
import { CIFAR_LAYOUT } from "./cifar.ts";
import type { DownloadProgress } from "./download.ts";
import { openFolder } from "./folder.ts";
import { openNpyImages } from "./npy.ts";
import type { OpenedDataset } from "./types.ts";

export { CIFAR_LAYOUT, defaultCacheDir, IDX_DATASETS, type IdxDataset };
export { prefetchBatches, type PrefetchOptions } from "./_prefetch.ts";

/** Fashion-MNIST (Zalando), 28×28×1, 10 classes; IDX files. */
export interface FashionMnistSpec extends DownloadableSpec {
  /** The registry key. */
  name: "fashion-mnist";
}

/** MNIST, 28×28×1, 10 classes; IDX files. */
export interface MnistSpec extends DownloadableSpec {
  /** The registry key. */
  name: "mnist";
}

/** CIFAR-10 or CIFAR-100 (fine labels), 32×32×3; the binary version. */
export interface CifarSpec extends DownloadableSpec {
  /** The registry key. */
  name: "cifar10" | "cifar100";
}

/** An ImageFolder tree: `root/<class>/<image>`. */
export interface FolderSpec {
  /** The registry key. */
  name: "folder";
  /** The folder holding one subfolder per class. */
  root: string;
  /**
   * Extensions read.
   * @default {[".png", ".jpg", ".jpeg"]}
   */
  extensions?: string[];
  /**
   * `"skip"` leaves unreadable files out (and reports them), `"fail"` throws.
   * @default {"fail"}
   */
  onBadImage?: "skip" | "fail";
  /**
   * Check at open: `"header"` (size only) or `"decode"` (every image).
   * @default {"header"}
   */
  verify?: "header" | "decode";
  /**
   * Resize to `[h, w]` on read; without it all images must share one size.
   * @default {undefined}
   */
  size?: [number, number];
  /**
   * Output channels.
   * @default {3}
   */
  channels?: 1 | 3;
  /**
   * The most pixels (height × width) an image may have, checked in its
   * header at open, before decoding (a PNG decompression bomb is refused).
   * @default {50_000_000}
   */
  maxPixels?: number;
}

/** Images in a `.npy` file, `[N, H, W, C]` or `[N, H, W]`. */
export interface NpySpec {
  /** The registry key. */
  name: "npy";
  /** The images file. */
  path: string;
  /**
   * A `.npy` of integer labels `[N]`.
   * @default {undefined}
   */
  labels?: string;
  /**
   * What the file holds. Only `"images"` opens here; `"features"` is an
   * error pointing to `openFeatures` in `npy.ts`, because features are not
   * images and an `ImageSource` would misdescribe them.
   *
   * @default {"images"}
   */
  kind?: "images" | "features";
  /**
   * Class names by label.
   * @default {the labels' decimal values}
   */
  classNames?: string[];
}

/** What to open: a discriminated union on `name`. */
export type DatasetSpec = FashionMnistSpec | MnistSpec | CifarSpec | FolderSpec | NpySpec;

/** The names {@linkcode openDataset} accepts. */
export const DATASET_NAMES: readonly DatasetSpec["name"][] = [
  "fashion-mnist",
  "mnist",
  "cifar10",
  "cifar100",
  "folder",
  "npy",
];

/** Runtime hooks for {@linkcode openDataset} (kept out of the spec, which is plain data). */
export interface OpenDatasetOptions {
  /**
   * The fetch used for downloads (tests inject one).
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Download progress.
   *
   * @default {a cli-progress bar on a terminal, else a line per file on stderr}
   */
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * One-line warnings, e.g. skipped images.
   * @default {console.warn}
   */
  onWarning?: (line: string) => void;
  /**
   * The config key of the spec (e.g. `data.train`), named in errors about its keys.
   * @default {undefined}
   */
  key?: string;
}

/**
 * Open a dataset by its spec.
 *
 * @example Debian's Fashion-MNIST, no download
 * ```ts ignore
 * import { openDataset } from "./datasets.ts";
 * const { images, evaluation } = await openDataset({ name: "fashion-mnist", split: "test", download: false });
 * console.log(images.length, images.imageShape); // 10000 [28, 28, 1]
 * const x = await images.batch([0, 1]);          // float32 [2, 28, 28, 1] in [0, 1]
 * x.dispose();
 * images.close();
 * ```
 *
 * @param spec Which dataset, and where.
 * @param options Download and warning hooks.
 * @returns The images, and the labels for evaluation only.
 * @throws {RangeError} For an unknown name or split.
 * @throws {TypeError} For `npy` with `kind: "features"` (use `openFeatures`).
 * @throws {Error} When the data is missing (the message says how to get it) or bad (it names the file).
 */
export async function openDataset(
  spec: DatasetSpec,
  options: OpenDatasetOptions = {},
): Promise<OpenedDataset> {
  if (!DATASET_NAMES.includes(spec?.name)) {
    throw new RangeError(
      `Unknown dataset "${spec?.name}": expected one of ${DATASET_NAMES.join(", ")}`,
    );
  }
  const hooks = { fetch: options.fetch, onProgress: options.onProgress ?? defaultProgress() };
  switch (spec.name) {
    case "fashion-mnist":
    case "mnist":
    case "cifar10":
    case "cifar100": {
      if (spec.split !== undefined && spec.split !== "train" && spec.split !== "test") {
        throw new RangeError(
          `Unknown split "${spec.split}" for ${spec.name}: expected train or test`,
        );
      }
      return spec.name === "cifar10" || spec.name === "cifar100"
        ? await resolveCifar(spec.name, spec, hooks)
        : await resolveIdx(spec.name, spec, hooks);
    }
    case "folder":
      return await openFolder(spec.root, {
        ...spec,
        onWarning: options.onWarning,
        key: options.key,
      });
    case "npy":
      if ((spec.kind ?? "images") === "features") {
        throw new TypeError(
          `Dataset npy "${spec.path}" has kind "features": features are not images, so they do ` +
            `not open as an ImageSource; read them with openFeatures("${spec.path}") from lib/data/npy.ts`,
        );
      }
      if (spec.kind !== undefined && spec.kind !== "images") {
        throw new RangeError(`Unknown npy kind "${spec.kind}": expected images or features`);
      }
      return await openNpyImages(spec.path, { labels: spec.labels, classNames: spec.classNames });
  }
}
