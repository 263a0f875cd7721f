/**
 * The dataset manifest kept beside the teacher caches, so that a run reads
 * every image to hash it once, not once per run: `manifest-<id>.safetensors`
 * in the cache folder, found again by the source's fingerprint (its files'
 * paths, sizes and times). A file whose fingerprint changes (an image edited,
 * added or removed, or only touched) is hashed again; the manifest's key,
 * over content only, then changes exactly when an image does.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { buildManifest, keyedByManifest, type Manifest, manifestKey } from "./manifest.ts";
import type { ImageShape, ImageSource } from "./types.ts";

const KIND = "dataset-manifest";

/** Options for {@linkcode loadOrBuildManifest}. */
export interface LoadOrBuildManifestOptions {
  /**
   * Images read per call to `source.batch` when building.
   *
   * @default {256}
   */
  batchSize?: number;
  /**
   * Where the one line (found or built) goes.
   *
   * @default {console.error}
   */
  log?: (line: string) => void;
  /**
   * Called with the manifest's path when none is found, before the build
   * (a full pass over the images) starts: where a caller says who should
   * have built it.
   *
   * @default {undefined}
   */
  onMissing?: (path: string) => void;
}

/** `<dir>/manifest-<sha256(fingerprint)[0:16]>.safetensors`. */
export function manifestPath(dir: string, source: ImageSource): string {
  const id = createHash("sha256").update(source.fingerprint).digest("hex").slice(0, 16);
  return `${dir.replace(/\/+$/, "")}/manifest-${id}.safetensors`;
}

/** The manifest in `path` if it is one of `source` as it is now, else undefined. */
async function read(path: string, source: ImageSource): Promise<Manifest | undefined> {
  let st;
  try {
    st = await readSafetensors(path);
  } catch {
    return undefined; // missing or unreadable: built again
  }
  const meta = st.metadata;
  const t = st.tensors.get("hashes");
  const shape = source.imageShape.join(",");
  if (
    meta["coss.cache"] !== KIND || meta.fingerprint !== source.fingerprint ||
    meta.shape !== shape || t?.dtype !== "I32" || t.shape.join() !== `${source.length},8`
  ) return undefined;
  const hashes = new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength);
  const imageShape: ImageShape = [...source.imageShape];
  const key = manifestKey(imageShape, hashes);
  if (meta["coss.key"] !== key) return undefined;
  return { name: source.name, fingerprint: source.fingerprint, imageShape, hashes, key };
}

/**
 * The manifest of `source`: read from `dir` when one with the source's
 * current fingerprint is there, else built (every image read once) and
 * written atomically. One line says which.
 *
 * @example
 * ```ts ignore
 * const manifest = await loadOrBuildManifest(images, "runs/cache");
 * console.log(manifest.key);
 * ```
 */
export async function loadOrBuildManifest(
  source: ImageSource,
  dir: string,
  options: LoadOrBuildManifestOptions = {},
): Promise<Manifest> {
  const log = options.log ?? ((line: string) => console.error(line));
  const path = manifestPath(dir, source);
  const found = await read(path, source);
  const n = source.length;
  if (found) {
    log(`dataset manifest: hit "${path}" (${n} images, key ${found.key.slice(0, 16)}…)`);
    return found;
  }
  options.onMissing?.(path);
  const t0 = performance.now();
  const manifest = await buildManifest(source, { batchSize: options.batchSize });
  const h = manifest.hashes;
  await Deno.mkdir(dir, { recursive: true });
  await writeSafetensors(path, {
    hashes: {
      dtype: "I32",
      shape: [n, 8],
      values: new Int32Array(h.buffer, h.byteOffset, h.byteLength / 4),
    },
  }, {
    "coss.cache": KIND,
    "coss.key": manifest.key,
    name: source.name,
    fingerprint: source.fingerprint,
    shape: source.imageShape.join(","),
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  log(
    `dataset manifest: hashed ${n} images in ${secs} s → "${path}" ` +
      `(key ${manifest.key.slice(0, 16)}…)`,
  );
  return manifest;
}

/**
 * `source` as the teacher caches in `dir` see it: identified by its
 * manifest (read or built there), so that their keys cover the images'
 * content. What `deno task distill`, `eval` and `prepare` all hand the caches.
 *
 * @example
 * ```ts ignore
 * const keyed = await keyedImages(train, config.teacher.cacheDir, { log });
 * await loadOrComputeFeatures({ dir, teacher, images: keyed });
 * ```
 */
export async function keyedImages(
  source: ImageSource,
  dir: string,
  options: LoadOrBuildManifestOptions = {},
): Promise<ImageSource> {
  return keyedByManifest(source, await loadOrBuildManifest(source, dir, options));
}
