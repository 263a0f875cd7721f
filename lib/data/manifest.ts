/**
 * The shard contract's base (issue 20): a deterministic manifest of a
 * dataset's images (global index and content hash each), its key, and the
 * split of the manifest into contiguous shard blocks aligned to the embed
 * batch, so that a sharded embed batches exactly like the single-process one.
 *
 * The manifest's key covers the images' content and shape only, not the
 * files' paths or times: the teacher caches keyed by it (see
 * {@linkcode keyedByManifest}) follow what the teacher sees, so a changed
 * image changes every key, and a dataset copied or touched keeps them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ImageShape, ImageSource } from "./types.ts";

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
  /** The source's fingerprint when the manifest was built (paths, sizes, times). */
  fingerprint: string;
  /** The shape of every image. */
  imageShape: ImageShape;
  /**
   * The images' SHA-256 digests in global-index order: image `i`'s are bytes
   * `[32 i, 32 i + 32)` (of its float32 pixels as the source returns them).
   */
  hashes: Uint8Array;
  /** SHA-256 (hex) over the format, the image shape and every digest, in order. */
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

const FORMAT = "coss/manifest/2";

/**
 * The key over an image shape and the images' digests (32 bytes each, in order).
 *
 * @example
 * ```ts
 * import { manifestKey } from "./manifest.ts";
 * console.log(manifestKey([2, 2, 1], new Uint8Array(64)).length); // 64
 * ```
 */
export function manifestKey(imageShape: ImageShape, hashes: Uint8Array): string {
  if (hashes.length % 32 !== 0) {
    throw new RangeError(`manifestKey: ${hashes.length} bytes is not a whole number of digests`);
  }
  return createHash("sha256")
    .update(`${FORMAT} ${imageShape.join("x")} ${hashes.length / 32}\n`)
    .update(hashes)
    .digest("hex");
}

/** Entry `index` of `manifest`: its global index and digest, as hex. */
export function manifestEntry(manifest: Manifest, index: number): ManifestEntry {
  const n = manifest.hashes.length / 32;
  if (!(Number.isInteger(index) && index >= 0 && index < n)) {
    throw new RangeError(`manifestEntry: index ${index} is not in [0, ${n})`);
  }
  const hash = Array.from(
    manifest.hashes.subarray(index * 32, index * 32 + 32),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return { index, hash };
}

/**
 * Reads every image of `source` once and returns its manifest.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { buildManifest, manifestEntry } from "./manifest.ts";
 * import { ArrayImageSource } from "./array_source.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const src = new ArrayImageSource("t", new Uint8Array(8), [2, 2, 1], "fp");
 * const m = await buildManifest(src);
 * console.log(m.hashes.length / 32, manifestEntry(m, 1).index); // 2 1
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
  const imageShape: ImageShape = [...source.imageShape];
  const [h, w, c] = imageShape;
  const bytes = h * w * c * 4;
  const hashes = new Uint8Array(source.length * 32);
  for (let start = 0; start < source.length; start += batchSize) {
    const n = Math.min(batchSize, source.length - start);
    const t = await source.batch(Array.from({ length: n }, (_, i) => start + i));
    let data: Float32Array;
    try {
      data = await t.data() as Float32Array;
    } finally {
      t.dispose();
    }
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < n; i++) {
      const digest = createHash("sha256").update(raw.subarray(i * bytes, (i + 1) * bytes));
      hashes.set(digest.digest(), (start + i) * 32);
    }
  }
  return {
    name: source.name,
    fingerprint: source.fingerprint,
    imageShape,
    hashes,
    key: manifestKey(imageShape, hashes),
  };
}

/**
 * `source` as the teacher caches see it: the same images, identified by
 * `manifest:<key>` instead of its files' fingerprint, so that every cache key
 * built from it (teacher features, views, neighbours) covers the images'
 * content. Closing it leaves `source` open.
 *
 * @example
 * ```ts ignore
 * const keyed = keyedByManifest(images, await buildManifest(images));
 * console.log(keyed.fingerprint); // "manifest:…"
 * ```
 */
export function keyedByManifest(source: ImageSource, manifest: Manifest): ImageSource {
  if (manifest.hashes.length !== source.length * 32) {
    throw new RangeError(
      `keyedByManifest: the manifest lists ${manifest.hashes.length / 32} images, ` +
        `"${source.name}" has ${source.length}`,
    );
  }
  return {
    name: source.name,
    length: source.length,
    imageShape: source.imageShape,
    fingerprint: `manifest:${manifest.key}`,
    batch: (indices) => source.batch(indices),
    close() {},
  };
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
