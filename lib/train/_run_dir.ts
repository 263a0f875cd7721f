/**
 * The run directory: the resolved config (and the guard against resuming a
 * directory written by another config), the metrics log and the checkpoint.
 *
 * @module
 */
import { exists } from "../data/_bytes.ts";
import type * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic } from "../io/atomic.ts";
import type { ParamStore } from "../models/params.ts";

/** Paths inside a run directory. */
export interface RunPaths {
  dir: string;
  config: string;
  checkpoint: string;
  metrics: string;
  exportTfjs: string;
  exportSafetensors: string;
}

/** Paths of run directory `dir`. */
export function runPaths(dir: string): RunPaths {
  return {
    dir,
    config: `${dir}/config.yaml`,
    checkpoint: `${dir}/checkpoint.safetensors`,
    metrics: `${dir}/metrics.jsonl`,
    exportTfjs: `${dir}/student-tfjs`,
    exportSafetensors: `${dir}/student-safetensors`,
  };
}

/**
 * Create or reopen a run directory. A directory that already holds a
 * checkpoint is resumed when its saved config hashes the same; a different
 * config is refused (with both hashes and the fix), as is `resume: true`
 * without a checkpoint.
 *
 * @returns Whether a checkpoint is there to resume from.
 */
export async function openRunDir(
  paths: RunPaths,
  config: { hash: string; yaml: string },
  resume: boolean | "auto",
): Promise<boolean> {
  try {
    await Deno.mkdir(paths.dir, { recursive: true });
  } catch (e) {
    throw new Error(`Cannot create run dir "${paths.dir}": ${(e as Error).message}`);
  }
  const hasCheckpoint = await exists(paths.checkpoint);
  if (resume === true && !hasCheckpoint) {
    throw new Error(`Cannot resume: run dir "${paths.dir}" holds no checkpoint.safetensors`);
  }
  if (hasCheckpoint && resume !== false) {
    const saved = await Deno.readTextFile(paths.config).catch(() => "");
    const savedHash = saved.match(/^# config hash: ([0-9a-f]+)$/m)?.[1];
    if (savedHash !== config.hash) {
      throw new Error(
        `Cannot resume run dir "${paths.dir}": it was written by another config ` +
          `(hash ${savedHash?.slice(0, 12) ?? "unknown"}, this one ${config.hash.slice(0, 12)}); ` +
          "use another --run-dir, or --no-resume to start it over",
      );
    }
    return true;
  }
  if (hasCheckpoint) {
    // Starting over: the old checkpoint and metrics describe another run.
    await Deno.remove(paths.checkpoint);
    await Deno.remove(paths.metrics).catch(() => {});
  }
  const text = `# config hash: ${config.hash}\n${config.yaml}`;
  await writeFileAtomic(paths.config, new TextEncoder().encode(text));
  return false;
}

/** One metrics record. */
export type MetricsRecord = Record<string, number | string | null | Record<string, unknown>>;

/** An append-only JSONL log that, on resume, drops records written after the checkpoint. */
export class MetricsLog {
  #file: Deno.FsFile | undefined;

  private constructor(readonly path: string) {}

  /** Open `path`, keeping only records with `step < fromStep` (all when undefined). */
  static async open(path: string, fromStep?: number): Promise<MetricsLog> {
    const log = new MetricsLog(path);
    let kept = "";
    if (fromStep !== undefined) {
      const text = await Deno.readTextFile(path).catch(() => "");
      kept = text.split("\n").filter((line) => {
        if (!line.trim()) return false;
        try {
          return (JSON.parse(line).step as number) < fromStep;
        } catch {
          return false;
        }
      }).map((l) => l + "\n").join("");
    }
    await writeFileAtomic(path, new TextEncoder().encode(kept));
    log.#file = await Deno.open(path, { append: true });
    return log;
  }

  /** Append one record. */
  async write(record: MetricsRecord): Promise<void> {
    await this.#file!.write(new TextEncoder().encode(JSON.stringify(record) + "\n"));
  }

  /** Close the file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

/**
 * The variables a checkpoint stores, by stable name: `student/<param>` and
 * `head/<param>` (tfjs variable names depend on creation order).
 */
export function checkpointVariables(
  student: { params: ParamStore },
  head?: { params: ParamStore },
): Record<string, tf.Variable> {
  const named = (prefix: string, store?: ParamStore) =>
    (store?.entries() ?? []).map(([n, e]) => [`${prefix}/${n}`, e.variable] as const);
  return Object.fromEntries([...named("student", student.params), ...named("head", head?.params)]);
}
