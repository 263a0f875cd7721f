/**
 * Shard files of `deno task prepare` (see prepare.ts): their names, finding
 * a complete set, and reading one back with its key and block checked. Every
 * refusal is one line naming the shard and the command that rebuilds it.
 *
 * @module
 */
import { readSafetensors, readSafetensorsPart } from "../io/safetensors.ts";
import type { Safetensors, SafetensorsPart, SafetensorsTensor } from "../io/safetensors.ts";
import { shardRange, type ShardSpec } from "../data/manifest.ts";
import type { ViewAugmentation } from "./view_cache.ts";

/** A prepare stage that writes shards. */
export type ShardStage = "embed" | "mine";

/** What the shard functions need to know of the run (see `openPrepare`). */
export interface PreparePlan {
  /** The cache folder (`teacher.cacheDir`); shards go to `<dir>/prepare/`. */
  dir: string;
  /** The teacher-feature cache key every shard and the merged files carry. */
  key: string;
  /** The teacher's identity in the key. */
  teacherKey: string;
  /** The transform's identity in the key. */
  transformKey: string;
  /** `"<name> <fingerprint>"` of the training images. */
  dataset: string;
  /** Number of training images. */
  n: number;
  /** Images per teacher call (`teacher.batchSize`): embed shards align to it. */
  batchSize: number;
  /** Rows per similarity block (`teacher.mineChunk`): mine shards align to it. */
  chunkSize: number;
  /** Neighbours per image (`data.sampler.k`). */
  k: number;
  /**
   * The multi-view cache (`teacher.views` > 0 with `teacher.cache`): embed shards also hold each
   * image's views and their parameters, and the merge writes the views file.
   */
  views?: {
    augmentation: ViewAugmentation;
    count: number;
    seed: number;
    dtype: "float32" | "float16";
    /** The multi-view cache key. */
    key: string;
  };
  /** Whether training reads neighbour lists (so the merge needs the mine shards). */
  needLists: boolean;
  /** The command that (re)builds one shard, quoted in errors. */
  rebuild: (stage: ShardStage, shard: ShardSpec) => string;
}

/** The shard folder: `<cacheDir>/prepare`. */
export function shardDir(plan: PreparePlan): string {
  return `${plan.dir.replace(/\/+$/, "")}/prepare`;
}

/** `<dir>/prepare/embed-<i>of<N>.safetensors` or `.../mine-k<k>-<i>of<N>.safetensors`. */
export function shardPath(plan: PreparePlan, stage: ShardStage, shard: ShardSpec): string {
  const kind = stage === "embed" ? "embed" : `mine-k${plan.k}`;
  return `${shardDir(plan)}/${kind}-${shard.index}of${shard.count}.safetensors`;
}

/** The block of rows shard `shard` of `stage` covers. */
export function shardRows(
  plan: PreparePlan,
  stage: ShardStage,
  shard: ShardSpec,
): [number, number] {
  return shardRange(shard, plan.n, stage === "embed" ? plan.batchSize : plan.chunkSize);
}

/** The complete set of shards of `stage` on disk: the count, and each shard's file. */
export async function findShardSet(
  plan: PreparePlan,
  stage: ShardStage,
): Promise<{ count: number; paths: string[] }> {
  const pattern = stage === "embed"
    ? /^embed-(\d+)of(\d+)\.safetensors$/
    : new RegExp(`^mine-k${plan.k}-(\\d+)of(\\d+)\\.safetensors$`);
  const byCount = new Map<number, Set<number>>();
  try {
    for await (const e of Deno.readDir(shardDir(plan))) {
      const m = e.isFile ? pattern.exec(e.name) : null;
      if (!m) continue;
      const [index, count] = [Number(m[1]), Number(m[2])];
      if (index >= count) continue;
      if (!byCount.has(count)) byCount.set(count, new Set());
      byCount.get(count)!.add(index);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const counts = [...byCount.keys()].sort((a, b) => a - b);
  const complete = counts.find((c) => byCount.get(c)!.size === c);
  if (complete !== undefined) {
    const paths = Array.from(
      { length: complete },
      (_, index) => shardPath(plan, stage, { index, count: complete }),
    );
    return { count: complete, paths };
  }
  if (counts.length === 0) {
    const all = plan.rebuild(stage, { index: 0, count: 1 }).replace(/--shard 0\/1/, "--shard i/N");
    throw new Error(
      `no ${stage} shards in "${shardDir(plan)}"; run: ${all} for each i (or --workers N)`,
    );
  }
  // The set with the most shards present: name its first missing one.
  const count = counts.reduce((a, b) => (byCount.get(b)!.size > byCount.get(a)!.size ? b : a));
  const index = Array.from({ length: count }, (_, i) => i).find((i) =>
    !byCount.get(count)!.has(i)
  )!;
  const shard = { index, count };
  throw new Error(
    `missing ${stage} shard ${index}/${count} ("${shardPath(plan, stage, shard)}"); ` +
      `rebuild it with: ${plan.rebuild(stage, shard)}`,
  );
}

/** A shard read back: its tensors and metadata, key and block checked. */
export interface ShardFile {
  /** The shard's rows `[start, end)`. */
  start: number;
  end: number;
  /** Its tensors by name. */
  tensors: Map<string, SafetensorsTensor>;
  /** Its metadata. */
  metadata: Record<string, string>;
}

const KIND: Record<ShardStage, string> = {
  embed: "teacher-features-shard",
  mine: "neighbours-shard",
};

/** The `coss.cache` value of a shard of `stage`. */
export function shardKind(stage: ShardStage): string {
  return KIND[stage];
}

function viewsOk(
  tensors: Map<string, { shape: number[] }>,
  views: NonNullable<PreparePlan["views"]>,
  rows: number,
): boolean {
  const v = tensors.get("views"), p = tensors.get("params");
  return v?.shape.length === 3 && v.shape[0] === rows && v.shape[1] === views.count &&
    p?.shape.join() === [rows, views.count, views.augmentation.width].join();
}

/**
 * Read shard `shard` of `stage` and check its kind, key, block and tensors.
 * `missing: "undefined"` returns undefined for a missing, corrupt or foreign
 * file (the idempotence check) instead of throwing the one-line refusal.
 * `only` names the tensors to read (`rows` and the main one, `features` or
 * `indices`, always are); the others are checked by their shapes in the
 * header and left out of `tensors`, their bytes never read.
 */
export async function readShard(
  plan: PreparePlan,
  stage: ShardStage,
  shard: ShardSpec,
  missing: "throw" | "undefined" = "throw",
  only?: string[],
): Promise<ShardFile | undefined> {
  const path = shardPath(plan, stage, shard);
  const name = `${stage} shard ${shard.index}/${shard.count}`;
  const fix = `rebuild it with: ${plan.rebuild(stage, shard)}`;
  const refuse = (why: string) => {
    if (missing === "undefined") return undefined;
    throw new Error(`${why}; ${fix}`);
  };
  const mainName = stage === "embed" ? "features" : "indices";
  let st: Safetensors & { shapes?: SafetensorsPart["shapes"] };
  try {
    st = only
      ? await readSafetensorsPart(path, [...new Set(["rows", mainName, ...only])])
      : await readSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return refuse(`missing ${name} ("${path}")`);
    if (e instanceof SyntaxError) return refuse(`corrupt ${name} "${path}" (${e.message})`);
    throw e;
  }
  const meta = st.metadata;
  if (meta["coss.cache"] !== KIND[stage]) {
    return refuse(`foreign ${name} "${path}" (coss.cache is "${meta["coss.cache"]}")`);
  }
  if (meta["coss.key"] !== plan.key) {
    const got = meta["coss.key"] ? `${meta["coss.key"].slice(0, 16)}…` : "(none)";
    return refuse(
      `foreign ${name} "${path}": key ${got} (teacher ${(meta.teacher ?? "?").slice(0, 12)}…), ` +
        `expected ${plan.key.slice(0, 16)}… (teacher ${plan.teacherKey.slice(0, 12)}…)`,
    );
  }
  if (stage === "embed" && (meta["coss.views"] ?? "") !== (plan.views?.key ?? "")) {
    const want = plan.views
      ? `${plan.views.count} views (key ${plan.views.key.slice(0, 16)}…)`
      : "none";
    const got = meta["coss.views"] ? `key ${meta["coss.views"].slice(0, 16)}…` : "none";
    return refuse(`${name} "${path}" holds views ${got}, teacher.views asks for ${want}`);
  }
  const [start, end] = shardRows(plan, stage, shard);
  const rows = st.tensors.get("rows");
  const wantCols = stage === "mine" ? plan.k : undefined;
  const main = st.tensors.get(mainName);
  const ok = Number(meta.start) === start && Number(meta.end) === end &&
    Number(meta.n) === plan.n && rows?.dtype === "I32" && rows.shape.join() === `${end - start}` &&
    rows.values.every((v, i) => v === start + i) && main?.shape.length === 2 &&
    main.shape[0] === end - start && (wantCols === undefined || main.shape[1] === wantCols) &&
    (stage === "mine" || !plan.views ||
      viewsOk(st.shapes ?? st.tensors, plan.views, end - start));
  if (!ok) {
    return refuse(
      `${name} "${path}" does not hold rows [${start}, ${end}) of ${plan.n} ` +
        `(it says [${meta.start}, ${meta.end}) of ${meta.n})`,
    );
  }
  return { start, end, tensors: st.tensors, metadata: meta };
}
