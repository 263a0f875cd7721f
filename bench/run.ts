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
import { isReferenceBlas, PythonRunner, type TorchCaseResult } from "./_python.ts";
import { RssMeter } from "./_rss.ts";
import { canCountGpuWork, countGpuWork } from "./_gpu_work.ts";
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

async function chooseBackends(
  requested: readonly BackendName[] | undefined,
): Promise<{ list: BackendChoice[]; adapter: string | null; software: boolean | null }> {
  const gpu = await probeWebGPU();
  const adapter = gpu.adapter ? gpu.description : null;
  const software = gpu.adapter ? gpu.software : null;
  const names = requested ?? ["wasm", "cpu", "webgpu"];
  const list = names.map((name): BackendChoice => {
    if (name !== "webgpu") return { name, software: false };
    if (!gpu.adapter) return { name, software: false, skip: `no WebGPU: ${gpu.problem}` };
    if (gpu.software && !requested) {
      return {
        name,
        software: true,
        skip: `"${gpu.description}" is a software adapter (~170× slower than PyTorch); ` +
          "--backends wasm,cpu,webgpu runs it with 2 iterations",
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
  for (const c of options.cases ?? []) {
    if (!CASE_NAMES.includes(c)) {
      throw new RangeError(`Unknown bench case "${c}": expected one of ${CASE_NAMES.join(", ")}`);
    }
  }
  const cases = (options.cases ?? CASE_NAMES).map((c) => CASES[c]);
  const device = options.torchDevice ?? "cpu";
  const configOf = (spec: CaseSpec) => withSets(spec, spec.config(quick), options.sets);

  const runner = new PythonRunner(options.python, options.torchBlas);
  const probe = await runner.probe();
  const helper = probe.ok ? runner : undefined;
  let torchReason: string | undefined;
  if (options.torch === false) torchReason = "disabled by --no-torch";
  else if (!probe.ok || !probe.torch) torchReason = probe.reason ?? "torch is not importable";
  const torchOn = torchReason === undefined;
  if (!torchOn) log(`PyTorch comparison off: ${torchReason}; the ratio column stays empty`);
  else {
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
  }

  const { list: backends, adapter, software } = await chooseBackends(options.backends);
  for (const b of backends) if (b.skip) note(`${b.name} skipped: ${b.skip}`);
  const rss = new RssMeter(helper);
  const loadStart = await loadavg(helper);
  const rows: BenchRow[] = [];
  const profiles: ProfileReport[] = [];
  const total = cases.length * backends.length;
  let index = 0;

  for (const spec of cases) {
    const config = configOf(spec);
    const caseRows: BenchRow[] = [];
    for (const b of backends) {
      index++;
      const tag = `[${index}/${total}] ${spec.name} on ${b.name}`;
      if (b.skip) {
        caseRows.push(emptyRow(spec, b.name, "skipped", b.skip));
        continue;
      }
      if (spec.backends && !spec.backends.includes(b.name)) {
        const only = `runs on ${spec.backends.join(", ")} only`;
        caseRows.push(emptyRow(spec, b.name, "skipped", only));
        continue;
      }
      const plan = quick ? {} : spec.plan(b.name, b.software);
      if (plan.skip && !options.force) {
        note(`${spec.name} on ${b.name} skipped: ${plan.skip}`);
        caseRows.push(emptyRow(spec, b.name, "skipped", plan.skip));
        continue;
      }
      const iters = Math.min(options.iters ?? spec.iters, plan.iters ?? Infinity);
      const warmup = Math.min(options.warmup ?? spec.warmup, plan.warmup ?? Infinity);
      const reduced = iters < (options.iters ?? spec.iters) ? plan.note ?? plan.skip : undefined;
      log(`${tag}: ${iters} iterations after ${warmup} warm-up${reduced ? ` (${reduced})` : ""}`);
      caseRows.push(
        await runOne(spec, b.name, config, iters, warmup, rss, options.profile ?? false, {
          log,
          profiles,
          loadavg: () => loadavg(helper),
          note: reduced,
        }),
      );
    }
    if (spec.native) {
      const native = spec.native;
      const iters = options.iters ?? spec.iters, warmup = options.warmup ?? spec.warmup;
      log(`${spec.name} on ${native.backend}: ${iters} iterations after ${warmup} warm-up`);
      const nativeSpec = {
        ...spec,
        profile: false,
        setup: (c: CaseConfig) => native.setup(c, threads),
      };
      // tfjs (cpu) only builds the weights that are exported; the timed step is native.
      caseRows.push(
        await runOne(nativeSpec, "cpu", config, iters, warmup, rss, false, {
          log,
          profiles,
          loadavg: () => loadavg(helper),
          label: native.backend,
        }),
      );
    }
    let torch: TorchCaseResult | null = null;
    let compiled: TorchCaseResult | null = null;
    if (torchOn && spec.torch !== false) {
      const onDevice = MODEL_CASES.includes(spec.name);
      const base = {
        iters: options.iters ?? spec.iters,
        warmup: options.warmup ?? spec.warmup,
        threads,
        device: onDevice ? device : "cpu" as const,
        timeoutS: options.torchTimeoutS ?? 900,
      };
      log(`${spec.name} in PyTorch${onDevice && device === "cuda" ? " (CUDA)" : ""}…`);
      try {
        torch = await runner.runCase(spec.name, config, {
          ...base,
          profile: (options.profile ?? false) && spec.profile,
        });
        log(
          `${spec.name} PyTorch: median ${fmt(torch.medianMs)} ms` +
            (torch.alt ? ` (${torch.alt.label}: ${fmt(torch.alt.medianMs)} ms)` : ""),
        );
        const p = torchProfile(spec.name, torch);
        if (p) profiles.push(p);
      } catch (e) {
        note(`${spec.name} in PyTorch failed: ${e instanceof Error ? e.message : e}`);
      }
      if (options.torchCompile && onDevice) {
        log(`${spec.name} in PyTorch under torch.compile…`);
        try {
          compiled = await runner.runCase(spec.name, config, {
            ...base,
            profile: false,
            compile: true,
          });
          log(
            `${spec.name} PyTorch compiled: median ${fmt(compiled.medianMs)} ms ` +
              `(warm-up with compilation ${fmt((compiled.warmupMs ?? 0) / 1000)} s)`,
          );
        } catch (e) {
          note(`${spec.name} under torch.compile failed: ${e instanceof Error ? e.message : e}`);
        }
      }
    }
    for (const r of caseRows) {
      r.torch = torch;
      r.ratio = timeRatio(r.timing?.medianMs, torch?.medianMs);
      if (compiled) {
        r.torchCompiled = compiled;
        r.ratioCompiled = timeRatio(r.timing?.medianMs, compiled.medianMs);
      }
      if (torch && r.params != null && torch.params != null && r.params !== torch.params) {
        note(`${spec.name}: tfjs has ${r.params} parameters but PyTorch ${torch.params}`);
      }
    }
    rows.push(...caseRows);
  }

  return {
    schema: BENCH_SCHEMA,
    createdAt: new Date().toISOString(),
    command: options.command ?? "deno task bench",
    options: {
      cases: cases.map((c) => c.name),
      backends: backends.map((b) => b.name),
      iters: options.iters ?? null,
      warmup: options.warmup ?? null,
      quick,
      force: options.force ?? false,
      profile: options.profile ?? false,
      threads,
      torchDevice: device,
      torchCompile: options.torchCompile ?? false,
      sets: options.sets ?? {},
    },
    machine: {
      cpuModel: probe.cpuModel ?? null,
      cpus: probe.cpus ?? navigator.hardwareConcurrency,
      memTotalBytes: probe.memTotalBytes ?? null,
      loadavgStart: loadStart,
      loadavgEnd: await loadavg(helper),
      deno: Deno.version.deno,
      tfjs: tf.version_core,
      python: probe.python ?? null,
      torch: probe.torch ?? null,
      torchvision: probe.torchvision ?? null,
      torchBlas: probe.blas ?? null,
      webgpuAdapter: adapter,
      wasmThreads: tf.findBackend("wasm") ? Math.max(1, getThreadsCount()) : null,
      softwareAdapter: software,
      cudaDevice: probe.cuda ?? null,
    },
    torch: torchOn ? { available: true } : { available: false, reason: torchReason },
    rows,
    profiles,
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
    // One more step, counted: the counts are the same on every step once buffers are reused.
    const gpuWork = tfjsBackend === "webgpu" && !ctx.label && canCountGpuWork()
      ? (await countGpuWork(inst.step, { byKernel: profile && spec.profile })).work
      : undefined;
    if (gpuWork) {
      ctx.log(
        `  ${spec.name} on webgpu, per iteration: ${gpuWork.dispatches} dispatches, ` +
          `${gpuWork.buffersCreated} new buffers, ${gpuWork.uploads} uploads, ` +
          `${gpuWork.uniformWrites} uniform writes, ${gpuWork.readbacks} readbacks, ` +
          `${gpuWork.submits} submits`,
      );
    }
    if (profile && spec.profile) {
      const p = await profileStep(spec.name, backend, inst.step);
      if (gpuWork?.byKernel) {
        const byName = new Map(gpuWork.byKernel.map((k) => [k.name, k.dispatches]));
        for (const k of p.kernels) k.dispatches = byName.get(k.name) ?? 0;
      }
      ctx.profiles.push(p);
      ctx.log(
        `  profile: ${p.kernels.slice(0, 3).map((k) => `${k.name} ${fmt(k.ms)} ms`).join(", ")}`,
      );
    }
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
    ctx.log(
      `  ${spec.name} on ${backend}: median ${fmt(timing.medianMs)} ms ` +
        `(${fmt(timing.minMs)}–${fmt(timing.maxMs)}), ${fmt(row.imagesPerSec)} img/s, ` +
        `tf.memory ${fmt(mem.numBytes / 2 ** 20)} MiB / ${mem.numTensors} tensors, ` +
        `leaked ${row.memory!.leakedTensors}, peak RSS ${fmt(window.peakBytes / 2 ** 20)} MiB`,
    );
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
