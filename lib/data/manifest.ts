/**
 * The shard contract's base (issue 20): a deterministic manifest of a
 * dataset's images (global index and content hash each), its key, and the
 * split of the manifest into contiguous shard blocks aligned to the embed
 * batch, so that a sharded embed batches exactly like the single-process one.
 *
 * @module
 */
import { cacheKey, sha256 } from "./_teacher_key.ts";
import type { ImageSource } from "./types.ts";

/** One image of a {@linkcode Manifest}. */
export interface ManifestEntry {
  /** Global index in the source. */
  index: number;
  /** SHA-256 (hex) of the image's float32 pixels as the source returns them. */
  hash: string;
}

/** The dataset's images in order, with a key over all of them. */
export interface Manifest {
  /** The source's name. */
  name: string;
  /** The source's fingerprint. */
  fingerprint: string;
  /** One entry per image, in global-index order. */
  entries: ManifestEntry[];
  /** SHA-256 (hex) over the format, fingerprint and every entry. */
  key: string;
}

/** Options for {@linkcode buildManifest}. */
export interface BuildManifestOptions {
  /**
   * Images read per call to `source.batch`.
   * @default {256}
   */
  batchSize?: number;
}

/**
 * Reads every image of `source` once and returns its manifest.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { buildManifest } from "./manifest.ts";
 * import { ArrayImageSource } from "./_array_source.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const src = new ArrayImageSource("t", new Uint8Array(8), [2, 2, 1], "fp");
 * const m = await buildManifest(src);
 * console.log(m.entries.length); // 2
 * ```
 */
export async function buildManifest(
  source: ImageSource,
  options: BuildManifestOptions = {},
): Promise<Manifest> {
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`buildManifest: batchSize must be a positive integer, got ${batchSize}`);
  }
  const [h, w, c] = source.imageShape;
  const size = h * w * c;
  const entries: ManifestEntry[] = [];
  for (let start = 0; start < source.length; start += batchSize) {
    const n = Math.min(batchSize, source.length - start);
    const idx = Array.from({ length: n }, (_, i) => start + i);
    const t = await source.batch(idx);
    const data = new Float32Array(await t.data());
    t.dispose();
    for (let i = 0; i < n; i++) {
      const bytes = new Uint8Array(data.buffer, i * size * 4, size * 4);
      entries.push({ index: start + i, hash: await sha256(bytes) });
    }
  }
  const key = await sha256(JSON.stringify({
    format: "coss/manifest/1",
    fingerprint: source.fingerprint,
    hashes: entries.map((e) => e.hash),
  }));
  return { name: source.name, fingerprint: source.fingerprint, entries, key };
}

/** A shard `i` of `count` (0-based). */
export interface ShardSpec {
  index: number;
  count: number;
}

/**
 * Parses `i/N`, else `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT`, else
 * `JOB_COMPLETION_INDEX` with `shardCount`.
 *
 * @example
 * ```ts
 * import { resolveShard } from "./manifest.ts";
 * console.log(resolveShard("1/3", {})); // { index: 1, count: 3 }
 * ```
 */
export function resolveShard(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  shardCount?: number,
): ShardSpec {
  let index: number, count: number, from: string;
  if (flag !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(flag);
    if (!m) throw new SyntaxError(`error: --shard "${flag}" is not i/N (e.g. --shard 0/4)`);
    [index, count, from] = [Number(m[1]), Number(m[2]), `--shard ${flag}`];
  } else if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    index = Number(env.SLURM_ARRAY_TASK_ID);
    count = Number(env.SLURM_ARRAY_TASK_COUNT);
    from = "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT";
  } else if (env.JOB_COMPLETION_INDEX !== undefined) {
    index = Number(env.JOB_COMPLETION_INDEX);
    count = shardCount ?? NaN;
    from = "JOB_COMPLETION_INDEX with --shards";
  } else {
    throw new RangeError(
      "error: no shard given; pass --shard i/N, or run under a Slurm array or an Indexed Job",
    );
  }
  if (
    !Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count
  ) {
    throw new RangeError(
      `error: shard ${index}/${count} from ${from} is out of range (need 0 <= i < N)`,
    );
  }
  return { index, count };
}

/**
 * The half-open block `[start, end)` of shard `index` of `count` over
 * `total` items, with boundaries on multiples of `align` (the embed batch),
 * so that shards batch exactly like one process. Trailing shards may be empty.
 *
 * @example
 * ```ts
 * import { shardRange } from "./manifest.ts";
 * console.log(shardRange({ index: 1, count: 3 }, 10, 2)); // [4, 8]
 * ```
 */
export function shardRange(shard: ShardSpec, total: number, align = 1): [number, number] {
  const blocks = Math.ceil(total / align);
  const per = Math.ceil(blocks / shard.count);
  const start = Math.min(total, shard.index * per * align);
  const end = Math.min(total, (shard.index + 1) * per * align);
  return [start, end];
}

/** What a prepared (sharded) cache's key is made of. */
export interface PreparedKeyParts {
  /** The manifest's key ({@linkcode Manifest.key}). */
  manifest: string;
  /** The teacher's identity, e.g. `teacherFingerprint(teacher)`. */
  teacher: string;
  /** The preprocessing's identity: a canonical JSON of its steps. */
  transform: string;
  /** The views' identity (plan and count), or `""` for clean features only. */
  views: string;
}

/**
 * The key every shard and the merged cache carry: the teacher-cache key
 * (see cache.ts) with the manifest as the dataset identity and the views
 * folded into the transform identity.
 *
 * @example
 * ```ts
 * import { preparedKey } from "./manifest.ts";
 * const k = await preparedKey({ manifest: "m", teacher: "t", transform: "[]", views: "" });
 * console.log(k.length); // 64
 * ```
 */
export async function preparedKey(parts: PreparedKeyParts): Promise<string> {
  for (const name of ["manifest", "teacher", "transform", "views"] as const) {
    if (typeof parts?.[name] !== "string") {
      throw new TypeError(`preparedKey: ${name} must be a string, got ${typeof parts?.[name]}`);
    }
  }
  return await cacheKey({
    teacher: parts.teacher,
    dataset: `manifest:${parts.manifest}`,
    transform: JSON.stringify({ transform: parts.transform, views: parts.views }),
  });
}
