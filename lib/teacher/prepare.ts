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
 * the `N × N` matrix. `mineShard` counts these where it allocates them and
 * reports the peak (`StageResult.peakBytes`), so that the bound is checked
 * (tests/teacher/prepare_test.ts) and a task's memory can be sized from a small run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Embedder } from "../models/types.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { teacherCachePath, writeTeacherFeatures } from "./cache.ts";
import { computeTeacherFeatures } from "./_features.ts";
import {
  columnBlock,
  loadNeighbours,
  neighbourCachePath,
  normalizeRows,
  saveNeighbours,
  similarityBlock,
} from "../neighbours/mod.ts";
import type { ShardSpec } from "../data/manifest.ts";
import { readSafetensors, type SafetensorsInput } from "../io/safetensors.ts";
import { computeViews, viewCachePath, writeViewCache } from "./view_cache.ts";
import type { ImageSource } from "../data/types.ts";
import { TopKLists } from "../neighbours/topk.ts";
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
export { shardDir, shardPath };

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
  /**
   * Mine: the most bytes of feature rows, similarity blocks and top-k lists
   * the task held at once, counted where it allocates them (an embed shard
   * counts its features and rows, the only tensors of it read). 0 for embed,
   * and when done already.
   */
  peakBytes: number;
}

/** The bytes a mine task holds, added and dropped where it allocates and lets go. */
class Held {
  now = 0;
  peak = 0;
  add(bytes: number): void {
    this.now += bytes;
    this.peak = Math.max(this.peak, this.now);
  }
  drop(bytes: number): void {
    this.now -= bytes;
  }
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
    return { path, done: true, rows: 0, seconds: (performance.now() - t0) / 1000, peakBytes: 0 };
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
  const views: Record<string, SafetensorsInput> = {};
  if (plan.views) {
    const { augmentation, count } = plan.views;
    const v = end > start
      ? await computeViews(input.teacher, input.images, augmentation, count, {
        range: [start, end],
        batchSize: plan.batchSize,
        progress: false,
      })
      : { features: new Float32Array(0), params: new Float32Array(0) };
    views.views = { dtype: "F32", shape: [end - start, count, dim], values: v.features };
    views.params = {
      dtype: "F32",
      shape: [end - start, count, augmentation.width],
      values: v.params,
    };
  }
  await Deno.mkdir(shardDir(plan), { recursive: true });
  await writeSafetensors(path, {
    ...views,
    features: { dtype: "F32", shape: [end - start, dim], values: features },
    rows: {
      dtype: "I32",
      shape: [end - start],
      values: Int32Array.from({ length: end - start }, (_, i) => start + i),
    },
  }, {
    "coss.cache": shardKind("embed"),
    ...shardMeta(plan, shard, start, end),
    "coss.views": plan.views?.key ?? "",
    dim: String(dim),
  });
  const seconds = (performance.now() - t0) / 1000;
  return { path, done: false, rows: end - start, seconds, peakBytes: 0 };
}

/** Normalised rows `[start, start + rows)` on the global chunk grid, streamed shard by shard. */
interface Chunk {
  start: number;
  rows: number;
  normed: Float32Array;
}

/**
 * The normalised feature rows of `[from, to)` in chunks of `chunk` rows on
 * the global grid (row `from` must be on it), reading one embed shard at a
 * time. Each chunk is counted in `held` until its consumer drops it.
 */
async function* chunks(
  plan: PreparePlan,
  count: number,
  from: number,
  to: number,
  held: Held,
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
    // The features and rows only: a shard's views (V per image) are not mining's.
    const file = (await readShard(plan, "embed", shard, "throw", ["features", "rows"]))!;
    const f = file.tensors.get("features")!;
    if (dim === 0) {
      dim = f.shape[1];
      pending = new Float32Array(chunk * dim);
      held.add(pending.byteLength);
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
    let fileBytes = normed.byteLength;
    for (const t of file.tensors.values()) fileBytes += t.values.byteLength;
    held.add(fileBytes);
    for (let r = 0; r < hi - lo;) {
      const take = Math.min(chunk - filled, hi - lo - r);
      pending.set(normed.subarray(r * dim, (r + take) * dim), filled * dim);
      filled += take;
      r += take;
      if (filled === chunk) {
        held.add(pending.byteLength);
        yield { start: chunkStart, rows: chunk, normed: pending.slice(), dim };
        chunkStart += chunk;
        filled = 0;
      }
    }
    held.drop(fileBytes);
  }
  if (filled > 0) {
    held.add(filled * dim * 4);
    yield { start: chunkStart, rows: filled, normed: pending.slice(0, filled * dim), dim };
  }
  held.drop(pending.byteLength);
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
    return { path, done: true, rows: 0, seconds: (performance.now() - t0) / 1000, peakBytes: 0 };
  }
  const { n, k } = plan;
  if (!(Number.isInteger(k) && k >= 1 && k <= n - 1)) {
    throw new RangeError(`prepare mine: k must be an integer in [1, n-1 = ${n - 1}], got ${k}`);
  }
  const embeds = await findShardSet(plan, "embed");
  const [q0, q1] = shardRows(plan, "mine", shard);
  const held = new Held();
  const lists = new TopKLists(q1 - q0, k);
  held.add(lists.sims.byteLength + lists.indices.byteLength);
  // The query block's chunks as both operands: Q_I and Q_Iᵀ.
  const queries: { start: number; rows: number; q: tf.Tensor2D; qT: tf.Tensor2D }[] = [];
  try {
    for await (const c of chunks(plan, embeds.count, q0, q1, held)) {
      const q = tf.tensor2d(c.normed, [c.rows, c.dim]);
      queries.push({
        start: c.start,
        rows: c.rows,
        q,
        qT: columnBlock(c.normed, c.rows, c.dim),
      });
      // The chunk lives on as Q_I (the backend may keep its array), plus Q_Iᵀ.
      held.add(c.normed.byteLength);
    }
    // An empty query block (a trailing shard) reads no columns.
    for await (const col of queries.length > 0 ? chunks(plan, embeds.count, 0, n, held) : []) {
      let colQ: tf.Tensor2D | undefined;
      let colT: tf.Tensor2D | undefined;
      const block = col.normed.byteLength;
      try {
        for (const qb of queries) {
          if (col.start >= qb.start) {
            // Pair (I, J), I ≤ J: Q_I · Q_Jᵀ, read by row.
            if (!colT) held.add(block);
            colT ??= columnBlock(col.normed, col.rows, col.dim);
            const v = await similarityBlock(qb.q, colT);
            held.add(v.byteLength);
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
            held.drop(v.byteLength);
          } else {
            // Pair (J, I), J < I: Q_J · Q_Iᵀ as mineNeighbours computes it, read by column.
            if (!colQ) held.add(block);
            colQ ??= tf.tensor2d(col.normed, [col.rows, col.dim]);
            const v = await similarityBlock(colQ, qb.qT);
            held.add(v.byteLength);
            for (let j = 0; j < col.rows; j++) {
              for (let i = 0; i < qb.rows; i++) {
                const x = v[j * qb.rows + i];
                const local = qb.start + i - q0;
                if (x >= lists.sims[local * k + k - 1]) lists.offer(local, x, col.start + j);
              }
            }
            held.drop(v.byteLength);
          }
        }
      } finally {
        colQ?.dispose();
        colT?.dispose();
        held.drop(block * (1 + Number(colQ !== undefined) + Number(colT !== undefined)));
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
  const seconds = (performance.now() - t0) / 1000;
  return { path, done: false, rows: q1 - q0, seconds, peakBytes: held.peak };
}

/** What {@linkcode mergePrepared} did. */
export interface MergeResult {
  /** The files written (or found done): teacher features, then neighbours and views where made. */
  files: string[];
  /** True when every file existed with the right key and nothing was written. */
  done: boolean;
  /** The one-line summary. */
  summary: string;
}

/** Tensors gathered from every shard into `[n, ...row]` arrays. */
type Gathered = Map<string, { values: Float32Array | Int32Array; row: number[] }>;

/** Copy each shard's rows of `names` into `[n, ...]` arrays, checking every row comes exactly once. */
async function gather(
  plan: PreparePlan,
  stage: "embed" | "mine",
  count: number,
  names: string[],
): Promise<Gathered> {
  const seen = new Uint8Array(plan.n);
  const out: Gathered = new Map();
  for (let index = 0; index < count; index++) {
    const file = (await readShard(plan, stage, { index, count }))!;
    const rows = file.tensors.get("rows")!.values;
    if (rows.length === 0) continue;
    for (const name of names) {
      const t = file.tensors.get(name)!;
      const row = t.shape.slice(1);
      if (!out.has(name)) {
        const size = plan.n * row.reduce((a, b) => a * b, 1);
        out.set(name, {
          values: t.dtype === "I32" ? new Int32Array(size) : new Float32Array(size),
          row,
        });
      }
      const into = out.get(name)!;
      if (into.row.join() !== row.join()) {
        throw new Error(
          `${stage} shard ${index}/${count}: "${name}" rows are [${row}], the others [${into.row}]; ` +
            `rebuild it with: ${plan.rebuild(stage, { index, count })}`,
        );
      }
      const w = row.reduce((a, b) => a * b, 1);
      for (let r = 0; r < rows.length; r++) {
        into.values.set(t.values.subarray(r * w, (r + 1) * w), rows[r] * w);
      }
    }
    for (const g of rows) {
      if (seen[g]++) {
        throw new Error(`image ${g} has two ${stage} entries (shard ${index}/${count})`);
      }
    }
  }
  const lost = seen.indexOf(0);
  if (lost >= 0) throw new Error(`image ${lost} has no ${stage} entry in ${count} shards`);
  return out;
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
 * agrees: the teacher features, the multi-view cache where `teacher.views`
 * asks for it, and the neighbours where mine shards exist or training needs
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
  const viewsPath = plan.views ? viewCachePath(plan.dir, plan.views.key) : undefined;
  let mined: { count: number } | undefined;
  try {
    mined = await findShardSet(plan, "mine");
  } catch (e) {
    if (plan.needLists) throw e;
  }
  const haveFeatures = await hasKey(featuresPath, plan.key);
  const haveViews = !viewsPath || await hasKey(viewsPath, plan.views!.key);
  const haveLists = !mined || (await loadNeighbours(neighboursPath).then(
    (nn) => nn.metadata["coss.key"] === plan.key && nn.n === plan.n && nn.k === plan.k,
    () => false,
  ));
  const files = [
    featuresPath,
    ...(mined ? [neighboursPath] : []),
    ...(viewsPath ? [viewsPath] : []),
  ];
  const key = `key ${plan.key.slice(0, 16)}…`;
  if (haveFeatures && haveViews && haveLists) {
    const summary = `prepare merge: done already: ${
      files.map((f) => `"${f}"`).join(", ")
    } (${key})`;
    return { files, done: true, summary };
  }
  const embeds = await findShardSet(plan, "embed");
  const feats = await gather(
    plan,
    "embed",
    embeds.count,
    plan.views ? ["features", "views", "params"] : ["features"],
  );
  const lists = mined
    ? await gather(plan, "mine", mined.count, ["indices", "similarities"])
    : undefined;
  const f = feats.get("features")!;
  const dim = f.row[0];
  await Deno.mkdir(plan.dir, { recursive: true });
  if (!haveFeatures) {
    await writeTeacherFeatures(featuresPath, {
      features: f.values as Float32Array,
      n: plan.n,
      dim,
    }, {
      key: plan.key,
      dataset: plan.dataset,
      transform: plan.transformKey,
      teacher: plan.teacherKey,
    });
  }
  if (lists && !haveLists) {
    await saveNeighbours(neighboursPath, {
      indices: lists.get("indices")!.values as Int32Array,
      similarities: lists.get("similarities")!.values as Float32Array,
      n: plan.n,
      k: plan.k,
    }, { key: plan.key });
  }
  if (plan.views && !haveViews) {
    const v = plan.views;
    await writeViewCache(viewsPath!, {
      n: plan.n,
      views: v.count,
      dim,
      features: feats.get("views")!.values as Float32Array,
      params: feats.get("params")!.values as Float32Array,
    }, {
      key: v.key,
      dataset: plan.dataset,
      augmentation: v.augmentation,
      seed: v.seed,
      dtype: v.dtype,
    });
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(2);
  const summary = `prepare merge: ${plan.n} images × ${dim}-d` +
    (plan.views ? ` (+${plan.views.count} views each)` : "") +
    ` from ${embeds.count} embed shards` +
    (mined ? `, ${plan.n}×${plan.k} neighbours from ${mined.count} mine shards` : "") +
    ` → ${files.map((p) => `"${p}"`).join(", ")} (${key}) in ${secs} s`;
  return { files, done: false, summary };
}
