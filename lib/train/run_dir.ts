/**
 * The run directory: the resolved config (and the guard against resuming a
 * directory written by another config), the metrics log and the checkpoint.
 *
 * `config.yaml` starts with two hash lines: `# config hash:` (what trains the
 * run, {@linkcode configHash}) and `# eval hash:` (what evaluated it,
 * {@linkcode evalHash}). Run dirs written before `eval.*` left the config
 * hash have only the first, over both ({@linkcode legacyConfigHash}); they
 * are read as they were meant.
 *
 * @module
 */
import { exists } from "../util/bytes.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { checkWritable, permission } from "../util/permission.ts";
import { removeReport } from "../eval/report.ts";
import { configHash, evalHash, legacyConfigHash } from "../config/hash.ts";
import { isPlainObject } from "../config/spec.ts";
import type { DistillConfig } from "../config/types.ts";
import { parseConfig, stringifyConfig } from "../config/config.ts";

/** Paths inside a run directory. */
export interface RunPaths {
  dir: string;
  config: string;
  checkpoint: string;
  metrics: string;
  exportTfjs: string;
  exportSafetensors: string;
  exportOnnx: string;
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
    exportOnnx: `${dir}/student-onnx`,
  };
}

/** What a run was trained and evaluated under. */
export interface RunHashes {
  /** {@linkcode configHash}: what trains the run. */
  config: string;
  /** {@linkcode evalHash}: `eval.*`. */
  eval: string;
}

/** The hashes of `c`. */
export function runHashes(c: DistillConfig): RunHashes {
  return { config: configHash(c), eval: evalHash(c) };
}

/** `config.yaml`'s text for `c`: the two hash lines, then the config as block YAML. */
export function configFileText(c: DistillConfig): string {
  const h = runHashes(c);
  return `# config hash: ${h.config}\n# eval hash: ${h.eval}\n${stringifyConfig(c)}`;
}

/** What a run dir's `config.yaml` says, in today's hashes; see {@linkcode savedHashes}. */
export interface SavedHashes extends Partial<RunHashes> {
  /** The `# config hash:` line as written (for messages); undefined without one. */
  recorded?: string;
}

/**
 * The hashes of the run a `config.yaml` describes, in today's terms. A file
 * without the `# eval hash:` line was written before `eval.*` left the config
 * hash, and its one hash covers both: it is the run of `current` when it
 * equals `current`'s {@linkcode legacyConfigHash}; otherwise its own config
 * (the YAML below the lines), when that still hashes to the line, gives both
 * hashes. Where neither holds (a file edited by hand, or written under another
 * schema), `config` and `eval` are undefined: another run.
 *
 * @param text The file's text.
 * @param current The config about to use the run dir.
 */
export function savedHashes(text: string, current: DistillConfig): SavedHashes {
  const recorded = text.match(/^# config hash: ([0-9a-f]+)$/m)?.[1];
  if (!recorded) return {};
  const evalLine = text.match(/^# eval hash: ([0-9a-f]+)$/m)?.[1];
  if (evalLine) return { recorded, config: recorded, eval: evalLine };
  if (recorded === legacyConfigHash(current)) return { recorded, ...runHashes(current) };
  try {
    const saved = parseConfig(text, { source: "config.yaml" });
    if (legacyConfigHash(saved) === recorded) return { recorded, ...runHashes(saved) };
  } catch {
    // A config this schema no longer reads: another run.
  }
  return { recorded };
}

/**
 * Today's config hash of the run a checkpoint belongs to, from the hash and
 * config it recorded: a checkpoint written before `eval.*` left the config
 * hash recorded {@linkcode legacyConfigHash}. A hash that matches neither
 * (an edited file) is returned as it is, and matches no config.
 */
export function checkpointConfigHash(recorded: string, config: unknown): string {
  if (!isPlainObject(config)) return recorded;
  const c = config as unknown as DistillConfig;
  try {
    const today = configHash(c);
    return recorded === today || recorded === legacyConfigHash(c) ? today : recorded;
  } catch {
    return recorded;
  }
}

/** What {@linkcode checkRunDir} found. */
export interface RunDirState {
  /** A checkpoint is there to resume from. */
  resuming: boolean;
  /**
   * Resuming a run that was evaluated (or was to be) under other `eval.*`
   * settings: its report no longer describes this config.
   */
  evalChanged: boolean;
}

/**
 * Check a run directory before anything is loaded or written: a directory
 * that already holds a checkpoint is resumed when its saved config hashes
 * the same (`eval.*` aside: a change there only re-evaluates); a different
 * config is refused (with both hashes and the fix), as is `resume: true`
 * without a checkpoint. The directory (or, when it does not exist yet, its
 * nearest existing parent) must be writable. Nothing is created or changed:
 * {@linkcode prepareRunDir} does that once the run's inputs have opened, so a
 * bad dataset or teacher leaves no run dir behind.
 */
export async function checkRunDir(
  paths: RunPaths,
  config: DistillConfig,
  resume: boolean | "auto",
): Promise<RunDirState> {
  for (const name of ["read", "write"] as const) {
    if ((await permission({ name, path: paths.dir })) !== "granted") {
      // Deno's own wording, which the tasks' error path completes with their grants.
      throw new Error(
        `Cannot use run dir "${paths.dir}": Requires ${name} access to "${paths.dir}", ` +
          `run again with the --allow-${name} flag`,
      );
    }
  }
  const hasCheckpoint = await exists(paths.checkpoint);
  if (resume === true && !hasCheckpoint) {
    throw new Error(
      `Cannot resume: run dir "${paths.dir}" holds no checkpoint.safetensors ` +
        "(drop --resume to start a new run there)",
    );
  }
  const resuming = hasCheckpoint && resume !== false;
  let evalChanged = false;
  if (resuming) {
    const hashes = runHashes(config);
    const saved = savedHashes(await Deno.readTextFile(paths.config).catch(() => ""), config);
    if (saved.config !== hashes.config) {
      throw new Error(
        `Cannot resume run dir "${paths.dir}": it was written by another config ` +
          `(hash ${saved.recorded?.slice(0, 12) ?? "unknown"}, this one ` +
          `${hashes.config.slice(0, 12)}); use another --run-dir, or --no-resume to start it over`,
      );
    }
    evalChanged = saved.eval !== hashes.eval;
  }
  await checkWritable(paths.dir, `run dir "${paths.dir}"`, "choose another --run-dir");
  return { resuming, evalChanged };
}

/**
 * Create the run directory and record the config, once the run is known to
 * start. Starting over (`resuming` false) removes an old checkpoint and
 * metrics first: they describe another run. Resuming under other `eval.*`
 * settings (`evalChanged`) removes the old report first, then records the
 * new settings, so that no report ever sits beside a config it was not made
 * under; a resume under the same settings leaves `config.yaml` as it is.
 *
 * @returns The report files removed.
 */
export async function prepareRunDir(
  paths: RunPaths,
  config: DistillConfig,
  state: RunDirState,
): Promise<string[]> {
  try {
    await Deno.mkdir(paths.dir, { recursive: true });
  } catch (e) {
    throw new Error(`Cannot create run dir "${paths.dir}": ${(e as Error).message}`);
  }
  if (state.resuming && !state.evalChanged) return [];
  let removed: string[] = [];
  if (state.resuming) {
    removed = await removeReport(paths.dir);
  } else if (await exists(paths.checkpoint)) {
    // The old checkpoint goes before the new config lands, so that no checkpoint ever sits
    // beside a config it was not written by.
    await Deno.remove(paths.checkpoint);
    await Deno.remove(paths.metrics).catch(() => {});
  }
  await writeFileAtomic(paths.config, new TextEncoder().encode(configFileText(config)));
  return removed;
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
