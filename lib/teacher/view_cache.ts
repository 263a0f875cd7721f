/**
 * The multi-view teacher cache: for each training image, the teacher's
 * features of `V` seeded augmented views, stored with each view's
 * augmentation parameters, so that a student trained from the cache sees
 * **exactly the view the teacher embedded** (CoSS feeds the same augmented
 * tensor to both) at cache speed. FKD caches supervised teacher outputs per
 * random crop the same way.
 *
 * Every `(image i, view v)` draws its parameters from its own generator,
 * seeded from `(seed, i, v)` ({@linkcode viewSeed}), so a view does not
 * depend on batch sizes, on the order images are embedded or on how the
 * work is split. Float parameters are rounded to float32 when drawn, so the
 * stored parameters rebuild the view bit for bit.
 *
 * A file is `<dir>/views-<key[0:16]>.safetensors` with `features [N, V, D]`
 * (F32 or F16) and `params [N, V, P]` (F32: per step, the crop box, the flip,
 * the jitter's application, order and factors, the grayscale switch, the blur
 * σ), and the metadata `coss.cache: "teacher-views"`, `coss.key`, `views`,
 * `steps`. The key covers the teacher's weights, the dataset's fingerprint,
 * the augmentation steps, `V`, the seed and the storage type. Writes are
 * atomic, and a file whose key or shapes do not match is recomputed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { type Embedder, embedInference } from "../models/types.ts";
import { Augmenter, type AugmentStep } from "../augment/augment.ts";
import type { AugmentPlan, StepPlan } from "../augment/plan.ts";
import { drawStep } from "../augment/plan.ts";
import { resolveStep } from "../augment/validate.ts";
import type { ResolvedStep } from "../augment/types.ts";
import { Rng } from "../util/rng.ts";
import { progress } from "../util/progress.ts";
import type { ImageSource } from "../data/types.ts";
import { cacheKey, teacherFingerprint } from "./key.ts";
import type { Tensor2D, Tensor4D } from "../tf_types.ts";

const CACHE_KIND = "teacher-views";
/** Bumped when the draw or the encoding changes, so old files are recomputed. */
const FORMAT = "views/1";

/** Columns each step takes in a view's parameter row. */
function widthOf(step: ResolvedStep): number {
  switch (step.op) {
    case "randomResizedCrop":
      return 4;
    case "horizontalFlip":
    case "grayscale":
    case "gaussianBlur":
      return 1;
    case "colorJitter":
      return 9;
    default:
      return 0;
  }
}

/**
 * The seed of view `view` of image `index` under run seed `seed`: a safe
 * integer whose high 21 bits mix the seed and the view and whose low 32 bits
 * are the index.
 *
 * @example
 * ```ts
 * import { viewSeed } from "./view_cache.ts";
 * console.log(viewSeed(0, 5, 1) !== viewSeed(0, 5, 2)); // true
 * ```
 */
export function viewSeed(seed: number, index: number, view: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(view + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) & 0x1fffff;
  return h * 2 ** 32 + (index >>> 0);
}

/** Round a drawn step's float parameters to float32, so that storing them loses nothing. */
function toFloat32(plan: StepPlan): StepPlan {
  if (plan.op === "colorJitter") {
    return {
      ...plan,
      params: plan.params.map((p) => {
        if (!p) return null;
        const q = { ...p };
        for (const k of ["brightness", "contrast", "saturation", "hue"] as const) {
          if (q[k] !== undefined) q[k] = Math.fround(q[k]!);
        }
        return q;
      }),
    };
  }
  if (plan.op === "gaussianBlur") return { ...plan, sigmas: plan.sigmas.map(Math.fround) };
  return plan;
}

/**
 * The views' augmentation: resolved steps, and the parameters of any
 * `(image, view)` drawn, encoded and decoded.
 */
export class ViewAugmentation {
  /** The steps, validated. */
  readonly steps: readonly AugmentStep[];
  /** Parameter columns per view. */
  readonly width: number;
  readonly #resolved: ResolvedStep[];
  readonly #seed: number;
  readonly #runner: Augmenter;

  /**
   * @param steps The augmentation (the config's `data.augment`, ending with `normalize`).
   * @param seed The run's seed.
   */
  constructor(steps: readonly AugmentStep[], seed: number) {
    this.#resolved = (steps as unknown[]).map(resolveStep);
    this.steps = structuredClone(steps as AugmentStep[]);
    this.width = this.#resolved.reduce((w, s) => w + widthOf(s), 0);
    this.#seed = seed;
    this.#runner = new Augmenter(steps, { seed });
  }

  /** The plan of one image's view, for an image of `[H, W, C]`. */
  draw(index: number, view: number, imageShape: readonly number[]): StepPlan[] {
    const rng = new Rng(viewSeed(this.#seed, index, view));
    let shape = [1, ...imageShape];
    return this.#resolved.map((step) => {
      const plan = toFloat32(drawStep(step, rng, shape));
      if ("size" in plan) shape = [1, ...plan.size, shape[3]];
      return plan;
    });
  }

  /** One image's plan as a row of {@linkcode ViewAugmentation.width} float32 values. */
  encode(plan: StepPlan[], out: Float32Array, offset = 0): void {
    let o = offset;
    for (const s of plan) {
      switch (s.op) {
        case "randomResizedCrop": {
          const b = s.boxes[0];
          out.set([b.top, b.left, b.height, b.width], o);
          o += 4;
          break;
        }
        case "horizontalFlip":
          out[o++] = s.flip[0] ? 1 : 0;
          break;
        case "grayscale":
          out[o++] = s.apply[0] ? 1 : 0;
          break;
        case "gaussianBlur":
          out[o++] = s.sigmas[0];
          break;
        case "colorJitter": {
          const p = s.params[0];
          out[o] = p ? 1 : 0;
          for (let k = 0; k < 4; k++) out[o + 1 + k] = p ? p.order[k] : 0;
          const f = p ? [p.brightness, p.contrast, p.saturation, p.hue] : [];
          for (let k = 0; k < 4; k++) out[o + 5 + k] = f[k] ?? NaN;
          o += 9;
          break;
        }
      }
    }
  }

  /**
   * The batch plan for images of `inputShape` whose parameter rows are
   * `rows[k]`: the inverse of {@linkcode ViewAugmentation.encode}, batched.
   */
  decode(rows: Float32Array[], inputShape: readonly number[]): AugmentPlan {
    const [b, h, w, c] = inputShape;
    if (rows.length !== b) throw new RangeError(`decode: ${rows.length} rows for a batch of ${b}`);
    // The shared fields (sizes, kernel sizes, mean/std) as any draw gives them.
    const template = this.draw(0, 0, [h, w, c]);
    let o = 0;
    const steps = template.map((t, j): StepPlan => {
      const at = o;
      o += widthOf(this.#resolved[j]);
      switch (t.op) {
        case "randomResizedCrop":
          return {
            ...t,
            boxes: rows.map((r) => ({
              top: r[at],
              left: r[at + 1],
              height: r[at + 2],
              width: r[at + 3],
            })),
          };
        case "horizontalFlip":
          return { ...t, flip: rows.map((r) => r[at] === 1) };
        case "grayscale":
          return { ...t, apply: rows.map((r) => r[at] === 1) };
        case "gaussianBlur":
          return { ...t, sigmas: rows.map((r) => r[at]) };
        case "colorJitter":
          return {
            ...t,
            params: rows.map((r) => {
              if (r[at] !== 1) return null;
              const p: { order: number[]; [k: string]: number | number[] } = {
                order: [r[at + 1], r[at + 2], r[at + 3], r[at + 4]],
              };
              ["brightness", "contrast", "saturation", "hue"].forEach((k, j) => {
                if (!Number.isNaN(r[at + 5 + j])) p[k] = r[at + 5 + j];
              });
              return p as unknown as NonNullable<(typeof t.params)[number]>;
            }),
          };
        default:
          return t;
      }
    });
    const last = template.reduce<number[]>(
      (shape, s) => ("size" in s ? [b, ...s.size, c] : shape),
      [b, h, w, c],
    );
    return {
      inputShape: [b, h, w, c],
      outputShape: last as AugmentPlan["outputShape"],
      steps,
    };
  }

  /** Render a batch from a plan (no randomness). */
  run(x: Tensor4D, plan: AugmentPlan): Tensor4D {
    return this.#runner.run(x, plan);
  }
}

/** Options for {@linkcode loadOrComputeViews}. */
export interface ViewCacheOptions {
  /** Folder of the cache files (created when missing). */
  dir: string;
  /** The frozen teacher, run in inference mode. */
  teacher: Embedder;
  /** The training images. */
  images: ImageSource;
  /** The augmentation the student trains with (`data.augment`, resolved). */
  steps: readonly AugmentStep[];
  /** Views per image, ≥ 1. */
  views: number;
  /** The run's seed. */
  seed: number;
  /** Storage type of the features. @default {"float32"} */
  dtype?: "float32" | "float16";
  /** Images per teacher call. @default {256} */
  batchSize?: number;
  /** The teacher's identity in the key. @default {await teacherFingerprint(teacher)} */
  teacherKey?: string;
  /** The one-line decision and the write report. @default {console.error} */
  log?: (line: string) => void;
  /** Progress on stderr. @default {true} */
  progress?: boolean;
}

/** Features of every view of every image, and the parameters that rebuild each view. */
export class ViewCache {
  /** Images. */
  readonly n: number;
  /** Views per image. */
  readonly views: number;
  /** Feature width. */
  readonly featureDim: number;
  /** The full cache key. */
  readonly key: string;
  /** Whether the features came from the file. */
  readonly hit: boolean;
  /** The cache file. */
  readonly path: string;
  /** The augmentation the parameters belong to. */
  readonly augmentation: ViewAugmentation;
  readonly #features: Float32Array;
  readonly #params: Float32Array;

  /** Wrap computed or loaded arrays (`features [N·V·D]`, `params [N·V·P]`). */
  constructor(init: {
    n: number;
    views: number;
    dim: number;
    features: Float32Array;
    params: Float32Array;
    augmentation: ViewAugmentation;
    key: string;
    hit: boolean;
    path: string;
  }) {
    const { n, views, dim, features, params, augmentation } = init;
    if (features.length !== n * views * dim) {
      throw new RangeError(
        `ViewCache: ${features.length} feature values, not ${n}·${views}·${dim}`,
      );
    }
    if (params.length !== n * views * augmentation.width) {
      throw new RangeError(`ViewCache: ${params.length} parameter values for ${n}·${views} views`);
    }
    this.n = n;
    this.views = views;
    this.featureDim = dim;
    this.#features = features;
    this.#params = params;
    this.augmentation = augmentation;
    this.key = init.key;
    this.hit = init.hit;
    this.path = init.path;
  }

  #check(indices: ArrayLike<number>, views: ArrayLike<number>, who: string): void {
    if (indices.length !== views.length) {
      throw new RangeError(`ViewCache.${who}: ${indices.length} indices but ${views.length} views`);
    }
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k], v = views[k];
      if (!(Number.isInteger(i) && i >= 0 && i < this.n)) {
        throw new RangeError(`ViewCache.${who}: index ${i} (at ${k}) is not in [0, ${this.n})`);
      }
      if (!(Number.isInteger(v) && v >= 0 && v < this.views)) {
        throw new RangeError(`ViewCache.${who}: view ${v} (at ${k}) is not in [0, ${this.views})`);
      }
    }
  }

  /** The teacher's features of view `views[k]` of image `indices[k]`, `[B, D]`; the caller disposes it. */
  featuresAt(indices: ArrayLike<number>, views: ArrayLike<number>): Tensor2D {
    this.#check(indices, views, "featuresAt");
    const d = this.featureDim;
    const out = new Float32Array(indices.length * d);
    for (let k = 0; k < indices.length; k++) {
      const at = (indices[k] * this.views + views[k]) * d;
      out.set(this.#features.subarray(at, at + d), k * d);
    }
    return tf.tensor2d(out, [indices.length, d]);
  }

  /** The batch plan that rebuilds those views from the raw images of `inputShape`. */
  planAt(
    indices: ArrayLike<number>,
    views: ArrayLike<number>,
    inputShape: readonly number[],
  ): AugmentPlan {
    this.#check(indices, views, "planAt");
    const p = this.augmentation.width;
    const rows = Array.from(indices, (i, k) => {
      const at = (i * this.views + views[k]) * p;
      return this.#params.subarray(at, at + p);
    });
    return this.augmentation.decode(rows, inputShape);
  }

  /** The views themselves: `raw` (the images `indices`, in `[0, 1]`) augmented as cached. */
  render(raw: Tensor4D, indices: ArrayLike<number>, views: ArrayLike<number>): Tensor4D {
    return this.augmentation.run(raw, this.planAt(indices, views, raw.shape));
  }
}

/**
 * Which cached view each image of a training batch uses at `step`: drawn from
 * a generator seeded by `(seed, step)`, so a resumed run draws the same.
 *
 * @example
 * ```ts
 * import { pickViews } from "./view_cache.ts";
 * console.log(pickViews(0, 3, 4, 8).length); // 4 view indices in [0, 8)
 * ```
 */
export function pickViews(seed: number, step: number, count: number, views: number): Int32Array {
  const rng = new Rng(viewSeed(seed ^ 0x5bd1e995, step, 0x3fff));
  return Int32Array.from({ length: count }, () => (views > 1 ? rng.int(views) : 0));
}

/** Bytes the cache takes for `n` images, `views` views, `dim`-wide features. */
export function viewCacheBytes(
  n: number,
  views: number,
  dim: number,
  width: number,
  dtype: "float32" | "float16",
): number {
  return n * views * (dim * (dtype === "float16" ? 2 : 4) + width * 4);
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * The multi-view cache for `images`: read when a file with the expected key
 * and shapes exists, else computed (the teacher over every view, image-major
 * batches) and written atomically. One line says which, with the size.
 */
export async function loadOrComputeViews(options: ViewCacheOptions): Promise<ViewCache> {
  const { dir, teacher, images, views, seed } = options;
  const dtype = options.dtype ?? "float32";
  const log = options.log ?? ((line: string) => console.error(line));
  if (!(Number.isInteger(views) && views >= 1)) {
    throw new RangeError(`loadOrComputeViews: views must be an integer ≥ 1, got ${views}`);
  }
  const augmentation = new ViewAugmentation(options.steps, seed);
  const teacherKey = options.teacherKey ?? await teacherFingerprint(teacher);
  const key = await viewCacheKey(teacherKey, images, { augmentation, views, seed, dtype });
  const path = viewCachePath(dir, key);
  const n = images.length, p = augmentation.width;
  const dim = teacher.featureDim;
  const size = mb(viewCacheBytes(n, views, dim, p, dtype));
  const found = await readViews(path, key, n, views, dim, p);
  if ("features" in found) {
    log(`teacher views: hit "${path}" (${n} images × ${views} views × ${dim}-d, ${size})`);
    return new ViewCache({ ...found, n, views, dim, augmentation, key, hit: true, path });
  }
  log(
    `teacher views: ${found.reason} — computing ${n} images × ${views} views × ${dim}-d ` +
      `(${size} as ${dtype})`,
  );
  const start = performance.now();
  const { features, params } = await computeViews(teacher, images, augmentation, views, options);
  await Deno.mkdir(dir, { recursive: true });
  await writeViewCache(path, { n, views, dim, features, params }, {
    key,
    dataset: `${images.name} ${images.fingerprint}`,
    augmentation,
    seed,
    dtype,
  });
  const secs = ((performance.now() - start) / 1000).toFixed(1);
  log(`teacher views: wrote "${path}" (${size}) in ${secs} s`);
  // float16 storage: train on what the file holds, so a rerun that reads it trains the same.
  const stored = dtype === "float16" ? Float32Array.from(new Float16Array(features)) : features;
  return new ViewCache({
    n,
    views,
    dim,
    features: stored,
    params,
    augmentation,
    key,
    hit: false,
    path,
  });
}

/** What identifies a multi-view cache besides the teacher and the images. */
export interface ViewCacheIdentity {
  /** The augmentation whose views are cached. */
  augmentation: ViewAugmentation;
  /** Views per image. */
  views: number;
  /** The run's seed. */
  seed: number;
  /** Storage type of the features. */
  dtype: "float32" | "float16";
}

/**
 * The multi-view cache key of `images` under teacher identity `teacherKey`.
 *
 * @example
 * ```ts ignore
 * const key = await viewCacheKey(teacherKey, images, { augmentation, views: 4, seed: 0, dtype: "float32" });
 * ```
 */
export async function viewCacheKey(
  teacherKey: string,
  images: ImageSource,
  id: ViewCacheIdentity,
): Promise<string> {
  const { augmentation, views, seed, dtype } = id;
  return await cacheKey({
    teacher: teacherKey,
    dataset: images.fingerprint,
    transform: JSON.stringify({ format: FORMAT, steps: augmentation.steps, views, seed, dtype }),
  });
}

/**
 * The multi-view cache file of `key` in `dir`: `<dir>/views-<key[0:16]>.safetensors`.
 *
 * @example
 * ```ts
 * import { viewCachePath } from "./view_cache.ts";
 * console.log(viewCachePath("runs/cache", "0123456789abcdef0123")); // "runs/cache/views-0123456789abcdef.safetensors"
 * ```
 */
export function viewCachePath(dir: string, key: string): string {
  return `${dir.replace(/\/+$/, "")}/views-${key.slice(0, 16)}.safetensors`;
}

/**
 * Write a multi-view cache file atomically, as {@linkcode loadOrComputeViews}
 * does (float32 features, stored as `dtype`).
 *
 * @example
 * ```ts ignore
 * await writeViewCache(path, { n, views, dim, features, params }, { key, dataset, augmentation, seed, dtype });
 * ```
 */
export async function writeViewCache(
  path: string,
  data: { n: number; views: number; dim: number; features: Float32Array; params: Float32Array },
  meta: { key: string; dataset: string; augmentation: ViewAugmentation; seed: number } & {
    dtype: "float32" | "float16";
  },
): Promise<void> {
  const { n, views, dim, features, params } = data;
  const { augmentation } = meta;
  await writeSafetensors(path, {
    features: {
      dtype: meta.dtype === "float16" ? "F16" : "F32",
      shape: [n, views, dim],
      values: features,
    },
    params: { dtype: "F32", shape: [n, views, augmentation.width], values: params },
  }, {
    "coss.cache": CACHE_KIND,
    "coss.key": meta.key,
    dataset: meta.dataset,
    views: String(views),
    steps: JSON.stringify(augmentation.steps),
    seed: String(meta.seed),
    created: new Date().toISOString(),
  });
}

async function readViews(
  path: string,
  key: string,
  n: number,
  views: number,
  dim: number,
  p: number,
): Promise<{ features: Float32Array; params: Float32Array } | { reason: string }> {
  let st;
  try {
    st = await readSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { reason: "miss (no file)" };
    if (e instanceof SyntaxError) return { reason: `corrupt file "${path}" (${e.message})` };
    throw e;
  }
  if (st.metadata["coss.cache"] !== CACHE_KIND || st.metadata["coss.key"] !== key) {
    return { reason: `stale or foreign file "${path}"` };
  }
  const f = st.tensors.get("features"), q = st.tensors.get("params");
  const ok = (t: typeof f, shape: number[]) =>
    t && t.shape.length === 3 && t.shape.every((s, i) => s === shape[i]);
  if (!ok(f, [n, views, dim]) || !ok(q, [n, views, p])) {
    return { reason: `corrupt file "${path}" (shapes differ from [${n}, ${views}, ${dim}])` };
  }
  return { features: f!.values as Float32Array, params: q!.values as Float32Array };
}

/**
 * Build a multi-view cache in memory, without a file (the bench times this;
 * {@linkcode loadOrComputeViews} is the cached, file-backed way).
 *
 * @example
 * ```ts ignore
 * const views = await buildViews({ teacher, images, steps, views: 4, seed: 0 });
 * ```
 */
export async function buildViews(
  options: Omit<ViewCacheOptions, "dir" | "dtype" | "teacherKey" | "log">,
): Promise<ViewCache> {
  const augmentation = new ViewAugmentation(options.steps, options.seed);
  const { features, params } = await computeViews(
    options.teacher,
    options.images,
    augmentation,
    options.views,
    options,
  );
  return new ViewCache({
    n: options.images.length,
    views: options.views,
    dim: options.teacher.featureDim,
    features,
    params,
    augmentation,
    key: "",
    hit: false,
    path: "",
  });
}

/**
 * The teacher's features of `views` views of images `[start, end)` (all of
 * them by default), with their parameters, in batches of `batchSize` from
 * `start`: rows `start..end-1` of the full arrays, bit for bit, when `start`
 * is on a batch boundary (each view is drawn from its global index).
 *
 * @example
 * ```ts ignore
 * const { features, params } = await computeViews(teacher, images, augmentation, 4, { range: [512, 768] });
 * ```
 */
export async function computeViews(
  teacher: Embedder,
  images: ImageSource,
  augmentation: ViewAugmentation,
  views: number,
  options: Pick<ViewCacheOptions, "batchSize" | "progress"> & { range?: [number, number] },
): Promise<{ features: Float32Array; params: Float32Array }> {
  const [start, end] = options.range ?? [0, images.length];
  const n = end - start, dim = teacher.featureDim, p = augmentation.width;
  const batchSize = options.batchSize ?? 256;
  const features = new Float32Array(n * views * dim);
  const params = new Float32Array(n * views * p);
  const bar = (options.progress ?? true)
    ? progress(`teacher views ${images.name}`, n * views, { unit: "views" })
    : undefined;
  try {
    for (let s = start; s < end; s += batchSize) {
      const e = Math.min(end, s + batchSize);
      const indices = Int32Array.from({ length: e - s }, (_, k) => s + k);
      const raw = await images.batch(indices);
      try {
        for (let v = 0; v < views; v++) {
          const rows = Array.from(indices, (i) => {
            const at = (i - start) * views + v;
            const row = params.subarray(at * p, (at + 1) * p);
            augmentation.encode(augmentation.draw(i, v, raw.shape.slice(1)), row);
            return row;
          });
          const view = augmentation.run(raw, augmentation.decode(rows, raw.shape));
          let y: Tensor2D;
          try {
            y = await embedInference(teacher, view);
          } finally {
            view.dispose();
          }
          let values: Float32Array;
          try {
            values = await y.data() as Float32Array;
          } finally {
            y.dispose();
          }
          for (let k = 0; k < indices.length; k++) {
            const at = ((indices[k] - start) * views + v) * dim;
            features.set(values.subarray(k * dim, (k + 1) * dim), at);
          }
          bar?.tick(indices.length);
        }
      } finally {
        raw.dispose();
      }
    }
  } finally {
    bar?.done();
  }
  return { features, params };
}
