/**
 * The bench's results: the JSON schema of `bench/results.json`, the
 * tfjs/PyTorch ratio, and the Markdown table of `bench/results.md`.
 *
 * Ratios are always of median times, `tfjs ms / PyTorch ms`: above 1 tfjs is
 * slower, whether the table shows the case as time or as images/s. The
 * `teacher-cache` case has no PyTorch side: it gets tables of its own, whose
 * ratios are online / cached (`_teacher_cache_table.ts`).
 *
 * @module
 */
import type { BenchRow, MemoryReading } from "./_types.ts";
import { cell, fmt, mib, rssCell } from "./_format.ts";
import { formatWebGPUGrads, WEBGPU_GRADS_CASE } from "./_webgpu_grads.ts";
import { formatTeacherCache, TEACHER_CACHE_CASE } from "./_teacher_cache_table.ts";

export type { BenchRow, MemoryReading };

export { fmt };

/** The `schema` field of every report this module writes. */
export const BENCH_SCHEMA = "coss-bench/1";

/** Where one iteration's time went, by kernel (tfjs) or operator (PyTorch). */
export interface ProfileReport {
  case: string;
  /** A tfjs backend, or `"pytorch"`. */
  backend: string;
  /** Sum over every kernel. */
  totalMs: number;
  /** Wall time of the profiled iteration (tfjs; includes bookkeeping outside kernels). */
  wallMs: number | null;
  /** The kernels, by total time, largest first; `dispatches` on webgpu (GPU programs run). */
  kernels: { name: string; ms: number; count: number; dispatches?: number }[];
}

/** The whole of `bench/results.json`. */
export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  /** The command line, for the record. */
  command: string;
  options: {
    cases: string[];
    backends: string[];
    iters: number | null;
    warmup: number | null;
    quick: boolean;
    force: boolean;
    profile: boolean;
    threads: number;
    /** Where PyTorch ran the model cases. */
    torchDevice?: "cpu" | "cuda";
    /** Whether the model cases were also timed under torch.compile. */
    torchCompile?: boolean;
    /** `--set` overrides of the cases' sizes. */
    sets?: Record<string, Record<string, number | string>>;
  };
  machine: {
    cpuModel: string | null;
    cpus: number;
    memTotalBytes: number | null;
    loadavgStart: number[] | null;
    loadavgEnd: number[] | null;
    deno: string;
    tfjs: string;
    python: string | null;
    torch: string | null;
    torchvision: string | null;
    /** The BLAS libraries torch had mapped. */
    torchBlas: string[] | null;
    webgpuAdapter: string | null;
    softwareAdapter: boolean | null;
    /** Threads of the wasm backend (1: the single-threaded build); null when wasm did not run. */
    wasmThreads: number | null;
    /** The CUDA device torch saw, or null. */
    cudaDevice?: string | null;
  };
  /** Whether the PyTorch side ran; `reason` says why not. */
  torch: { available: boolean; reason?: string };
  rows: BenchRow[];
  profiles: ProfileReport[];
  /** One line per skipped backend or other caveat, as printed. */
  notes: string[];
}

/**
 * `tfjsMs / torchMs`, or null when either is missing or not positive.
 *
 * @example
 * ```ts
 * import { timeRatio } from "./report.ts";
 * console.log(timeRatio(300, 200), timeRatio(300, null)); // 1.5 null
 * ```
 */
export function timeRatio(
  tfjsMs: number | null | undefined,
  torchMs: number | null | undefined,
): number | null {
  if (tfjsMs == null || torchMs == null || !(tfjsMs > 0) || !(torchMs > 0)) return null;
  return tfjsMs / torchMs;
}

/** `images / (ms / 1000)`, or null. */
export function imagesPerSecond(
  images: number | null,
  ms: number | null | undefined,
): number | null {
  return images && ms && ms > 0 ? images / (ms / 1000) : null;
}

/** A skip or error reason up to its first ";", for the table (the notes keep it whole). */
function shortReason(reason: string | undefined): string {
  return (reason ?? "").split(";")[0];
}

/** The table's header row, so that tests and readers agree on the columns. */
export const TABLE_COLUMNS: readonly string[] = [
  "case",
  "backend",
  "iters (warm-up)",
  "tfjs median ms",
  "tfjs img/s",
  "PyTorch median ms",
  "PyTorch img/s",
  "tfjs / PyTorch",
  "tf.memory MiB / tensors",
  "leaked",
  "peak RSS MiB (start), tfjs",
  "peak RSS MiB (start), PyTorch",
  "load",
];

/** One row of the Markdown table. */
export function tableRow(r: BenchRow): string {
  const torch = r.torch;
  const cells = r.status === "ok" && r.timing
    ? [
      r.case,
      r.backend,
      `${r.timing.iters} (${r.timing.warmup})`,
      fmt(r.timing.medianMs),
      fmt(r.imagesPerSec),
      fmt(torch?.medianMs),
      fmt(imagesPerSecond(torch?.images ?? null, torch?.medianMs)),
      r.ratio == null ? "" : `${r.ratio.toFixed(2)}×`,
      r.memory ? `${mib(r.memory.numBytes)} / ${r.memory.numTensors}` : "",
      r.memory ? String(r.memory.leakedTensors) : "",
      rssCell(r.rss?.peakBytes, r.rss?.startBytes) +
      (r.rss?.method === "sampled" ? " sampled" : ""),
      rssCell(torch?.peakRssBytes, torch?.startRssBytes),
      r.loadavg ? r.loadavg[0].toFixed(2) : "",
    ]
    : [
      r.case,
      r.backend,
      r.status,
      shortReason(r.reason),
      "",
      fmt(torch?.medianMs),
      fmt(imagesPerSecond(torch?.images ?? null, torch?.medianMs)),
      "",
      "",
      "",
      "",
      rssCell(torch?.peakRssBytes, torch?.startRssBytes),
      "",
    ];
  return `| ${cells.map(cell).join(" | ")} |`;
}

/**
 * The results table in Markdown: one row per case and backend.
 *
 * @example
 * ```ts
 * import { formatTable } from "./report.ts";
 * console.log(formatTable([]).split("\n").length); // 2: the header and the rule
 * ```
 */
export function formatTable(rows: readonly BenchRow[]): string {
  const head = `| ${TABLE_COLUMNS.join(" | ")} |`;
  const rule = `|${TABLE_COLUMNS.map((_, i) => (i >= 2 ? "---:" : "---")).join("|")}|`;
  return [head, rule, ...rows.map(tableRow)].join("\n");
}

/**
 * Every table of a run: the main one (tfjs against PyTorch) for the cases
 * that have a PyTorch counterpart, then the `teacher-cache` tables.
 *
 * @example
 * ```ts
 * import { formatTables } from "./report.ts";
 * console.log(formatTables([])); // "": no rows, no tables
 * ```
 */
export function formatTables(rows: readonly BenchRow[]): string {
  const main = rows.filter((r) => r.case !== TEACHER_CACHE_CASE && r.case !== WEBGPU_GRADS_CASE);
  // The A/B runs on WebGPU only; its skipped wasm and cpu rows say nothing new.
  const ab = rows.filter((r) => r.case === WEBGPU_GRADS_CASE && r.backend === "webgpu").map((r) =>
    r.webgpuGrads
      ? formatWebGPUGrads(r.backend, r.webgpuGrads)
      : `**${WEBGPU_GRADS_CASE}** on ${r.backend}: ${r.status}${r.reason ? ` (${r.reason})` : ""}`
  );
  return [
    main.length ? formatTable(main) : "",
    formatGpuWork(rows),
    formatCompiled(rows),
    formatTeacherCache(rows),
    ...ab,
  ]
    .filter(Boolean)
    .join("\n\n");
}

/**
 * What one iteration of each case asked of the GPU, for the rows that ran on
 * webgpu; `""` when none did.
 *
 * @example
 * ```ts
 * import { formatGpuWork } from "./report.ts";
 * console.log(formatGpuWork([])); // ""
 * ```
 */
export function formatGpuWork(rows: readonly BenchRow[]): string {
  const gpu = rows.filter((r) => r.gpuWork);
  if (!gpu.length) return "";
  const lines = [
    "**WebGPU work per iteration** (counted at the WebGPU API; the same on any adapter)",
    "",
    "| case | dispatches | bind groups | new buffers (MiB) | uploads | uniform writes | readbacks | submits |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of gpu) {
    const w = r.gpuWork!;
    lines.push(
      `| ${cell(r.case)} | ${w.dispatches} | ${w.bindGroups} | ${w.buffersCreated} ` +
        `(${mib(w.bytesCreated)}) | ${w.uploads} | ${w.uniformWrites} | ${w.readbacks} | ` +
        `${w.submits} |`,
    );
  }
  return lines.join("\n");
}

/**
 * tfjs against PyTorch eager and under torch.compile, for the rows where
 * the compiled case ran (`--torch-compile`); `""` when none did.
 *
 * @example
 * ```ts
 * import { formatCompiled } from "./report.ts";
 * console.log(formatCompiled([])); // ""
 * ```
 */
export function formatCompiled(rows: readonly BenchRow[]): string {
  const both = rows.filter((r) => r.torchCompiled && r.status === "ok");
  if (!both.length) return "";
  const lines = [
    "**PyTorch eager and torch.compile**",
    "",
    "| case | backend | tfjs ms | PyTorch eager ms | compiled ms | compile warm-up s | " +
    "tfjs / eager | tfjs / compiled |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of both) {
    const c = r.torchCompiled!;
    lines.push(
      `| ${cell(r.case)} | ${r.backend} | ${fmt(r.timing?.medianMs)} | ${
        fmt(r.torch?.medianMs)
      } | ` +
        `${fmt(c.medianMs)} | ${fmt((c.warmupMs ?? 0) / 1000)} | ` +
        `${r.ratio == null ? "" : `${r.ratio.toFixed(2)}×`} | ` +
        `${r.ratioCompiled == null ? "" : `${r.ratioCompiled.toFixed(2)}×`} |`,
    );
  }
  return lines.join("\n");
}

/** A profile as a Markdown table of its top `top` kernels. */
export function formatProfile(p: ProfileReport, top = 10): string {
  const wall = p.wallMs == null ? "" : `, wall ${fmt(p.wallMs)} ms`;
  const gpu = p.kernels.some((k) => k.dispatches !== undefined);
  const lines = [
    `**${p.case} on ${p.backend}**: kernels ${fmt(p.totalMs)} ms${wall}`,
    "",
    `| kernel | ms | calls | share |${gpu ? " dispatches |" : ""}`,
    `|---|---:|---:|---:|${gpu ? "---:|" : ""}`,
  ];
  for (const k of p.kernels.slice(0, top)) {
    const share = p.totalMs > 0 ? `${(100 * k.ms / p.totalMs).toFixed(1)}%` : "";
    lines.push(
      `| ${cell(k.name)} | ${fmt(k.ms)} | ${k.count} | ${share} |` +
        (gpu ? ` ${k.dispatches ?? 0} |` : ""),
    );
  }
  return lines.join("\n");
}

/** The whole `results.md`: machine, options, table, notes, profiles. */
export function formatReport(r: BenchReport): string {
  const m = r.machine;
  const load = (l: number[] | null) => (l ? l.map((x) => x.toFixed(2)).join(" ") : "unknown");
  const busy = (m.loadavgStart?.[0] ?? 0) > 1 || (m.loadavgEnd?.[0] ?? 0) > 1;
  const lines = [
    `# deno task bench (${r.createdAt})`,
    "",
    `\`${r.command}\``,
    "",
    `- machine: ${m.cpuModel ?? "unknown CPU"}, ${m.cpus} cores, ` +
    `${m.memTotalBytes ? `${(m.memTotalBytes / 2 ** 30).toFixed(1)} GiB` : "unknown"} RAM`,
    `- Deno ${m.deno}, tfjs ${m.tfjs}; Python ${m.python ?? "none"}, torch ${m.torch ?? "none"}, ` +
    `torchvision ${m.torchvision ?? "none"} (${r.options.threads} threads; BLAS ` +
    `${m.torchBlas?.length ? m.torchBlas.join(", ") : "unknown"})`,
    `- WebGPU adapter: ${m.webgpuAdapter ?? "none"}${m.softwareAdapter ? " (software)" : ""}`,
    ...(r.options.torchDevice === "cuda"
      ? [`- PyTorch model cases on CUDA: ${m.cudaDevice ?? "no device"} (strict fp32, TF32 off)`]
      : []),
    ...(r.options.sets && Object.keys(r.options.sets).length
      ? [`- sizes changed with --set: ${JSON.stringify(r.options.sets)}`]
      : []),
    `- wasm: ${
      m.wasmThreads == null
        ? "did not run"
        : `SIMD, ${m.wasmThreads} thread${m.wasmThreads === 1 ? "" : "s"} (COSS_WASM_THREADS)`
    }`,
    `- load average (1/5/15 min): ${load(m.loadavgStart)} at the start, ${
      load(m.loadavgEnd)
    } at the end` +
    (busy ? " — **other jobs were running: timings are noisy**" : ""),
    `- ${r.options.quick ? "**quick sizes (smoke test), not a measurement**" : "full sizes"}; ` +
    "medians of the timed iterations; every iteration ends with an awaited readback",
    "",
    formatTables(r.rows),
    "",
  ];
  if (!r.torch.available) lines.push(`PyTorch did not run: ${r.torch.reason}`, "");
  if (r.notes.length) lines.push(...r.notes.map((n) => `- ${n}`), "");
  for (const p of r.profiles) lines.push(formatProfile(p), "");
  return lines.join("\n");
}

/** Write `results.json` and `results.md` into `dir` (created if missing). */
export async function writeReport(
  r: BenchReport,
  dir: string,
): Promise<{ json: string; md: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const json = `${dir}/results.json`;
  const md = `${dir}/results.md`;
  await Deno.writeTextFile(json, JSON.stringify(r, null, 2) + "\n");
  await Deno.writeTextFile(md, formatReport(r));
  return { json, md };
}
