/**
 * Find a downloadable dataset on disk (data dir, system dir, cache), or
 * download it into the cache; then open it.
 *
 * @module
 */
import { exists, join, reason } from "../util/bytes.ts";
import { CIFAR_LAYOUT, fetchCifar, openCifar } from "./cifar.ts";
import { downloadFile, type DownloadProgress, type FileHashes } from "./download.ts";
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, openIdx } from "./idx.ts";
import type { OpenedDataset } from "./types.ts";
import { grantedEnv } from "../util/env.ts";

/** Runtime hooks shared by the resolvers. */
export interface Hooks {
  fetch?: typeof fetch;
  onProgress: (p: DownloadProgress) => void;
}

/** The fields every downloadable spec shares (documented on `DownloadableSpec`). */
export type Locatable = DownloadableSpec;

/** Where an IDX dataset comes from and how it is checked. */
export interface IdxDataset {
  /** Its name in messages. */
  title: string;
  /** The canonical base URL of its files. */
  url: string;
  /** System folders where a distribution installs it. */
  system: string[];
  /** The command that installs it, if a distribution packages it. */
  install?: string;
  /** Class names by label. */
  classes: readonly string[];
  /** Digests of each `.gz` file. */
  files: Record<string, FileHashes>;
}

/**
 * Where each IDX dataset comes from. Fashion-MNIST: SHA-256 computed here from
 * the upstream files, rebuilt byte for byte from Debian's recompressed copies
 * (the MD5s match the ones upstream publishes), plus those MD5s. MNIST: the
 * published MD5s only.
 */
export const IDX_DATASETS: Readonly<Record<"fashion-mnist" | "mnist", IdxDataset>> = {
  "fashion-mnist": {
    title: "Fashion-MNIST",
    url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    system: ["/usr/share/datasets/fashion-mnist"],
    install: "sudo apt-get install dataset-fashion-mnist",
    classes: FASHION_MNIST_CLASSES,
    files: {
      "train-images-idx3-ubyte.gz": {
        sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
      },
      "train-labels-idx1-ubyte.gz": {
        sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
      },
      "t10k-images-idx3-ubyte.gz": {
        sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        md5: "bef4ecab320f06d8554ea6380940ec79",
      },
      "t10k-labels-idx1-ubyte.gz": {
        sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
      },
    },
  },
  mnist: {
    title: "MNIST",
    url: "https://ossci-datasets.s3.amazonaws.com/mnist/",
    system: [],
    classes: MNIST_CLASSES,
    files: {
      "train-images-idx3-ubyte.gz": { md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873" },
      "train-labels-idx1-ubyte.gz": { md5: "d53e105ee54ea40749a09fcbcd1e9432" },
      "t10k-images-idx3-ubyte.gz": { md5: "9fb629c4189551a2d022fa330f9573f3" },
      "t10k-labels-idx1-ubyte.gz": { md5: "ec29112dd5afa0611ce80d1b7f02629c" },
    },
  },
};

/**
 * `$XDG_CACHE_HOME/coss/datasets`, else `$HOME/.cache/coss/datasets`; undefined without env access.
 *
 * @example
 * ```ts
 * import { defaultCacheDir } from "./datasets.ts";
 *
 * console.log(defaultCacheDir()); // e.g. "/home/me/.cache/coss/datasets"
 * ```
 */
export function defaultCacheDir(): string | undefined {
  const xdg = grantedEnv("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "coss/datasets");
  const home = grantedEnv("HOME");
  return home ? join(home, ".cache/coss/datasets") : undefined;
}

function withSlash(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}

/** Locate (or download) and open MNIST or Fashion-MNIST. */
export async function resolveIdx(
  name: "fashion-mnist" | "mnist",
  spec: Locatable,
  hooks: Hooks,
): Promise<OpenedDataset> {
  const info = IDX_DATASETS[name];
  const split = spec.split ?? "train";
  const prefix = split === "train" ? "train" : "t10k";
  const wanted = [`${prefix}-images-idx3-ubyte`, `${prefix}-labels-idx1-ubyte`];
  const cacheRoot = spec.cacheDir ?? defaultCacheDir();
  const cache = cacheRoot ? join(cacheRoot, name) : undefined;
  const system = spec.useSystemData === false ? [] : info.system;
  const dirs = [spec.dataDir, ...system, cache].filter((d): d is string => d !== undefined);
  const open = (paths: string[]) =>
    openIdx({ images: paths[0], labels: paths[1] }, {
      name: `${name}/${split}`,
      classNames: info.classes,
    });
  for (const dir of dirs) {
    const found: string[] = [];
    for (const base of wanted) {
      for (const candidate of [join(dir, base), join(dir, `${base}.gz`)]) {
        if (await exists(candidate)) {
          found.push(candidate);
          break;
        }
      }
    }
    if (found.length === wanted.length) return await open(found);
  }
  const tried = dirs.length ? dirs.join(", ") : "(no folders: pass data.dataDir)";
  const fixes = [
    info.install ? `install it with "${info.install}"` : "",
    "pass data.dataDir",
  ].filter(Boolean);
  if (spec.download === false || !cache) {
    const allow = cache
      ? "or allow the download (data.download: true)"
      : "or set data.cacheDir (or HOME) and allow the download";
    throw new Error(
      `${info.title} not found in ${tried}: ${fixes.join(", or ")}, ${allow}`,
    );
  }
  const paths: string[] = [];
  try {
    for (const base of wanted) {
      const file = `${base}.gz`;
      const dest = join(cache, file);
      if (!(await exists(dest))) {
        await downloadFile(withSlash(spec.mirror ?? info.url) + file, dest, {
          ...info.files[file],
          fetch: hooks.fetch,
          onProgress: hooks.onProgress,
        });
      }
      paths.push(dest);
    }
  } catch (e) {
    throw new Error(
      `${info.title} not found in ${tried} and the download failed: ${reason(e)}; ` +
        `${fixes.join(", or ")}`,
      { cause: e },
    );
  }
  return await open(paths);
}

/** Locate (or download and extract) and open CIFAR-10 or CIFAR-100. */
export async function resolveCifar(
  name: "cifar10" | "cifar100",
  spec: Locatable,
  hooks: Hooks,
): Promise<OpenedDataset> {
  const layout = CIFAR_LAYOUT[name];
  const title = name === "cifar10" ? "CIFAR-10" : "CIFAR-100";
  const split = spec.split ?? "train";
  const cacheRoot = spec.cacheDir ?? defaultCacheDir();
  const cache = cacheRoot ? join(cacheRoot, name) : undefined;
  const testFile = layout.test[0];
  const candidates = [
    ...(spec.dataDir ? [join(spec.dataDir, layout.folder), spec.dataDir] : []),
    ...(cache ? [join(cache, layout.folder)] : []),
  ];
  for (const dir of candidates) {
    if (await exists(join(dir, testFile))) return await openCifar(dir, { split });
  }
  const tried = candidates.length ? candidates.join(", ") : "(no folders: pass data.dataDir)";
  const fix = `pass data.dataDir (a folder holding ${layout.folder}/)`;
  if (spec.download === false || !cache) {
    const allow = cache
      ? "or allow the download (data.download: true)"
      : "or set data.cacheDir (or HOME) and allow the download";
    throw new Error(`${title} not found in ${tried}: ${fix}, ${allow}`);
  }
  let dir: string;
  try {
    dir = await fetchCifar(name, cache, {
      url: spec.mirror ? withSlash(spec.mirror) + layout.archive : undefined,
      fetch: hooks.fetch,
      onProgress: hooks.onProgress,
    });
  } catch (e) {
    throw new Error(
      `${title} not found in ${tried} and the download failed: ${reason(e)}; ${fix}`,
      { cause: e },
    );
  }
  return await openCifar(dir, { split });
}

/** Fields shared by the datasets that can be downloaded. */
export interface DownloadableSpec {
  /**
   * Which split.
   * @default {"train"}
   */
  split?: "train" | "test";
  /**
   * A folder holding the files (IDX: the four `*-ubyte[.gz]` files; CIFAR:
   * the extracted `cifar-10-batches-bin/` or `cifar-100-binary/`, or its parent).
   * Looked in first.
   *
   * @default {undefined}
   */
  dataDir?: string;
  /**
   * Where downloads go (in a subfolder per dataset), and a place to look.
   *
   * @default {"$XDG_CACHE_HOME/coss/datasets, else ~/.cache/coss/datasets"}
   */
  cacheDir?: string;
  /**
   * Download into `cacheDir` when not found.
   * @default {true}
   */
  download?: boolean;
  /**
   * Also look where a distribution installs the data (Debian's
   * `/usr/share/datasets/fashion-mnist`); false makes a run depend only on
   * `dataDir` and `cacheDir`.
   *
   * @default {true}
   */
  useSystemData?: boolean;
  /**
   * Base URL to download from instead of the canonical one (a mirror; the
   * files must still match the known checksums).
   *
   * @default {the canonical URL}
   */
  mirror?: string;
}
