/**
 * `deno task bench`: time each case on each tfjs backend, and the same
 * computation in PyTorch in the same run, and collect a {@linkcode BenchReport}.
 *
 * Order: for each case, every backend in turn, then PyTorch in a fresh
 * interpreter (`bench/reference.py`, `torch.set_num_threads(threads)`),
 * so that the two sides of a ratio are measured minutes apart under the same
 * load. tfjs backends switch inside this process with `initBackend`; every
 * case disposes what it built, and the report says whether it leaked.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { type BackendName, initBackend, probeWebGPU } from "../lib/backend.ts";
import { CASE_NAMES, type CaseConfig, type CaseName, CASES, type CaseSpec } from "./cases.ts";
import { timeSteps } from "./_measure.ts";
import {
  isReferenceBlas,
  type PythonProbe,
  PythonRunner,
  type TorchCaseOptions,
  type TorchCaseResult,
} from "./_python.ts";
import { RssMeter } from "./_rss.ts";
import { canCountGpuWork, countGpuWork, type GpuWork } from "./_gpu_work.ts";
import { profileStep, torchProfile } from "./_profile.ts";
import type { TeacherCacheResult } from "./_teacher_cache_table.ts";
import {
  BENCH_SCHEMA,
  type BenchReport,
  type BenchRow,
  fmt,
  imagesPerSecond,
  type ProfileReport,
  timeRatio,
} from "./report.ts";

/** Options for {@linkcode runBench}. */
export interface BenchOptions {
  /** Cases to run, in this order. @default {CASE_NAMES} */
  cases?: readonly CaseName[];
  /**
   * tfjs backends. When omitted: wasm, cpu, and webgpu if its adapter is a
   * real GPU (a software adapter is listed as skipped, with the reason).
   * Listing webgpu runs it even on a software adapter, with 2 iterations.
   */
  backends?: readonly BackendName[];
  /** Timed iterations for every case (slow backends stay capped). @default {each case's own} */
  iters?: number;
  /** Warm-up iterations for every case. @default {each case's own} */
  warmup?: number;
  /** Tiny sizes, for smoke tests: the numbers mean nothing. @default {false} */
  quick?: boolean;
  /** Run case/backend pairs that are skipped as too slow (with 1 iteration). @default {false} */
  force?: boolean;
  /** Profile one iteration of the step cases, on each backend and in PyTorch. @default {false} */
  profile?: boolean;
  /** Run the PyTorch side when it is importable. @default {true} */
  torch?: boolean;
  /** The Python interpreter. @default {"/usr/bin/python3"} */
  python?: string;
  /**
   * A `libblas.so.3` for torch to load first (e.g. OpenBLAS), in place of
   * the system's; recorded in the report. @default {undefined}
   */
  torchBlas?: string;
  /** PyTorch's intra-op threads. @default {2} */
  threads?: number;
  /**
   * Where PyTorch runs the model cases (`step-*`, `teacher-embed`): `cuda`
   * puts them on the GPU in strict fp32; the other cases stay on the CPU.
   * @default {"cpu"}
   */
  torchDevice?: "cpu" | "cuda";
  /**
   * Also time the model cases under `torch.compile`, in a second fresh
   * process; its failure (e.g. torch < 2) becomes a note. @default {false}
   */
  torchCompile?: boolean;
  /** Seconds one PyTorch process may run before it is stopped. @default {900} */
  torchTimeoutS?: number;
  /**
   * Size overrides per case, e.g. `{ "step-r18": { batch: 256 } }`; each key
   * must be one of the case's own config keys.
   */
  sets?: Partial<Record<CaseName, CaseConfig>>;
  /** The command line, recorded in the report. @default {"deno task bench"} */
  command?: string;
  /** Progress lines. @default {console.error} */
  log?: (line: string) => void;
}

interface BackendChoice {
  name: BackendName;
  skip?: string;
  software: boolean;
}

/** The cases whose PyTorch side runs on `torchDevice` (and under torch.compile). */
const MODEL_CASES: readonly CaseName[] = ["step-cnn28", "step-r18", "teacher-embed"];

/** A case's config with the overrides of `--set case.key=value` applied; unknown keys throw. */
export function withSets(
  spec: CaseSpec,
  config: CaseConfig,
  sets: BenchOptions["sets"],
): CaseConfig {
  const extra = sets?.[spec.name];
  if (!extra) return config;
  const out = { ...config };
  for (const [key, value] of Object.entries(extra)) {
    if (!(key in config)) {
      throw new RangeError(
        `--set ${spec.name}.${key}: "${key}" is not a setting of ${spec.name}; ` +
          `its settings are ${Object.keys(config).join(", ")}`,
      );
    }
    if (typeof config[key] !== typeof value) {
      throw new RangeError(
        `--set ${spec.name}.${key}=${value}: expected a ${typeof config[key]}, ` +
          `like its default ${JSON.stringify(config[key])}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** The backends the bench knows, in the order it runs them (cheapest first). */
export const BENCH_BACKENDS: readonly BackendName[] = ["wasm", "cpu", "webgpu"];

async function chooseBackends(
  requested: readonly BackendName[] | undefined,
): Promise<{ list: BackendChoice[]; adapter: string | null; software: boolean | null }> {
  const gpu = await probeWebGPU();
  const adapter = gpu.adapter ? gpu.description : null;
  const software = gpu.adapter ? gpu.software : null;
  const names = requested ?? BENCH_BACKENDS;
  const list = names.map((name): BackendChoice => {
    if (name !== "webgpu") return { name, software: false };
    if (!gpu.adapter) return { name, software: false, skip: `no WebGPU: ${gpu.problem}` };
    if (gpu.software && !requested) {
      return {
        name,
        software: true,
        skip: `"${gpu.description}" is a software adapter (~170× slower than PyTorch); ` +
          `--backends ${BENCH_BACKENDS.join(",")} runs it with 2 iterations`,
      };
    }
    return { name, software: gpu.software };
  });
  return { list, adapter, software };
}

async function loadavg(runner: PythonRunner | undefined): Promise<number[] | null> {
  const sys = Deno.permissions.querySync?.({ name: "sys", kind: "loadavg" });
  if (sys?.state === "granted") return Deno.loadavg();
  if (!runner) return null;
  try {
    return (await runner.machine()).loadavg ?? null;
  } catch {
    return null;
  }
}

function wasmHeapBytes(): number | undefined {
  // deno-lint-ignore no-explicit-any
  const heap = (tf.backend() as any)?.wasm?.HEAPU8;
  return heap instanceof Uint8Array ? heap.buffer.byteLength : undefined;
}

function emptyRow(
  spec: CaseSpec,
  backend: string,
  status: "skipped" | "error",
  reason: string,
): BenchRow {
  return {
    case: spec.name,
    backend,
    status,
    reason,
    images: null,
    params: null,
    timing: null,
    imagesPerSec: null,
    memory: null,
    rss: null,
    loadavg: null,
    torch: null,
    ratio: null,
  };
}

/** Where the PyTorch side stands, from the interpreter's probe. */
interface TorchSide {
  runner: PythonRunner;
  probe: PythonProbe;
  /** The runner when the interpreter starts (it reads RSS and loadavg), torch or not. */
  helper: PythonRunner | undefined;
  /** Why the PyTorch side is off; `undefined` when it runs. */
  offReason: string | undefined;
  /** Where the model cases run in PyTorch. */
  device: "cpu" | "cuda";
}

/** What the steps of one {@linkcode runBench} share. */
interface BenchRun {
  options: BenchOptions;
  quick: boolean;
  threads: number;
  log: (line: string) => void;
  /** Log a line and keep it among the report's notes. */
  note: (line: string) => void;
  torch: TorchSide;
  rss: RssMeter;
  profiles: ProfileReport[];
  loadavg: () => Promise<number[] | null>;
}

/** A case's PyTorch timings: plain, and under torch.compile. */
interface TorchTimings {
  torch: TorchCaseResult | null;
  compiled: TorchCaseResult | null;
}

/**
 * Run the benchmark and return its report (nothing is written; see
 * `writeReport` in report.ts).
 *
 * @param options Cases, backends, iterations, sizes, PyTorch.
 * @returns Every row, profile and note.
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const log = options.log ?? ((line: string) => console.error(line));
  const quick = options.quick ?? false;
  const threads = options.threads ?? 2;
  const notes: string[] = [];
  const note = (line: string) => {
    notes.push(line);
    log(line);
  };
  const cases = selectCases(options.cases);
  const torch = await startTorch(options, threads, log, note);
  const gpu = await chooseBackends(options.backends);
  for (const b of gpu.list) if (b.skip) note(`${b.name} skipped: ${b.skip}`);
  const run: BenchRun = {
    options,
    quick,
    threads,
    log,
    note,
    torch,
    rss: new RssMeter(torch.helper),
    profiles: [],
    loadavg: () => loadavg(torch.helper),
  };
  const loadStart = await run.loadavg();
  const rows: BenchRow[] = [];
  const total = cases.length * gpu.list.length;
  for (const [i, spec] of cases.entries()) {
    const first = i * gpu.list.length;
    rows.push(...await runCase(run, spec, gpu.list, (j) => `[${first + j + 1}/${total}]`));
  }
  return await assembleReport(run, cases, gpu, loadStart, rows, notes);
}

/** The cases to run, in order; an unknown name throws. */
function selectCases(names: readonly CaseName[] | undefined): CaseSpec[] {
  for (const c of names ?? []) {
    if (!CASE_NAMES.includes(c)) {
      throw new RangeError(`Unknown bench case "${c}": expected one of ${CASE_NAMES.join(", ")}`);
    }
  }
  return (names ?? CASE_NAMES).map((c) => CASES[c]);
}

/** Probe the interpreter, decide whether the PyTorch side runs, and say so. */
async function startTorch(
  options: BenchOptions,
  threads: number,
  log: (line: string) => void,
  note: (line: string) => void,
): Promise<TorchSide> {
  const device = options.torchDevice ?? "cpu";
  const runner = new PythonRunner(options.python, options.torchBlas);
  const probe = await runner.probe();
  const helper = probe.ok ? runner : undefined;
  let offReason: string | undefined;
  if (options.torch === false) offReason = "disabled by --no-torch";
  else if (!probe.ok || !probe.torch) offReason = probe.reason ?? "torch is not importable";
  const side = { runner, probe, helper, offReason, device };
  if (offReason !== undefined) {
    log(`PyTorch comparison off: ${offReason}; the ratio column stays empty`);
    return side;
  }
  log(
    `PyTorch ${probe.torch} (torchvision ${probe.torchvision}) via ${runner.python}, ` +
      `${threads} threads, BLAS ${probe.blas?.join(", ") || "unknown"}` +
      (device === "cuda" ? `; model cases on CUDA (${probe.cuda ?? "no CUDA device"})` : ""),
  );
  if (device === "cuda" && !probe.cuda) {
    note("--torch-device cuda: torch sees no CUDA device; the model cases' PyTorch runs fail");
  }
  if (isReferenceBlas(probe.blas)) {
    note(
      "PyTorch uses the reference (netlib) BLAS: its matrix products (Linear layers, kNN) run " +
        "~10× slower than with OpenBLAS or MKL; --torch-blas path/to/openblas/libblas.so.3 fixes that",
    );
  }
  return side;
}

/**
 * One case: every backend in turn, its native step, then PyTorch; the rows
 * come back with the PyTorch timings and ratios filled in.
 *
 * @param tag The progress tag of the case's `j`-th backend, `[index/total]`.
 */
async function runCase(
  run: BenchRun,
  spec: CaseSpec,
  backends: readonly BackendChoice[],
  tag: (j: number) => string,
): Promise<BenchRow[]> {
  const config = withSets(spec, spec.config(run.quick), run.options.sets);
  const caseRows: BenchRow[] = [];
  for (const [j, b] of backends.entries()) {
    caseRows.push(await runOnBackend(run, spec, b, config, `${tag(j)} ${spec.name} on ${b.name}`));
  }
  if (spec.native) caseRows.push(await runNative(run, spec, spec.native, config));
  const timings = run.torch.offReason === undefined && spec.torch !== false
    ? await runTorch(run, spec, config)
    : { torch: null, compiled: null };
  attachTorch(run, spec, caseRows, timings);
  return caseRows;
}

/** One case on one tfjs backend, or its skipped row (too slow, not its backend, no adapter). */
async function runOnBackend(
  run: BenchRun,
  spec: CaseSpec,
  b: BackendChoice,
  config: CaseConfig,
  tag: string,
): Promise<BenchRow> {
  const { options } = run;
  if (b.skip) return emptyRow(spec, b.name, "skipped", b.skip);
  if (spec.backends && !spec.backends.includes(b.name)) {
    const only = `runs on ${spec.backends.join(", ")} only`;
    return emptyRow(spec, b.name, "skipped", only);
  }
  const plan = run.quick ? {} : spec.plan(b.name, b.software);
  if (plan.skip && !options.force) {
    run.note(`${spec.name} on ${b.name} skipped: ${plan.skip}`);
    return emptyRow(spec, b.name, "skipped", plan.skip);
  }
  const iters = Math.min(options.iters ?? spec.iters, plan.iters ?? Infinity);
  const warmup = Math.min(options.warmup ?? spec.warmup, plan.warmup ?? Infinity);
  const reduced = iters < (options.iters ?? spec.iters) ? plan.note ?? plan.skip : undefined;
  run.log(`${tag}: ${iters} iterations after ${warmup} warm-up${reduced ? ` (${reduced})` : ""}`);
  return await runOne(spec, b.name, config, iters, warmup, run.rss, options.profile ?? false, {
    log: run.log,
    profiles: run.profiles,
    loadavg: run.loadavg,
    note: reduced,
  });
}

/** A case's step outside tfjs (`onnxruntime-node`); tfjs (cpu) only builds the weights. */
async function runNative(
  run: BenchRun,
  spec: CaseSpec,
  native: NonNullable<CaseSpec["native"]>,
  config: CaseConfig,
): Promise<BenchRow> {
  const iters = run.options.iters ?? spec.iters, warmup = run.options.warmup ?? spec.warmup;
  run.log(`${spec.name} on ${native.backend}: ${iters} iterations after ${warmup} warm-up`);
  const nativeSpec = {
    ...spec,
    profile: false,
    setup: (c: CaseConfig) => native.setup(c, run.threads),
  };
  // tfjs (cpu) only builds the weights that are exported; the timed step is native.
  return await runOne(nativeSpec, "cpu", config, iters, warmup, run.rss, false, {
    log: run.log,
    profiles: run.profiles,
    loadavg: run.loadavg,
    label: native.backend,
  });
}

/** The case in a fresh PyTorch process, then (model cases, `torchCompile`) under torch.compile. */
async function runTorch(run: BenchRun, spec: CaseSpec, config: CaseConfig): Promise<TorchTimings> {
  const { options, log } = run;
  const { device } = run.torch;
  const onDevice = MODEL_CASES.includes(spec.name);
  const base = {
    iters: options.iters ?? spec.iters,
    warmup: options.warmup ?? spec.warmup,
    threads: run.threads,
    device: onDevice ? device : "cpu" as const,
    timeoutS: options.torchTimeoutS ?? 900,
  };
  log(`${spec.name} in PyTorch${onDevice && device === "cuda" ? " (CUDA)" : ""}…`);
  const torch = await timeTorch(run, spec, config, base);
  const compiled = options.torchCompile && onDevice
    ? await timeTorchCompiled(run, spec, config, base)
    : null;
  return { torch, compiled };
}

/** The plain PyTorch timing (and its profile); a failure becomes a note and `null`. */
async function timeTorch(
  run: BenchRun,
  spec: CaseSpec,
  config: CaseConfig,
  base: Omit<TorchCaseOptions, "profile">,
): Promise<TorchCaseResult | null> {
  try {
    const torch = await run.torch.runner.runCase(spec.name, config, {
      ...base,
      profile: (run.options.profile ?? false) && spec.profile,
    });
    run.log(
      `${spec.name} PyTorch: median ${fmt(torch.medianMs)} ms` +
        (torch.alt ? ` (${torch.alt.label}: ${fmt(torch.alt.medianMs)} ms)` : ""),
    );
    const p = torchProfile(spec.name, torch);
    if (p) run.profiles.push(p);
    return torch;
  } catch (e) {
    run.note(`${spec.name} in PyTorch failed: ${e instanceof Error ? e.message : e}`);
    return null;
  }
}

/** The torch.compile timing; a failure (e.g. torch < 2) becomes a note and `null`. */
async function timeTorchCompiled(
  run: BenchRun,
  spec: CaseSpec,
  config: CaseConfig,
  base: Omit<TorchCaseOptions, "profile">,
): Promise<TorchCaseResult | null> {
  run.log(`${spec.name} in PyTorch under torch.compile…`);
  try {
    const compiled = await run.torch.runner.runCase(spec.name, config, {
      ...base,
      profile: false,
      compile: true,
    });
    run.log(
      `${spec.name} PyTorch compiled: median ${fmt(compiled.medianMs)} ms ` +
        `(warm-up with compilation ${fmt((compiled.warmupMs ?? 0) / 1000)} s)`,
    );
    return compiled;
  } catch (e) {
    run.note(`${spec.name} under torch.compile failed: ${e instanceof Error ? e.message : e}`);
    return null;
  }
}

/** Give each of the case's rows the PyTorch timings and ratios; note parameter counts that differ. */
function attachTorch(
  run: BenchRun,
  spec: CaseSpec,
  caseRows: BenchRow[],
  { torch, compiled }: TorchTimings,
): void {
  for (const r of caseRows) {
    r.torch = torch;
    r.ratio = timeRatio(r.timing?.medianMs, torch?.medianMs);
    if (compiled) {
      r.torchCompiled = compiled;
      r.ratioCompiled = timeRatio(r.timing?.medianMs, compiled.medianMs);
    }
    if (torch && r.params != null && torch.params != null && r.params !== torch.params) {
      run.note(`${spec.name}: tfjs has ${r.params} parameters but PyTorch ${torch.params}`);
    }
  }
}

/** The report: the options as run, the machine (loadavg read again at the end), rows, notes. */
async function assembleReport(
  run: BenchRun,
  cases: readonly CaseSpec[],
  gpu: Awaited<ReturnType<typeof chooseBackends>>,
  loadStart: number[] | null,
  rows: BenchRow[],
  notes: string[],
): Promise<BenchReport> {
  const { options, torch: { probe, offReason } } = run;
  return {
    schema: BENCH_SCHEMA,
    createdAt: new Date().toISOString(),
    command: options.command ?? "deno task bench",
    options: {
      cases: cases.map((c) => c.name),
      backends: gpu.list.map((b) => b.name),
      iters: options.iters ?? null,
      warmup: options.warmup ?? null,
      quick: run.quick,
      force: options.force ?? false,
      profile: options.profile ?? false,
      threads: run.threads,
      torchDevice: run.torch.device,
      torchCompile: options.torchCompile ?? false,
      sets: options.sets ?? {},
    },
    machine: {
      cpuModel: probe.cpuModel ?? null,
      cpus: probe.cpus ?? navigator.hardwareConcurrency,
      memTotalBytes: probe.memTotalBytes ?? null,
      loadavgStart: loadStart,
      loadavgEnd: await run.loadavg(),
      deno: Deno.version.deno,
      tfjs: tf.version_core,
      python: probe.python ?? null,
      torch: probe.torch ?? null,
      torchvision: probe.torchvision ?? null,
      torchBlas: probe.blas ?? null,
      webgpuAdapter: gpu.adapter,
      wasmThreads: tf.findBackend("wasm") ? Math.max(1, getThreadsCount()) : null,
      softwareAdapter: gpu.software,
      cudaDevice: probe.cuda ?? null,
    },
    torch: offReason === undefined ? { available: true } : { available: false, reason: offReason },
    rows,
    profiles: run.profiles,
    notes,
  };
}

function logTeacherCache(
  log: (line: string) => void,
  name: string,
  backend: string,
  t: TeacherCacheResult,
): void {
  const epoch = t.spans.find((s) => s.name === "epoch")!;
  log(
    `  ${name} on ${backend}: online ${fmt(t.online.medianMs)} ms/step, cached ` +
      `${fmt(t.cached.medianMs)} ms/step (online / cached ${t.stepRatio.toFixed(2)}×, ` +
      `median of pairs ${t.pairedRatio.toFixed(2)}×); ` +
      `cache build ${fmt(t.build.ms / 1000)} s for ${t.build.images} images` +
      (t.mineMs === null ? "" : `, mining ${fmt(t.mineMs / 1000)} s`) +
      `; epoch of ${epoch.steps} steps: online ${fmt(epoch.onlineS)} s, cached ` +
      `${fmt(epoch.cachedS)} s (+ build: ${epoch.ratioWithBuild.toFixed(2)}×)`,
  );
}

interface RunContext {
  log: (line: string) => void;
  profiles: ProfileReport[];
  loadavg: () => Promise<number[] | null>;
  note?: string;
  /** The row's backend when the step runs outside tfjs (`onnxruntime-node`). */
  label?: string;
}

/**
 * One case on one backend: start the backend, build the case, time its
 * steps, count and profile one more, and return its row (or an error row).
 */
async function runOne(
  spec: CaseSpec,
  backend: BackendName,
  config: Record<string, number | string>,
  iters: number,
  warmup: number,
  rss: RssMeter,
  profile: boolean,
  ctx: RunContext,
): Promise<BenchRow> {
  try {
    await initBackend({ backend, log: false });
  } catch (e) {
    const reason = `backend failed to start: ${e instanceof Error ? e.message : e}`;
    ctx.log(`${spec.name} on ${backend}: ${reason}`);
    return emptyRow(spec, backend, "error", reason);
  }
  const tfjsBackend = backend;
  backend = (ctx.label ?? backend) as BackendName;
  const load = await ctx.loadavg();
  const before = tf.memory().numTensors;
  await rss.start();
  let inst;
  try {
    inst = await spec.setup(config);
  } catch (e) {
    await rss.stop();
    return emptyRow(spec, backend, "error", `setup failed: ${e instanceof Error ? e.message : e}`);
  }
  const slow = (ms: number) => ms > 5000;
  try {
    const timing = await timeSteps(inst.step, iters, warmup, (i, ms) => {
      rss.sample();
      if (slow(ms)) {
        ctx.log(`  ${spec.name} on ${backend}: iteration ${i + 1}/${iters} ${fmt(ms)} ms`);
      }
    });
    const mem = tf.memory();
    const heap = tfjsBackend === "wasm" && !ctx.label ? wasmHeapBytes() : undefined;
    const gpuWork = tfjsBackend === "webgpu" && !ctx.label && canCountGpuWork()
      ? await countWork(spec, inst.step, profile, ctx.log)
      : undefined;
    if (profile && spec.profile) await profileOne(spec, backend, inst.step, gpuWork, ctx);
    const { images, params } = inst;
    const teacherCache = inst.teacherCache?.(timing.warmup);
    const webgpuGrads = inst.webgpuGrads?.(timing.warmup);
    inst.dispose();
    inst = undefined;
    const window = await rss.stop();
    const row: BenchRow = {
      case: spec.name,
      backend,
      status: "ok",
      note: ctx.note,
      images,
      params: params ?? null,
      timing,
      imagesPerSec: imagesPerSecond(images, timing.medianMs),
      memory: {
        numBytes: mem.numBytes,
        numTensors: mem.numTensors,
        leakedTensors: tf.memory().numTensors - before,
        ...(heap !== undefined ? { wasmHeapBytes: heap } : {}),
      },
      rss: window,
      loadavg: load,
      torch: null,
      ratio: null,
      ...(teacherCache ? { teacherCache } : {}),
      ...(webgpuGrads ? { webgpuGrads } : {}),
      ...(gpuWork ? { gpuWork } : {}),
    };
    if (teacherCache) logTeacherCache(ctx.log, spec.name, backend, teacherCache);
    logRow(ctx.log, row, mem);
    return row;
  } catch (e) {
    await rss.stop();
    const reason = `failed: ${e instanceof Error ? e.message : e}`;
    ctx.log(`${spec.name} on ${backend}: ${reason}`);
    return emptyRow(spec, backend, "error", reason);
  } finally {
    inst?.dispose();
  }
}

/**
 * One more step on webgpu, counted (the counts are the same on every step
 * once buffers are reused), and logged.
 */
async function countWork(
  spec: CaseSpec,
  step: () => Promise<void>,
  profile: boolean,
  log: (line: string) => void,
): Promise<GpuWork> {
  const gpuWork = (await countGpuWork(step, { byKernel: profile && spec.profile })).work;
  log(
    `  ${spec.name} on webgpu, per iteration: ${gpuWork.dispatches} dispatches, ` +
      `${gpuWork.buffersCreated} new buffers, ${gpuWork.uploads} uploads, ` +
      `${gpuWork.uniformWrites} uniform writes, ${gpuWork.readbacks} readbacks, ` +
      `${gpuWork.submits} submits`,
  );
  return gpuWork;
}

/** Profile one step into `ctx.profiles`, with the kernels' dispatch counts when there are some. */
async function profileOne(
  spec: CaseSpec,
  backend: string,
  step: () => Promise<void>,
  gpuWork: GpuWork | undefined,
  ctx: RunContext,
): Promise<void> {
  const p = await profileStep(spec.name, backend, step);
  if (gpuWork?.byKernel) {
    const byName = new Map(gpuWork.byKernel.map((k) => [k.name, k.dispatches]));
    for (const k of p.kernels) k.dispatches = byName.get(k.name) ?? 0;
  }
  ctx.profiles.push(p);
  ctx.log(
    `  profile: ${p.kernels.slice(0, 3).map((k) => `${k.name} ${fmt(k.ms)} ms`).join(", ")}`,
  );
}

/** The progress line of a row that ran. */
function logRow(log: (line: string) => void, row: BenchRow, mem: tf.MemoryInfo): void {
  const { timing, rss } = row;
  log(
    `  ${row.case} on ${row.backend}: median ${fmt(timing!.medianMs)} ms ` +
      `(${fmt(timing!.minMs)}–${fmt(timing!.maxMs)}), ${fmt(row.imagesPerSec)} img/s, ` +
      `tf.memory ${fmt(mem.numBytes / 2 ** 20)} MiB / ${mem.numTensors} tensors, ` +
      `leaked ${row.memory!.leakedTensors}, peak RSS ${fmt(rss!.peakBytes / 2 ** 20)} MiB`,
  );
}
