/**
 * The hashes that tell one run from another: the config hash (what trains the
 * student: everything but where things go, how often progress is reported,
 * and `eval.*`), the eval hash (`eval.*` alone), and the hash run dirs
 * written before `eval.*` left the config hash carry. Private; `config.ts`
 * re-exports the public ones.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { isPlainObject } from "./spec.ts";
import type { DistillConfig } from "./types.ts";

/**
 * Keys {@linkcode configHash} leaves out: where things are written or found,
 * how often progress is reported, and the evaluation (`eval`, hashed apart by
 * {@linkcode evalHash}: changing it re-evaluates a finished run instead of
 * refusing it). Everything else (the backend included: it changes the
 * numerics slightly) is in.
 */
export const HASH_EXCLUDED_KEYS: readonly string[] = [
  "runDir",
  "teacher.cacheDir",
  "teacher.batchSize",
  "teacher.mineChunk",
  "train.evalEvery",
  "train.logEvery",
  "train.checkpointEvery",
  "data.train.dataDir",
  "data.train.cacheDir",
  "data.train.download",
  "data.train.useSystemData",
  "data.train.mirror",
  "data.test.dataDir",
  "data.test.cacheDir",
  "data.test.download",
  "data.test.useSystemData",
  "data.test.mirror",
  "eval",
];

function canonical(v: unknown, path: string, excluded: readonly string[]): unknown {
  if (Array.isArray(v)) return v.map((x, i) => canonical(x, `${path}[${i}]`, excluded));
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v).sort()) {
    const p = path ? `${path}.${key}` : key;
    if (!excluded.includes(p) && v[key] !== undefined) out[key] = canonical(v[key], p, excluded);
  }
  return out;
}

const sha256 = (v: unknown) =>
  createHash("sha256").update(JSON.stringify(v) ?? "null").digest("hex");

/**
 * SHA-256 (hex) of the config's canonical JSON (sorted keys), without
 * {@linkcode HASH_EXCLUDED_KEYS}: equal for configs that train the same
 * way, so a run dir can refuse to resume under another config.
 *
 * @example
 * ```ts
 * import { configHash, DEFAULT_CONFIG } from "./config.ts";
 * const moved = { ...DEFAULT_CONFIG, runDir: "elsewhere" };
 * const k20 = { ...DEFAULT_CONFIG, eval: { ...DEFAULT_CONFIG.eval, k: 20 } };
 * console.log(configHash(moved) === configHash(DEFAULT_CONFIG)); // true
 * console.log(configHash(k20) === configHash(DEFAULT_CONFIG)); // true: eval.* is in evalHash
 * ```
 */
export function configHash(c: DistillConfig): string {
  return sha256(canonical(c, "", HASH_EXCLUDED_KEYS));
}

/**
 * SHA-256 (hex) of the canonical JSON of `c.eval`: the evaluation a run's
 * report was made under, recorded beside {@linkcode configHash} so that a
 * finished run evaluated under other `eval.*` settings is evaluated again
 * rather than refused or taken as current.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONFIG, evalHash } from "./config.ts";
 * const k20 = { ...DEFAULT_CONFIG, eval: { ...DEFAULT_CONFIG.eval, k: 20 } };
 * console.log(evalHash(k20) === evalHash(DEFAULT_CONFIG)); // false
 * ```
 */
export function evalHash(c: DistillConfig): string {
  return sha256(canonical(c.eval, "eval", []));
}

/**
 * The config hash as run dirs written before `eval.*` left it carry (their
 * `config.yaml` has no `# eval hash:` line): training and evaluation in one.
 */
export function legacyConfigHash(c: DistillConfig): string {
  return sha256(canonical(c, "", HASH_EXCLUDED_KEYS.filter((k) => k !== "eval")));
}
