/**
 * The bench's link to Python: `bench/reference.py` runs the PyTorch
 * side of each case, describes the machine, and reads this process's peak
 * RSS (Deno refuses `/proc` without `--allow-all`, while the bench is
 * allowed to run the interpreter).
 *
 * @module
 */
import type { Timing } from "./_measure.ts";

/** The interpreter the bench runs: Debian's, which sees Debian's torch. */
export const DEFAULT_PYTHON = "/usr/bin/python3";

/** The PyTorch reference script, beside this module (in the GPU bundle, beside coss.js). */
export const BENCH_SCRIPT: string = decodeURIComponent(
  new URL("./reference.py", import.meta.url).pathname,
);

/** What `bench.py --probe` reports, or why it could not. */
export interface PythonProbe {
  /** The interpreter ran the script. */
  ok: boolean;
  /** Why not, or why torch is missing. */
  reason?: string;
  python?: string;
  torch?: string | null;
  torchvision?: string | null;
  cpuModel?: string | null;
  cpus?: number;
  memTotalBytes?: number | null;
  loadavg?: number[];
  /** The BLAS libraries torch has mapped (the reference BLAS makes its matrix products slow). */
  blas?: string[];
  /** The CUDA device torch sees, or null. */
  cuda?: string | null;
}

/** Whether torch runs on the reference (netlib) BLAS, judging by the mapped libraries. */
export function isReferenceBlas(blas: readonly string[] | undefined): boolean {
  return (blas ?? []).some((p) => /\/blas\/libblas\.so/.test(p));
}

/** One PyTorch case result, as `bench.py --case` prints it. */
export interface TorchCaseResult extends Timing {
  case: string;
  /** Images (or queries) per iteration. */
  images: number;
  /** Trainable parameters (model cases). */
  params: number | null;
  detail: string;
  threads: number;
  torch: string;
  /** Peak RSS (VmHWM) of the fresh process that ran only this case. */
  peakRssBytes: number;
  /** VmRSS after `import torch`, before the case was built. */
  startRssBytes: number | null;
  loadavg: number[];
  /** A second PyTorch variant of the same work, reported alongside. */
  alt?: { label: string; medianMs: number; samplesMs: number[] };
  profileTotalMs?: number;
  profile?: { name: string; ms: number; count: number }[];
  /** The BLAS libraries torch had mapped. */
  blas?: string[];
  /** Where the case ran. */
  device?: "cpu" | "cuda";
  /** Whether it ran under torch.compile. */
  compiled?: boolean;
  /** Wall time of the warm-up iterations (with torch.compile: the compilation). */
  warmupMs?: number;
  /** CUDA only: the device's name, CUDA's version and the peak of allocated GPU memory. */
  gpu?: string;
  cuda?: string;
  gpuPeakBytes?: number;
}

/** How {@linkcode PythonRunner.runCase} runs one case. */
export interface TorchCaseOptions {
  iters: number;
  warmup: number;
  threads: number;
  profile: boolean;
  /** Where the model cases run. @default {"cpu"} */
  device?: "cpu" | "cuda";
  /** Time the case under torch.compile. @default {false} */
  compile?: boolean;
  /** Stop the interpreter after this many seconds. @default {no limit} */
  timeoutS?: number;
}

/** Runs `bench.py` with one interpreter. */
export class PythonRunner {
  /**
   * @param python The interpreter.
   * @param blas A `libblas.so.3` that `bench.py --blas` loads before torch, or undefined.
   * @param script The reference script.
   */
  constructor(
    readonly python: string = DEFAULT_PYTHON,
    readonly blas?: string,
    readonly script: string = BENCH_SCRIPT,
  ) {}

  #blasArgs(): string[] {
    return this.blas ? ["--blas", this.blas] : [];
  }

  /**
   * Run the script with `args`; its stdout parsed as JSON, or an Error saying
   * why not (including a run stopped after `timeoutS` seconds).
   */
  async json<T>(args: string[], timeoutS?: number): Promise<T> {
    let out: Deno.CommandOutput;
    const signal = timeoutS ? AbortSignal.timeout(timeoutS * 1000) : undefined;
    try {
      out = await new Deno.Command(this.python, {
        args: [this.script, ...args],
        stdout: "piped",
        stderr: "piped",
        signal,
      }).output();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const fix = /LD_LIBRARY_PATH|LD_PRELOAD/.test(why)
        ? " (Deno spawns a process that inherits LD_LIBRARY_PATH only under an unscoped " +
          "--allow-run: unset it for the bench, or run tasks/bench.ts with --allow-run)"
        : "";
      throw new Error(`cannot run ${this.python}: ${why}${fix}`);
    }
    const stdout = new TextDecoder().decode(out.stdout).trim();
    if (signal?.aborted) {
      throw new Error(`${this.python} ${args.slice(0, 2).join(" ")} stopped after ${timeoutS} s`);
    }
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
      throw new Error(`${this.python} ${args.slice(0, 2).join(" ")} exited ${out.code}: ${err}`);
    }
    try {
      return JSON.parse(stdout.split("\n").pop() ?? "") as T;
    } catch {
      throw new Error(`${this.python} ${args[0]} printed no JSON: ${stdout.slice(0, 200)}`);
    }
  }

  /** Versions and machine facts; `ok: false` with the reason when the script cannot run. */
  async probe(): Promise<PythonProbe> {
    try {
      const p = await this.json<Omit<PythonProbe, "ok"> & { torchError?: string }>([
        "--probe",
        ...this.#blasArgs(),
      ]);
      const reason = p.torch
        ? undefined
        : `torch is not importable by ${this.python}: ${p.torchError}`;
      return { ok: true, reason, ...p };
    } catch (e) {
      return { ok: false, reason: e instanceof Error ? e.message : String(e) };
    }
  }

  /** CPU model, cores, memory and load average, without importing torch. */
  machine(): Promise<Omit<PythonProbe, "ok" | "torch" | "torchvision">> {
    return this.json(["--machine"]);
  }

  /** Peak RSS (VmHWM) and current RSS of process `pid`; `reset` first restarts the peak. */
  rss(pid: number, reset: boolean): Promise<{ peakBytes: number; rssBytes: number }> {
    return this.json(["--rss", String(pid), ...(reset ? ["--reset"] : [])]);
  }

  /** Run one case in a fresh interpreter. */
  runCase(
    name: string,
    config: Record<string, unknown>,
    o: TorchCaseOptions,
  ): Promise<TorchCaseResult> {
    return this.json([
      "--case",
      name,
      "--config",
      JSON.stringify(config),
      "--iters",
      String(o.iters),
      "--warmup",
      String(o.warmup),
      "--threads",
      String(o.threads),
      ...(o.profile ? ["--profile"] : []),
      ...(o.device && o.device !== "cpu" ? ["--device", o.device] : []),
      ...(o.compile ? ["--compile"] : []),
      ...this.#blasArgs(),
    ], o.timeoutS);
  }
}
