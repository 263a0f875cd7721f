/**
 * Neighbour lists on disk: int32 safetensors keyed by the teacher-feature
 * cache key (see knn.ts).
 *
 * @module
 */
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { mineNeighbours } from "./mine.ts";
import type { FeatureMatrix, Neighbours } from "./types.ts";

/** Options for {@linkcode saveNeighbours}. */
export interface SaveNeighboursOptions {
  /**
   * The teacher-feature cache key the neighbours were mined from, stored as
   * `coss.key` so that a stale file is recognised.
   *
   * @default {""}
   */
  key?: string;
  /**
   * Extra string metadata.
   *
   * @default {{}}
   */
  metadata?: Record<string, string>;
}

/** Neighbours read back by {@linkcode loadNeighbours}, with the file's metadata. */
export interface LoadedNeighbours extends Neighbours {
  /** The file's `__metadata__` (`coss.key`, `n`, `k`, `created`, …). */
  metadata: Record<string, string>;
}

/**
 * Write neighbours as safetensors (atomically): `indices` I32 `[n, k]`,
 * `similarities` F32 `[n, k]`, metadata `coss.cache: "neighbours"`,
 * `coss.key`, `n`, `k`, `created`.
 *
 * @example
 * ```ts ignore
 * import { mineNeighbours, saveNeighbours } from "./mod.ts";
 * const nn = await mineNeighbours(cache, { k: 31 });
 * await saveNeighbours("cache/neighbours.safetensors", nn, { key: cache.key });
 * ```
 *
 * @param path Where the file ends up.
 * @param neighbours What {@linkcode mineNeighbours} returned.
 * @param options The cache key and extra metadata.
 */
export async function saveNeighbours(
  path: string,
  neighbours: Neighbours,
  options: SaveNeighboursOptions = {},
): Promise<void> {
  const { indices, similarities, n, k } = neighbours;
  await writeSafetensors(path, {
    indices: { dtype: "I32", shape: [n, k], values: indices },
    similarities: { dtype: "F32", shape: [n, k], values: similarities },
  }, {
    ...options.metadata,
    "coss.cache": "neighbours",
    "coss.key": options.key ?? "",
    n: String(n),
    k: String(k),
    created: new Date().toISOString(),
  });
}

/**
 * Read neighbours written by {@linkcode saveNeighbours}.
 *
 * @example
 * ```ts ignore
 * import { loadNeighbours } from "./files.ts";
 * const nn = await loadNeighbours("cache/neighbours.safetensors");
 * console.log(nn.n, nn.k, nn.metadata["coss.key"]);
 * ```
 *
 * @param path The file.
 * @returns The neighbour lists and the file's metadata.
 * @throws {SyntaxError} For a malformed file, or one without int32 `indices [n, k]` in range.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 */
export async function loadNeighbours(path: string): Promise<LoadedNeighbours> {
  const st = await readSafetensors(path);
  const idx = st.tensors.get("indices");
  const sim = st.tensors.get("similarities");
  const problem = (what: string) => new SyntaxError(`Cannot read neighbours "${path}": ${what}`);
  if (!idx || idx.dtype !== "I32" || idx.shape.length !== 2) {
    throw problem(`no I32 tensor "indices" [n, k]`);
  }
  const [n, k] = idx.shape;
  if (!sim || sim.dtype !== "F32" || sim.shape.join() !== idx.shape.join()) {
    throw problem(`no F32 tensor "similarities" [${n}, ${k}]`);
  }
  const indices = idx.values as Int32Array;
  for (let i = 0; i < indices.length; i++) {
    if (indices[i] < 0 || indices[i] >= n) {
      throw problem(`index ${indices[i]} in row ${Math.floor(i / k)} is outside [0, ${n})`);
    }
  }
  return { indices, similarities: sim.values as Float32Array, n, k, metadata: st.metadata };
}

/**
 * The neighbour file of cache key `key` and `k` in `dir`:
 * `<dir>/neighbours-<key[0:16]>-k<k>.safetensors`.
 *
 * @example
 * ```ts
 * import { neighbourCachePath } from "./files.ts";
 * console.log(neighbourCachePath("runs/cache", "0123456789abcdef0123", 31)); // "runs/cache/neighbours-0123456789abcdef-k31.safetensors"
 * ```
 */
export function neighbourCachePath(dir: string, key: string, k: number): string {
  return `${dir.replace(/\/+$/, "")}/neighbours-${key.slice(0, 16)}-k${k}.safetensors`;
}

/** Options for {@linkcode loadOrMineNeighbours}. */
export interface LoadOrMineOptions {
  /** Directory holding cache files (created when missing). */
  dir: string;
  /** The teacher features and their cache key, as `loadOrComputeFeatures` returns them. */
  features: FeatureMatrix & { key: string };
  /**
   * Neighbours per image.
   * @default {31}
   */
  k?: number;
  /**
   * Block size for {@linkcode mineNeighbours}.
   * @default {2048}
   */
  chunkSize?: number;
  /**
   * Where the one-line decision goes.
   * @default {console.error}
   */
  log?: (line: string) => void;
  /**
   * Show progress while mining.
   * @default {true}
   */
  progress?: boolean;
}

/** Neighbours from {@linkcode loadOrMineNeighbours}. */
export interface MinedNeighbours extends Neighbours {
  /** Whether they came from the file. */
  hit: boolean;
  /** The file: `<dir>/neighbours-<key[0:16]>-k<k>.safetensors`. */
  path: string;
}

/**
 * Neighbour lists for cached teacher features: read from
 * `<dir>/neighbours-<key[0:16]>-k<k>.safetensors` when its stored key and
 * shape match, else mined with {@linkcode mineNeighbours} and saved
 * atomically. One log line says which.
 *
 * @example
 * ```ts ignore
 * import { loadOrComputeFeatures } from "../teacher/cache.ts";
 * import { loadOrMineNeighbours } from "./files.ts";
 * const features = await loadOrComputeFeatures({ dir, teacher, images, transform, transformKey });
 * const nn = await loadOrMineNeighbours({ dir, features, k: 31 });
 * ```
 *
 * @param options Where, from what, and how many.
 * @returns The lists, whether they were cached, and the file.
 */
export async function loadOrMineNeighbours(options: LoadOrMineOptions): Promise<MinedNeighbours> {
  const { dir, features } = options;
  const k = options.k ?? 31;
  const log = options.log ?? ((line: string) => console.error(line));
  const key = features.key;
  if (typeof key !== "string" || key === "") {
    throw new TypeError("loadOrMineNeighbours: features.key (the teacher cache key) is required");
  }
  const path = neighbourCachePath(dir, key, k);
  let reason: string;
  try {
    const got = await loadNeighbours(path);
    if (got.metadata["coss.key"] !== key) {
      reason = `stale key in "${path}"`;
    } else if (got.n !== features.n || got.k !== k) {
      reason = `shape [${got.n}, ${got.k}] in "${path}", expected [${features.n}, ${k}]`;
    } else {
      log(`neighbour cache: hit "${path}" (${got.n}×${got.k})`);
      return { indices: got.indices, similarities: got.similarities, n: got.n, k, hit: true, path };
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) reason = "miss (no file)";
    else if (e instanceof SyntaxError) reason = `corrupt file (${e.message})`;
    else throw e;
  }
  log(`neighbour cache: ${reason} — mining ${features.n}×${k}`);
  const nn = await mineNeighbours(features, {
    k,
    chunkSize: options.chunkSize,
    progress: options.progress,
  });
  await Deno.mkdir(dir, { recursive: true });
  await saveNeighbours(path, nn, { key });
  return { ...nn, hit: false, path };
}
