/**
 * The teacher-feature cache: run a frozen teacher once over a dataset with a
 * deterministic (eval) transform, store the features, and reuse them while
 * the teacher, the dataset and the transform are unchanged.
 *
 * A cache file is `<dir>/teacher-<key[0:16]>.safetensors` holding one F32
 * tensor `features [N, D]` and the metadata `coss.cache: "teacher-features"`,
 * `coss.key` (the full key), `dataset`, `transform`, `teacher`, `n`, `dim`,
 * `created`. The key is a SHA-256 over the teacher's weights, the dataset's
 * fingerprint and the transform's description ({@linkcode cacheKey}). Files
 * are written atomically (temp file, fsync, rename), and a file is used only
 * when it parses and its stored key and shape match, so neither a crash
 * mid-write nor a stale or foreign file is ever mistaken for a valid cache.
 * The backend is not part of the key: features computed on another backend
 * differ only by float rounding.
 *
 * **Trade-off of training from cached features** (`teacher.cache: true` in a
 * training config, via {@linkcode CachedTeacher}): CoSS, as published, feeds
 * the *same augmented* batch to teacher and student. Cached features come
 * from the *eval* view (no augmentation), so the student's augmented view is
 * matched to the teacher's clean view. That skips the teacher's forward pass
 * every step (much faster per epoch, especially with a large teacher on
 * wasm), but it optimises a different objective, closer to feature
 * regression onto fixed targets, and results are not directly comparable
 * with the paper's. Neighbour mining (`mineNeighbours`, knn.ts) always uses the
 * cache: it needs one deterministic view per image.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import type { Embedder } from "../models/types.ts";
import type { FeatureMatrix } from "../neighbours/types.ts";
import type { ImageSource } from "../data/types.ts";
import { computeTeacherFeatures } from "./_features.ts";
import { sweepStaleTemps } from "../io/atomic.ts";
import { cacheKey, teacherFingerprint } from "./key.ts";
import { checkWritable, permission } from "../util/permission.ts";
import type { Tensor2D, Tensor4D } from "../tf_types.ts";

export type { FeatureMatrix };
export { cacheKey, computeTeacherFeatures, teacherFingerprint };
export type { CacheKeyParts } from "./key.ts";
export type { ComputeFeaturesOptions } from "./_features.ts";

const CACHE_KIND = "teacher-features";

/** Options for {@linkcode loadOrComputeFeatures}. */
export interface LoadOrComputeOptions {
  /** Directory holding cache files (created when missing). */
  dir: string;
  /** The frozen teacher. */
  teacher: Embedder;
  /** The dataset. */
  images: ImageSource;
  /**
   * The deterministic eval transform.
   *
   * @default {the identity}
   */
  transform?: (x: Tensor4D) => Tensor4D;
  /**
   * The transform's identity in the key: a canonical JSON of its steps.
   * Required with `transform`, since a function cannot be hashed.
   *
   * @default {"identity"} when there is no transform
   */
  transformKey?: string;
  /**
   * The teacher's identity in the key.
   *
   * @default {await teacherFingerprint(teacher)}
   */
  teacherKey?: string;
  /**
   * Images per teacher call.
   *
   * @default {256}
   */
  batchSize?: number;
  /**
   * Where the one-line decision (hit, miss, stale, corrupt) and the write
   * report go.
   *
   * @default {console.error}
   */
  log?: (line: string) => void;
  /**
   * Show progress while computing.
   *
   * @default {true}
   */
  progress?: boolean;
}

/** Features from {@linkcode loadOrComputeFeatures}. */
export interface TeacherFeatures extends FeatureMatrix {
  /** The full cache key (64 hex digits). */
  key: string;
  /** Whether they came from the cache file. */
  hit: boolean;
  /** The cache file. */
  path: string;
}

type Probe = { features: Float32Array; dim: number } | { reason: string; verb: string };

async function probe(
  path: string,
  key: string,
  n: number,
  dim: number | undefined,
): Promise<Probe> {
  let st;
  try {
    st = await readSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { reason: "miss (no file)", verb: "computing" };
    if (e instanceof SyntaxError) {
      const why = (e as SyntaxError & { problem?: string }).problem ?? e.message;
      return { reason: `corrupt file "${path}" (${why})`, verb: "recomputing" };
    }
    throw e;
  }
  const meta = st.metadata;
  if (meta["coss.cache"] !== CACHE_KIND) {
    return {
      reason: `foreign file "${path}" (coss.cache is "${meta["coss.cache"]}")`,
      verb: "recomputing",
    };
  }
  if (meta["coss.key"] !== key) {
    const got = meta["coss.key"] ? `${meta["coss.key"].slice(0, 16)}…` : "(none)";
    return {
      reason: `stale key ${got} in "${path}", expected ${key.slice(0, 16)}…`,
      verb: "recomputing",
    };
  }
  const t = st.tensors.get("features");
  const shapeOk = t && t.dtype === "F32" && t.shape.length === 2 && t.shape[0] === n &&
    (dim === undefined || t.shape[1] === dim);
  if (!shapeOk) {
    const found = t ? `${t.dtype} [${t.shape}]` : 'no tensor "features"';
    return {
      reason: `corrupt file "${path}" (${found}, expected F32 [${n}, ${dim ?? "D"}])`,
      verb: "recomputing",
    };
  }
  const values = t.values as Float32Array;
  const row = nonFiniteRow(values, t.shape[1]);
  if (row >= 0) {
    throw new Error(
      `Cannot use teacher cache "${path}": tensor "features" holds NaN or Inf (row ${row}); ` +
        "delete the file to recompute it",
    );
  }
  return { features: values, dim: t.shape[1] };
}

/** The first row of a row-major `[n, dim]` array holding NaN or ±Inf, or -1. */
function nonFiniteRow(values: Float32Array, dim: number): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return Math.floor(i / Math.max(dim, 1));
  }
  return -1;
}

/**
 * The teacher's features for every image: read from the cache when a file
 * with the expected key and shape exists, else computed with
 * {@linkcode computeTeacherFeatures} and written atomically. One log line
 * says which, e.g. `teacher cache: miss (no file) — computing 60000
 * features`, `teacher cache: stale key … — recomputing`, `teacher cache:
 * corrupt file "…" (file is truncated: …) — recomputing`.
 *
 * @example
 * ```ts ignore
 * import { loadOrComputeFeatures } from "./cache.ts";
 * const cache = await loadOrComputeFeatures({
 *   dir: ".cache/coss", teacher, images,
 *   transform: evalTransform, transformKey: JSON.stringify(evalSteps),
 * });
 * console.log(cache.hit, cache.n, cache.dim, cache.path);
 * ```
 *
 * @param options Where, what and how.
 * @returns The features, their key, and whether the cache was used.
 * @throws {TypeError} When `transform` is given without `transformKey`.
 */
export async function loadOrComputeFeatures(
  options: LoadOrComputeOptions,
): Promise<TeacherFeatures> {
  const { dir, teacher, images, transform } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  if (typeof dir !== "string" || dir === "") {
    throw new TypeError(`loadOrComputeFeatures: dir must be a non-empty string, got ${dir}`);
  }
  if (transform && typeof options.transformKey !== "string") {
    throw new TypeError(
      "loadOrComputeFeatures: transformKey (a canonical description of the transform) " +
        "is required with transform: it is part of the cache key",
    );
  }
  const transformKey = options.transformKey ?? "identity";
  const teacherKey = options.teacherKey ?? await teacherFingerprint(teacher);
  const key = await cacheKey({
    teacher: teacherKey,
    dataset: images.fingerprint,
    transform: transformKey,
  });
  const path = teacherCachePath(dir, key);
  const n = images.length;
  let dim: number | undefined;
  try {
    dim = teacher.featureDim;
  } catch { /* known after the first embed */ }

  for (const name of await sweepStaleTemps(dir.replace(/\/+$/, "") || ".")) {
    log(`teacher cache: removed "${dir.replace(/\/+$/, "")}/${name}", left by a killed writer`);
  }
  const found = await probe(path, key, n, dim);
  if ("features" in found) {
    log(`teacher cache: hit "${path}" (${n}×${found.dim})`);
    return { features: found.features, n, dim: found.dim, key, hit: true, path };
  }
  log(`teacher cache: ${found.reason} — ${found.verb} ${n} features`);
  const start = performance.now();
  const features = await computeTeacherFeatures(teacher, images, {
    transform,
    batchSize: options.batchSize,
    progress: options.progress,
  });
  const width = features.length / n;
  const bad = nonFiniteRow(features, width);
  if (bad >= 0) {
    throw new Error(
      `teacher features hold NaN or Inf (image ${bad} of ${images.name}); not caching them in ` +
        `"${path}": check the teacher's weights and data.mean/data.std`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  await writeTeacherFeatures(path, { features, n, dim: width }, {
    key,
    dataset: `${images.name} ${images.fingerprint}`,
    transform: transformKey,
    teacher: teacherKey,
  });
  const secs = ((performance.now() - start) / 1000).toFixed(1);
  log(`teacher cache: wrote "${path}" (${n}×${width}) in ${secs} s`);
  return { features, n, dim: width, key, hit: false, path };
}

/** What a teacher-cache file records besides its features. */
export interface TeacherCacheMeta {
  /** The full cache key. */
  key: string;
  /** `"<name> <fingerprint>"` of the dataset. */
  dataset: string;
  /** The transform's identity. */
  transform: string;
  /** The teacher's identity. */
  teacher: string;
}

/**
 * The teacher-cache file of `key` in `dir`: `<dir>/teacher-<key[0:16]>.safetensors`.
 *
 * @example
 * ```ts
 * import { teacherCachePath } from "./cache.ts";
 * console.log(teacherCachePath("runs/cache/", "0123456789abcdef0123")); // "runs/cache/teacher-0123456789abcdef.safetensors"
 * ```
 */
export function teacherCachePath(dir: string, key: string): string {
  return `${dir.replace(/\/+$/, "")}/teacher-${key.slice(0, 16)}.safetensors`;
}

/**
 * Write a teacher-cache file atomically, exactly as {@linkcode loadOrComputeFeatures}
 * does (the merge of `deno task prepare` writes the same bytes through it, up to `created`).
 *
 * @example
 * ```ts ignore
 * import { writeTeacherFeatures } from "./cache.ts";
 * await writeTeacherFeatures(path, { features, n, dim }, { key, dataset, transform, teacher });
 * ```
 */
export async function writeTeacherFeatures(
  path: string,
  matrix: FeatureMatrix,
  meta: TeacherCacheMeta,
): Promise<void> {
  const { features, n, dim } = matrix;
  await writeSafetensors(
    path,
    { features: { dtype: "F32", shape: [n, dim], values: features } },
    {
      "coss.cache": CACHE_KIND,
      "coss.key": meta.key,
      dataset: meta.dataset,
      transform: meta.transform,
      teacher: meta.teacher,
      n: String(n),
      dim: String(dim),
      created: new Date().toISOString(),
    },
  );
}

/**
 * Cached teacher features served by image index, for a training loop that
 * runs with `teacher.cache: true` instead of calling the teacher each step.
 *
 * The features come from the deterministic eval view, not the augmented view
 * the student sees; CoSS as published feeds the same augmented tensor to
 * both. Cached training is faster per epoch but optimises a different
 * objective (see the module documentation).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { CachedTeacher } from "./cache.ts";
 *
 * const cached = new CachedTeacher({ features: new Float32Array([1, 2, 3, 4, 5, 6]), n: 3, dim: 2 });
 * const t = cached.featuresAt([2, 0]);
 * console.log(await t.data()); // Float32Array [5, 6, 1, 2]
 * t.dispose();
 * ```
 */
export class CachedTeacher {
  /** Number of images. */
  readonly n: number;
  /** Width of a feature row. */
  readonly featureDim: number;
  readonly #features: Float32Array;

  /**
   * Serve `matrix`'s rows; the array is kept, not copied.
   *
   * @param matrix The cached features (e.g. from {@linkcode loadOrComputeFeatures}).
   * @throws {RangeError} When the array does not hold `n × dim` values.
   */
  constructor(matrix: FeatureMatrix) {
    const { features, n, dim } = matrix;
    if (!(features instanceof Float32Array)) {
      throw new TypeError("CachedTeacher: features must be a Float32Array");
    }
    if (
      !(Number.isInteger(n) && n > 0 && Number.isInteger(dim) && dim > 0) ||
      features.length !== n * dim
    ) {
      throw new RangeError(
        `CachedTeacher: features has ${features.length} values, not n·dim = ${n}·${dim}`,
      );
    }
    this.n = n;
    this.featureDim = dim;
    this.#features = features;
  }

  /**
   * The feature rows of `indices`, as a `[indices.length, featureDim]`
   * tensor on the active backend; the caller disposes it.
   *
   * @throws {RangeError} For an index that is not an integer in `[0, n)`.
   */
  featuresAt(indices: ArrayLike<number>): Tensor2D {
    const d = this.featureDim;
    const out = new Float32Array(indices.length * d);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (!(Number.isInteger(j) && j >= 0 && j < this.n)) {
        throw new RangeError(
          `CachedTeacher.featuresAt: index ${j} (at ${i}) is not in [0, ${this.n})`,
        );
      }
      out.set(this.#features.subarray(j * d, j * d + d), i * d);
    }
    return tf.tensor2d(out, [indices.length, d]);
  }
}

/**
 * Check, before any feature is computed, that the teacher cache dir
 * (`teacher.cacheDir`) lies inside the task's grants and can be written,
 * as `checkRunDir` (train/run_dir.ts) does for the run dir. Nothing is created.
 */
export async function checkCacheDir(dir: string): Promise<void> {
  const what = `teacher cache dir "${dir}" (teacher.cacheDir)`;
  for (const name of ["read", "write"] as const) {
    if ((await permission({ name, path: dir })) !== "granted") {
      throw new Error(
        `Cannot use ${what}: Requires ${name} access to "${dir}", ` +
          `run again with the --allow-${name} flag`,
      );
    }
  }
  await checkWritable(dir, what, "choose another teacher.cacheDir");
}
