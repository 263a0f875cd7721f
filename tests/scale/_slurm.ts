/**
 * Submitting real Slurm jobs from a test and waiting for them: `sbatch
 * --parsable` from the repository root, `scontrol show job` until every task
 * has ended (no accounting database, so no sacct: the controller keeps
 * finished jobs for `MinJobAge`), each task's state, exit code and output.
 * A job that fails, or does not end in time, is an error naming it, its
 * state and the end of its output; the jobs still queued are cancelled.
 */
import { ROOT, runCommand } from "../_cli.ts";

/** One task of a job (one record per array task) as `scontrol show job` reports it. */
export interface SlurmTask {
  /** The task's own job id. */
  jobId: string;
  /** The array task id, or undefined for a job that is not an array. */
  arrayTaskId?: string;
  /** `--job-name`, e.g. `coss-embed`. */
  name: string;
  /** E.g. `COMPLETED`, `FAILED`, `CANCELLED`, `PENDING`. */
  state: string;
  /** Why it waits or ended so, e.g. `Dependency`, `NonZeroExitCode`. */
  reason: string;
  /** `exit:signal`, e.g. `0:0`. */
  exitCode: string;
  /** The output file, as Slurm expanded `--output`. */
  stdout: string;
}

/** Options of {@linkcode SlurmJobs.submit}. */
export interface SubmitOptions {
  /** Arguments after the script, passed on to it. @default [] */
  args?: string[];
  /** `--array`, e.g. `0-2`. @default undefined (one task) */
  array?: string;
  /** Job ids the job starts after, once all of their tasks succeeded (`afterok`). @default [] */
  after?: string[];
  /** Variables set for the job (sbatch exports the submitter's environment). @default {} */
  env?: Record<string, string>;
}

/** Options of {@linkcode SlurmJobs.wait}. */
export interface WaitOptions {
  /** Give up (and cancel the jobs) after this many seconds. @default 900 */
  timeoutSeconds?: number;
}

/** Scheduler states a task does not leave. */
const ENDED = new Set([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "PREEMPTED",
  "BOOT_FAIL",
  "DEADLINE",
  "OUT_OF_MEMORY",
]);

/** `Key=value` fields of one `scontrol show job --oneliner` line. */
function fields(line: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of line.trim().split(/ (?=[A-Za-z][\w:/]*=)/)) {
    const i = part.indexOf("=");
    if (i > 0) out.set(part.slice(0, i), part.slice(i + 1));
  }
  return out;
}

/** The last `lines` lines of a file, or why it cannot be read. */
async function tail(path: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch (e) {
    return `(no output: ${(e as Error).message})`;
  }
}

/**
 * The jobs one test submits, with their output files in `logDir`; {@linkcode
 * SlurmJobs.cancel} in a `finally` cancels whatever is still queued.
 */
export class SlurmJobs {
  /** Where the jobs' output goes (absolute; created on the first submit). */
  readonly logDir: string;
  readonly #open = new Set<string>();

  /** Jobs whose output goes to `logDir` (absolute). */
  constructor(logDir: string) {
    this.logDir = logDir;
  }

  /**
   * `sbatch --parsable` a script (path from the repository root) from the
   * root, with its output in `logDir`; the job id. `--array` and the
   * dependency override the script's `#SBATCH` lines, as do one CPU and
   * 2 GB a task, so that the scripts' cluster-sized requests fit one node.
   */
  async submit(script: string, options: SubmitOptions = {}): Promise<string> {
    await Deno.mkdir(this.logDir, { recursive: true });
    const pattern = options.array === undefined ? "%x-%j.out" : "%x-%A_%a.out";
    const args = [
      "--parsable",
      `--chdir=${ROOT}`,
      `--output=${this.logDir}/${pattern}`,
      "--cpus-per-task=1",
      "--mem=2G",
      ...(options.array === undefined ? [] : [`--array=${options.array}`]),
      ...(options.after?.length ? [`--dependency=afterok:${options.after.join(":")}`] : []),
      script,
      ...(options.args ?? []),
    ];
    const r = await runCommand("sbatch", args, options.env ?? {});
    const id = r.out.trim().split(";")[0];
    if (r.code !== 0 || !/^\d+$/.test(id)) {
      throw new Error(`sbatch ${script} failed (exit ${r.code}): ${r.err.trim() || r.out.trim()}`);
    }
    this.#open.add(id);
    return id;
  }

  /** Every task of job `id` as the controller reports it now. */
  async tasks(id: string): Promise<SlurmTask[]> {
    const r = await runCommand("scontrol", ["show", "job", "--oneliner", id]);
    if (r.code !== 0) {
      throw new Error(`scontrol show job ${id} failed (exit ${r.code}): ${r.err.trim()}`);
    }
    return r.out.split("\n").filter((l) => l.startsWith("JobId=")).map((line) => {
      const f = fields(line);
      const arrayTaskId = f.has("ArrayJobId") ? f.get("ArrayTaskId") : undefined;
      return {
        jobId: f.get("JobId") ?? "?",
        arrayTaskId,
        name: f.get("JobName") ?? "?",
        state: f.get("JobState") ?? "?",
        reason: f.get("Reason") ?? "?",
        exitCode: f.get("ExitCode") ?? "?",
        stdout: f.get("StdOut") ?? "?",
      };
    });
  }

  /**
   * Wait until every task of job `id` has ended, polling once a second; its
   * tasks, all COMPLETED with exit 0. Anything else throws, naming each task
   * that did not succeed with the end of its output, after cancelling the
   * jobs still queued (a failed stage's dependants would never start).
   */
  async wait(id: string, options: WaitOptions = {}): Promise<SlurmTask[]> {
    const timeout = options.timeoutSeconds ?? 900;
    const t0 = performance.now();
    for (;;) {
      const tasks = await this.tasks(id);
      // A dependency that can never be met leaves a job pending where the cluster does not
      // cancel it (DependencyParameters=kill_invalid_depend): it has ended all the same.
      const ended = (t: SlurmTask) => ENDED.has(t.state) || t.reason === "DependencyNeverSatisfied";
      if (tasks.length > 0 && tasks.every(ended)) {
        this.#open.delete(id);
        const bad = tasks.filter((t) => t.state !== "COMPLETED" || t.exitCode !== "0:0");
        if (bad.length === 0) return tasks;
        await this.cancel();
        const why = await Promise.all(bad.map(async (t) => {
          const task = t.arrayTaskId === undefined ? "" : ` task ${t.arrayTaskId}`;
          return `${t.name} (job ${id}${task}): ${t.state} (${t.reason}), exit ${t.exitCode}; ` +
            `"${t.stdout}" ends:\n${await tail(t.stdout)}`;
        }));
        throw new Error(why.join("\n"));
      }
      const seconds = (performance.now() - t0) / 1000;
      if (seconds > timeout) {
        const q = await runCommand("squeue", ["--noheader", "--jobs", id, "--format=%i %T %r"]);
        await this.cancel();
        throw new Error(
          `Slurm job ${id} (${tasks[0]?.name ?? "?"}) has not ended after ${timeout} s; ` +
            `squeue: ${q.out.trim().replaceAll("\n", "; ") || q.err.trim()}; cancelled`,
        );
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** `scancel` every job submitted here that {@linkcode SlurmJobs.wait} has not seen end. */
  async cancel(): Promise<void> {
    if (this.#open.size === 0) return;
    await runCommand("scancel", [...this.#open]);
    this.#open.clear();
  }
}

/** The text of each task's output file, in task order. */
export function outputs(tasks: readonly SlurmTask[]): Promise<string[]> {
  const sorted = tasks.toSorted((a, b) => Number(a.arrayTaskId ?? 0) - Number(b.arrayTaskId ?? 0));
  return Promise.all(sorted.map((t) => Deno.readTextFile(t.stdout)));
}
