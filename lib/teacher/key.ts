/**
 * Teacher and cache identities for the teacher-feature cache (see cache.ts).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Embedder } from "../models/types.ts";
import { sha256 } from "../util/hash.ts";

export { sha256 };

/** Structural views of the teachers {@linkcode teacherFingerprint} understands. */
interface WithParams {
  params: { entries(): [string, { variable: tf.Variable }][] };
}
interface WithModel {
  model: {
    getWeights?: () => tf.Tensor[];
    weights?: { name: string }[] | Record<string, tf.Tensor[]>;
  };
}

function namedWeights(teacher: Embedder): [string, tf.Tensor][] {
  const params = (teacher as Partial<WithParams>).params;
  if (params && typeof params.entries === "function") {
    return params.entries().map(([name, e]) => [name, e.variable]);
  }
  const model = (teacher as Partial<WithModel>).model;
  if (model && typeof model.getWeights === "function" && Array.isArray(model.weights)) {
    // tfjs LayersModel: weights[i] (LayerVariable) names getWeights()[i].
    const values = model.getWeights();
    const names = model.weights as { name: string }[];
    return values.map((t, i) => [names[i]?.name ?? `#${i}`, t]);
  }
  if (model && model.weights && typeof model.weights === "object") {
    // tfjs GraphModel: a map from node name to its weight tensors.
    const map = model.weights as Record<string, tf.Tensor[]>;
    return Object.keys(map).flatMap((name) =>
      map[name].map((t, i): [string, tf.Tensor] => [`${name}:${i}`, t])
    );
  }
  throw new TypeError(
    "teacherFingerprint: the teacher has neither `params` (a Backbone) nor `model` " +
      "weights (a tfjs teacher); pass an explicit teacherKey instead",
  );
}

/**
 * A SHA-256 (hex) identifying a teacher by its weights: over each parameter's
 * name, dtype, shape and value bytes, plus the teacher's description
 * (`architecture`/`args` of a Backbone, `kind`/`outputName` of a tfjs
 * teacher, `featureDim`). Weights come from `params` (a
 * `Backbone`, batch-norm statistics included), else from
 * `model.getWeights()` (a tfjs LayersModel, named by `model.weights`), else
 * from a GraphModel's `model.weights` map. Names are sorted, so creation
 * order does not matter; values are read with `await data()`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { ParamStore } from "../models/params.ts";
 * import { teacherFingerprint } from "./cache.ts";
 *
 * const params = new ParamStore(0);
 * params.linear("proj", 3, 4);
 * const teacher = {
 *   featureDim: 4,
 *   params,
 *   embed: (x: tf.Tensor4D): tf.Tensor2D =>
 *     tf.matMul(tf.mean(x, [1, 2]) as tf.Tensor2D, params.get("proj.weight")),
 * };
 * console.log((await teacherFingerprint(teacher)).length); // 64
 * params.dispose();
 * ```
 *
 * @param teacher A Backbone or a tfjs teacher.
 * @returns 64 hex digits.
 * @throws {TypeError} When the teacher exposes no weights.
 */
export async function teacherFingerprint(teacher: Embedder): Promise<string> {
  // Teachers outside tfjs (ONNX) hash their own file and settings.
  const own = (teacher as { fingerprint?: () => Promise<string> }).fingerprint;
  if (typeof own === "function") return await own.call(teacher);
  const weights = namedWeights(teacher).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const lines: string[] = [];
  for (const [name, t] of weights) {
    const values = await t.data();
    const bytes = new Uint8Array(
      values.buffer as ArrayBuffer,
      values.byteOffset,
      values.byteLength,
    );
    lines.push(`${name} ${t.dtype} [${t.shape}] ${await sha256(bytes)}`);
  }
  const t = teacher as unknown as Record<string, unknown>;
  let featureDim: number | undefined;
  try {
    featureDim = teacher.featureDim;
  } catch { /* a graph teacher before its first embed */ }
  const describe = {
    architecture: t.architecture,
    args: t.args,
    kind: t.kind,
    outputName: t.outputName,
    featureDim,
  };
  return await sha256(JSON.stringify({ describe, weights: lines }));
}

/** What a teacher-cache key is made of. */
export interface CacheKeyParts {
  /** The teacher's identity, e.g. {@linkcode teacherFingerprint}. */
  teacher: string;
  /** The dataset's identity: `ImageSource.fingerprint`. */
  dataset: string;
  /** The transform's identity: a canonical JSON of its steps. */
  transform: string;
}

/**
 * The cache key: SHA-256 (hex) over the teacher, dataset and transform
 * identities. Any change in one of them gives a different key.
 *
 * @example
 * ```ts
 * import { cacheKey } from "./cache.ts";
 *
 * const key = await cacheKey({ teacher: "abc", dataset: "fmnist:train", transform: "[]" });
 * console.log(key.length); // 64
 * ```
 *
 * @param parts The three identities.
 * @returns 64 hex digits.
 */
export async function cacheKey(parts: CacheKeyParts): Promise<string> {
  for (const name of ["teacher", "dataset", "transform"] as const) {
    if (typeof parts?.[name] !== "string") {
      throw new TypeError(`cacheKey: ${name} must be a string, got ${typeof parts?.[name]}`);
    }
  }
  const { teacher, dataset, transform } = parts;
  return await sha256(
    JSON.stringify({ format: "coss/teacher-features/1", teacher, dataset, transform }),
  );
}

/** What a prepared (sharded) cache's key is made of. */
export interface PreparedKeyParts {
  /** The manifest's key (`Manifest.key`). */
  manifest: string;
  /** The teacher's identity, e.g. `teacherFingerprint(teacher)`. */
  teacher: string;
  /** The preprocessing's identity: a canonical JSON of its steps. */
  transform: string;
  /**
   * The views' identity (plan and count), folded into the transform's; `""`
   * for the clean features, whose key is then the teacher-cache key of the
   * `keyedByManifest` (data/manifest.ts) images.
   *
   * @default {""}
   */
  views?: string;
}

/**
 * The key every embed shard and the merged teacher cache carry: the
 * teacher-cache key ({@linkcode cacheKey}) with `manifest:<key>` as the dataset
 * identity, exactly what `loadOrComputeFeatures` computes for the
 * `keyedByManifest` (data/manifest.ts) images; with views, folded into the transform
 * identity.
 *
 * @example
 * ```ts
 * import { preparedKey } from "./key.ts";
 * const k = await preparedKey({ manifest: "m", teacher: "t", transform: "[]" });
 * console.log(k.length); // 64
 * ```
 */
export async function preparedKey(parts: PreparedKeyParts): Promise<string> {
  for (const name of ["manifest", "teacher", "transform"] as const) {
    if (typeof parts?.[name] !== "string") {
      throw new TypeError(`preparedKey: ${name} must be a string, got ${typeof parts?.[name]}`);
    }
  }
  const views = parts.views ?? "";
  if (typeof views !== "string") {
    throw new TypeError(`preparedKey: views must be a string, got ${typeof views}`);
  }
  return await cacheKey({
    teacher: parts.teacher,
    dataset: `manifest:${parts.manifest}`,
    transform: views === ""
      ? parts.transform
      : JSON.stringify({ transform: parts.transform, views }),
  });
}
