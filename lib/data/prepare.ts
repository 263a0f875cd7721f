/**
 * The offline stages of a distillation as shards (issue 20): embed a block
 * of the training images with the teacher, mine the neighbours of a block of
 * query images by streaming every embedding shard, and merge the shards into
 * the very cache files that the single-process `deno task distill` writes
 * (`teacher-<key>.safetensors`, `neighbours-<key>-k<k>.safetensors`), so that
 * a distill afterwards is a cache hit.
 *
 * Bit-identical by construction:
 * - embed shards start on multiples of the embed batch, so every teacher
 *   call sees the same batch as in one process;
 * - mining computes the same similarity blocks as `mineNeighbours`: square
 *   blocks of `chunkSize` rows on the global grid, block pair `(I, J)` always
 *   as `Q_I · Q_Jᵀ` with `I ≤ J` (the same operands, the same shapes), and
 *   each query keeps its top-k by (similarity desc, index asc), a total order,
 *   so neither the order of the shards nor their count changes the result.
 *   Selection is always on the host (as `mineNeighbours` on cpu and wasm).
 *
 * Memory of a mine task: its query block (normalised), one embedding shard,
 * one `[chunkSize, dim]` column block and the query block's `k` lists; never
 * the `N × N` matrix.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Embedder } from "../models/types.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { teacherCachePath, writeTeacherFeatures } from "./cache.ts";
import { computeTeacherFeatures } from "./_teacher_features.ts";
import { loadNeighbours, neighbourCachePath, normalizeRows, saveNeighbours } from "./knn.ts";
import type { ShardSpec } from "./manifest.ts";
import { readSafetensors } from "../io/safetensors.ts";
import type { ImageSource } from "./types.ts";
import { TopKLists } from "./_topk_lists.ts";
import type { Tensor4D } from "../tf_types.ts";
import {
  findShardSet,
  type PreparePlan,
  readShard,
  shardDir,
  shardKind,
  shardPath,
  shardRows,
} from "./_prepare_files.ts";

export type { PreparePlan, ShardStage } from "./_prepare_files.ts";
export { shardPath };

/** What a stage did: the file it wrote (or found done), and whether it was already done. */
export interface StageResult {
  /** The output file. */
  path: string;
  /** True when a valid output existed and nothing was computed. */
  done: boolean;
  /** Rows handled (0 when done already). */
  rows: number;
  /** Wall time, seconds. */
  seconds: number;
}

function shardMeta(plan: PreparePlan, shard: ShardSpec, start: number, end: number) {
  return {
    "coss.key": plan.key,
    shard: `${shard.index}/${shard.count}`,
    start: String(start),
    end: String(end),
    n: String(plan.n),
    dataset: plan.dataset,
    transform: plan.transformKey,
    teacher: plan.teacherKey,
  };
}

/** Images `[start, end)` of `images` as a source of their own. */
function block(images: ImageSource, start: number, end: number): ImageSource {
  return {
    name: `${images.name}[${start}:${end}]`,
    length: end - start,
    imageShape: images.imageShape,
    fingerprint: `${images.fingerprint}|rows ${start}-${end}`,
    batch: (indices) => images.batch(Array.from(indices, (i) => start + i)),
    close() {},
  };
}

/**
 * Embed shard `shard`: the teacher's features of its contiguous block of
 * images, batch for batch as in one process, written atomically with the
 * global indices (`rows`) and the key. A valid shard on disk is kept.
 *
 * @example
 * ```ts ignore
 * const r = await embedShard(plan, { index: 1, count: 3 }, { teacher, images, transform });
 * console.log(r.path, r.done);
 * ```
 */
export async function embedShard(
  plan: PreparePlan,
  shard: ShardSpec,
  input: { teacher: Embedder; images: ImageSource; transform?: (x: Tensor4D) => Tensor4D },
): Promise<StageResult> {
  const t0 = performance.now();
  const path = shardPath(plan, "embed", shard);
  if (await readShard(plan, "embed", shard, "undefined")) {
    return { path, done: true, rows: 0, seconds: (performance.now() - t0) / 1000 };
  }
  const [start, end] = shardRows(plan, "embed", shard);
  let dim = 0;
  let features: Float32Array = new Float32Array(0);
  if (end > start) {
    features = await computeTeacherFeatures(input.teacher, block(input.images, start, end), {
      transform: input.transform,
      batchSize: plan.batchSize,
      progress: false,
    });
    dim = features.length / (end - start);
  } else {
    try {
      dim = input.teacher.featureDim;
    } catch { /* unknown before the first embed: an empty shard has width 0 */ }
  }
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) {
      throw new Error(
        `teacher features hold NaN or Inf (image ${start + Math.floor(i / dim)}); not writing ` +
          `"${path}": check the teacher's weights and data.mean/data.std`,
      );
    }
  }
  await Deno.mkdir(shardDir(plan), { recursive: true });
  await writeSafetensors(path, {
    features: { dtype: "F32", shape: [end - start, dim], values: features },
    rows: {
      dtype: "I32",
      shape: [end - start],
      values: Int32Array.from({ length: end - start }, (_, i) => start + i),
    },
  }, { "coss.cache": shardKind("embed"), ...shardMeta(plan, shard, start, end), dim: String(dim) });
  return { path, done: false, rows: end - start, seconds: (performance.now() - t0) / 1000 };
}

/** Normalised rows `[start, start + rows)` on the global chunk grid, streamed shard by shard. */
interface Chunk {
  start: number;
  rows: number;
  normed: Float32Array;
}

/**
 * The normalised feature rows of `[from, to)` in chunks of `chunk` rows on
 * the global grid (row `from` must be on it), reading one embed shard at a time.
 */
async function* chunks(
  plan: PreparePlan,
  count: number,
  from: number,
  to: number,
): AsyncGenerator<Chunk & { dim: number }> {
  const chunk = plan.chunkSize;
  let dim = 0;
  let pending = new Float32Array(0);
  let filled = 0;
  let chunkStart = from;
  for (let index = 0; index < count; index++) {
    const shard = { index, count };
    const [start, end] = shardRows(plan, "embed", shard);
    if (end <= from || start >= to || end === start) continue;
    const file = (await readShard(plan, "embed", shard))!;
    const f = file.tensors.get("features")!;
    if (dim === 0) {
      dim = f.shape[1];
      pending = new Float32Array(chunk * dim);
    } else if (f.shape[1] !== dim) {
      throw new Error(
        `embed shard ${index}/${count} has ${f.shape[1]}-d features, the others ${dim}-d; ` +
          `rebuild it with: ${plan.rebuild("embed", shard)}`,
      );
    }
    const lo = Math.max(start, from);
    const hi = Math.min(end, to);
    const normed = normalizeRows(
      {
        features: (f.values as Float32Array).subarray((lo - start) * dim, (hi - start) * dim),
        n: hi - lo,
        dim,
      },
      "prepare mine",
      `embed shard ${index}/${count}`,
    );
    for (let r = 0; r < hi - lo;) {
      const take = Math.min(chunk - filled, hi - lo - r);
      pending.set(normed.subarray(r * dim, (r + take) * dim), filled * dim);
      filled += take;
      r += take;
      if (filled === chunk) {
        yield { start: chunkStart, rows: chunk, normed: pending.slice(), dim };
        chunkStart += chunk;
        filled = 0;
      }
    }
  }
  if (filled > 0) {
    yield { start: chunkStart, rows: filled, normed: pending.slice(0, filled * dim), dim };
  }
}

/**
 * Mine shard `shard`: the top-k cosine neighbours of its block of query
 * images among all images, streaming every embed shard; written atomically.
 * A valid shard on disk is kept.
 *
 * @example
 * ```ts ignore
 * const r = await mineShard(plan, { index: 0, count: 2 });
 * ```
 */
export async function mineShard(plan: PreparePlan, shard: ShardSpec): Promise<StageResult> {
  const t0 = performance.now();
  const path = shardPath(plan, "mine", shard);
  if (await readShard(plan, "mine", shard, "undefined")) {
    return { path, done: true, rows: 0, seconds: (performance.now() - t0) / 1000 };
  }
  const { n, k } = plan;
  if (!(Number.isInteger(k) && k >= 1 && k <= n - 1)) {
    throw new RangeError(`prepare mine: k must be an integer in [1, n-1 = ${n - 1}], got ${k}`);
  }
  const embeds = await findShardSet(plan, "embed");
  const [q0, q1] = shardRows(plan, "mine", shard);
  const lists = new TopKLists(q1 - q0, k);
  // The query block's chunks as both operands: Q_I and Q_Iᵀ.
  const queries: { start: number; rows: number; q: tf.Tensor2D; qT: tf.Tensor2D }[] = [];
  try {
    for await (const c of chunks(plan, embeds.count, q0, q1)) {
      const q = tf.tensor2d(c.normed, [c.rows, c.dim]);
      queries.push({
        start: c.start,
        rows: c.rows,
        q,
        qT: tf.tidy(() => tf.transpose(tf.tensor2d(c.normed, [c.rows, c.dim]))),
      });
    }
    for await (const col of chunks(plan, embeds.count, 0, n)) {
      let colQ: tf.Tensor2D | undefined;
      let colT: tf.Tensor2D | undefined;
      try {
        for (const qb of queries) {
          if (col.start >= qb.start) {
            // Pair (I, J), I ≤ J: Q_I · Q_Jᵀ, read by row.
            colT ??= tf.tidy(() => tf.transpose(tf.tensor2d(col.normed, [col.rows, col.dim])));
            const sims = tf.matMul(qb.q, colT);
            const v = await sims.data() as Float32Array;
            sims.dispose();
            for (let i = 0; i < qb.rows; i++) {
              const row = qb.start + i;
              const local = row - q0;
              const last = local * k + k - 1;
              for (let j = 0; j < col.rows; j++) {
                const x = v[i * col.rows + j];
                if (x >= lists.sims[last] && col.start + j !== row) {
                  lists.offer(local, x, col.start + j);
                }
              }
            }
          } else {
            // Pair (J, I), J < I: Q_J · Q_Iᵀ as mineNeighbours computes it, read by column.
            colQ ??= tf.tensor2d(col.normed, [col.rows, col.dim]);
            const sims = tf.matMul(colQ, qb.qT);
            const v = await sims.data() as Float32Array;
            sims.dispose();
            for (let j = 0; j < col.rows; j++) {
              for (let i = 0; i < qb.rows; i++) {
                const x = v[j * qb.rows + i];
                const local = qb.start + i - q0;
                if (x >= lists.sims[local * k + k - 1]) lists.offer(local, x, col.start + j);
              }
            }
          }
        }
      } finally {
        colQ?.dispose();
        colT?.dispose();
      }
    }
  } finally {
    for (const qb of queries) tf.dispose([qb.q, qb.qT]);
  }
  const bad = lists.firstIncomplete();
  if (bad >= 0) throw new Error(`prepare mine: row ${q0 + bad} has fewer than ${k} neighbours`);
  await Deno.mkdir(shardDir(plan), { recursive: true });
  await writeSafetensors(path, {
    indices: { dtype: "I32", shape: [q1 - q0, k], values: lists.indices },
    similarities: { dtype: "F32", shape: [q1 - q0, k], values: lists.sims },
    rows: {
      dtype: "I32",
      shape: [q1 - q0],
      values: Int32Array.from({ length: q1 - q0 }, (_, i) => q0 + i),
    },
  }, { "coss.cache": shardKind("mine"), ...shardMeta(plan, shard, q0, q1), k: String(k) });
  return { path, done: false, rows: q1 - q0, seconds: (performance.now() - t0) / 1000 };
}

/** What {@linkcode mergePrepared} did. */
export interface MergeResult {
  /** The teacher-feature cache file. */
  features: string;
  /** The neighbour file, when mined. */
  neighbours?: string;
  /** True when both files existed with the right key and nothing was written. */
  done: boolean;
  /** The one-line summary. */
  summary: string;
}

/** Copy each shard's rows into an `[n, width]` array, checking every row comes exactly once. */
async function gather(
  plan: PreparePlan,
  stage: "embed" | "mine",
  count: number,
  tensor: string,
  width: (file: Record<string, string>, shape: number[]) => number,
): Promise<{ values: Float32Array | Int32Array; width: number; extra?: Float32Array }> {
  const seen = new Uint8Array(plan.n);
  let out: Float32Array | Int32Array | undefined;
  let extra: Float32Array | undefined;
  let w = 0;
  for (let index = 0; index < count; index++) {
    const file = (await readShard(plan, stage, { index, count }))!;
    const t = file.tensors.get(tensor)!;
    const rows = file.tensors.get("rows")!.values;
    if (!out) {
      w = width(file.metadata, t.shape);
      out = t.dtype === "I32" ? new Int32Array(plan.n * w) : new Float32Array(plan.n * w);
      if (stage === "mine") extra = new Float32Array(plan.n * w);
    }
    if (t.shape[0] > 0 && t.shape[1] !== w) {
      throw new Error(
        `${stage} shard ${index}/${count} is ${t.shape[1]} wide, the others ${w}; ` +
          `rebuild it with: ${plan.rebuild(stage, { index, count })}`,
      );
    }
    const sims = stage === "mine" ? file.tensors.get("similarities")!.values : undefined;
    for (let r = 0; r < rows.length; r++) {
      const g = rows[r];
      if (seen[g]++) {
        throw new Error(`image ${g} has two ${stage} entries (shard ${index}/${count})`);
      }
      out.set(t.values.subarray(r * w, (r + 1) * w), g * w);
      if (sims) extra!.set(sims.subarray(r * w, (r + 1) * w), g * w);
    }
  }
  const lost = seen.indexOf(0);
  if (lost >= 0) throw new Error(`image ${lost} has no ${stage} entry in ${count} shards`);
  return { values: out!, width: w, extra };
}

async function hasKey(path: string, key: string): Promise<boolean> {
  try {
    return (await readSafetensors(path)).metadata["coss.key"] === key;
  } catch {
    return false;
  }
}

/**
 * Merge the shards into the cache files the single-process path writes,
 * after checking that every image has exactly one entry and every key
 * agrees; the neighbours only where mined shards exist or training needs
 * them. Files already there with the key are kept.
 *
 * @example
 * ```ts ignore
 * const { summary } = await mergePrepared(plan);
 * console.log(summary);
 * ```
 */
export async function mergePrepared(plan: PreparePlan): Promise<MergeResult> {
  const t0 = performance.now();
  const featuresPath = teacherCachePath(plan.dir, plan.key);
  const neighboursPath = neighbourCachePath(plan.dir, plan.key, plan.k);
  let mined: { count: number } | undefined;
  try {
    mined = await findShardSet(plan, "mine");
  } catch (e) {
    if (plan.needLists) throw e;
  }
  const wantLists = mined !== undefined;
  const haveFeatures = await hasKey(featuresPath, plan.key);
  const haveLists = wantLists && (await loadNeighbours(neighboursPath).then(
    (nn) => nn.metadata["coss.key"] === plan.key && nn.n === plan.n && nn.k === plan.k,
    () => false,
  ));
  if (haveFeatures && (!wantLists || haveLists)) {
    const summary = `prepare merge: done already: "${featuresPath}"` +
      (wantLists ? ` and "${neighboursPath}"` : "") + ` (key ${plan.key.slice(0, 16)}…)`;
    return {
      features: featuresPath,
      neighbours: wantLists ? neighboursPath : undefined,
      done: true,
      summary,
    };
  }
  const embeds = await findShardSet(plan, "embed");
  const feats = await gather(plan, "embed", embeds.count, "features", (m) => Number(m.dim));
  let lists: Awaited<ReturnType<typeof gather>> | undefined;
  if (mined) lists = await gather(plan, "mine", mined.count, "indices", () => plan.k);
  await Deno.mkdir(plan.dir, { recursive: true });
  if (!haveFeatures) {
    await writeTeacherFeatures(featuresPath, {
      features: feats.values as Float32Array,
      n: plan.n,
      dim: feats.width,
    }, {
      key: plan.key,
      dataset: plan.dataset,
      transform: plan.transformKey,
      teacher: plan.teacherKey,
    });
  }
  if (lists && !haveLists) {
    await saveNeighbours(neighboursPath, {
      indices: lists.values as Int32Array,
      similarities: lists.extra!,
      n: plan.n,
      k: plan.k,
    }, { key: plan.key });
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(2);
  const summary = `prepare merge: ${plan.n} images × ${feats.width}-d from ${embeds.count} embed ` +
    `shards` + (mined ? `, ${plan.n}×${plan.k} neighbours from ${mined.count} mine shards` : "") +
    ` → "${featuresPath}"` + (mined ? `, "${neighboursPath}"` : "") +
    ` (key ${plan.key.slice(0, 16)}…) in ${secs} s`;
  return {
    features: featuresPath,
    neighbours: mined ? neighboursPath : undefined,
    done: false,
    summary,
  };
}
