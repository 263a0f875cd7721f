/**
 * The command line of `deno task bench` (tasks/bench.ts is its entry point):
 * `deno task bench [--cases a,b] [--backends wasm,cpu] [--iters n] [--warmup n] [--quick]
 * [--profile] [--force] [--no-torch] [--threads n] [--torch-blas lib] [--torch-device cuda]
 * [--torch-compile] [--set case.key=value] [--out dir]`
 *
 * Time the toolkit's hot paths on every tfjs backend against the same
 * computation in PyTorch, in the same run, and write `bench/results.json`
 * and `bench/results.md` (see docs/performance.md). Progress goes to
 * stderr, the table to stdout.
 *
 * @module
 */
import { parseArgs } from "parse-args";
import type { BackendName } from "../lib/backend.ts";
import { CASE_NAMES, type CaseName, CASES } from "./cases.ts";
import { formatProfile, formatTables, writeReport } from "./report.ts";
import { BENCH_BACKENDS, type BenchOptions, runBench, withSets } from "./run.ts";

const BACKENDS = BENCH_BACKENDS.join(",");

const USAGE = `usage: deno task bench [--cases ${CASE_NAMES.join(",")}] [--backends ${BACKENDS}]
                       [--iters n] [--warmup n] [--quick] [--profile] [--force] [--no-torch]
                       [--threads n] [--python /usr/bin/python3] [--torch-blas lib]
                       [--torch-device cpu|cuda] [--torch-compile] [--torch-timeout s]
                       [--set case.key=value ...] [--out bench]

  --cases     cases to run, comma-separated (default: all)
  --backends  tfjs backends (default: wasm, cpu, and webgpu on a real GPU; naming webgpu
              runs it on a software adapter too, with 2 iterations)
  --iters     timed iterations for every case (default: 10; knn 3; teacher-cache 20;
              slow backends capped); a teacher-cache iteration is one online and one cached step
  --warmup    untimed iterations first (default: 2; knn 1; teacher-cache 3)
  --quick     tiny sizes, for smoke tests (the numbers mean nothing)
  --profile   tf.profile one step of the step cases (and torch.autograd.profiler)
  --force     also run case/backend pairs skipped as too slow (1 iteration)
  --no-torch  skip the PyTorch side
  --threads   PyTorch threads (default 2)
  --python    interpreter with torch (default /usr/bin/python3)
  --torch-blas  a libblas.so.3 (e.g. OpenBLAS) for torch to load instead of the system's
  --torch-device  where PyTorch runs step-cnn28, step-r18 and teacher-embed: cpu (default) or
              cuda (strict fp32, TF32 off); the other cases stay on the CPU
  --torch-compile  also time those cases under torch.compile (torch >= 2), in a second process
  --torch-timeout  seconds one PyTorch process may run (default 900)
  --set       change one size of one case, e.g. --set step-r18.batch=256 (repeatable; the
              case's own keys only: see bench/cases.ts)
  --out       directory for results.json and results.md (default bench)

Cases:
${CASE_NAMES.map((c) => `  ${c.padEnd(14)}${CASES[c].title}`).join("\n")}`;

function list<T extends string>(
  raw: string | undefined,
  allowed: readonly T[],
  what: string,
): T[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new RangeError(`Unknown ${what} "${item}": expected one of ${allowed.join(", ")}`);
    }
  }
  return items as T[];
}

function count(raw: string | undefined, what: string, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(`--${what} must be an integer ≥ ${min}, got "${raw}"`);
  }
  return n;
}

/**
 * `--set case.key=value` flags as per-case overrides; a number stays a
 * number. Each key is checked against the case's own settings.
 */
function parseSets(raw: readonly string[]): BenchOptions["sets"] {
  const sets: NonNullable<BenchOptions["sets"]> = {};
  for (const item of raw) {
    const m = /^([\w-]+)\.(\w+)=(.*)$/.exec(item);
    if (!m) {
      throw new RangeError(`--set "${item}": expected case.key=value, e.g. step-r18.batch=256`);
    }
    const [, name, key, text] = m;
    const [caseName] = list(name, CASE_NAMES, "case in --set") as CaseName[];
    const value = text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
    sets[caseName] = { ...sets[caseName], [key]: value };
    // Fail now, naming the case's keys, rather than when the case starts.
    withSets(CASES[caseName], CASES[caseName].config(false), { [caseName]: { [key]: value } });
  }
  return sets;
}

/**
 * Run the bench with command-line `args`; returns the exit code.
 *
 * @param args As `Deno.args`.
 * @returns 0 on success, 2 for a usage error.
 */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        cases: { type: "string" },
        backends: { type: "string" },
        iters: { type: "string" },
        warmup: { type: "string" },
        quick: { type: "boolean" },
        profile: { type: "boolean" },
        force: { type: "boolean" },
        "no-torch": { type: "boolean" },
        threads: { type: "string" },
        python: { type: "string" },
        "torch-blas": { type: "string" },
        "torch-device": { type: "string" },
        "torch-compile": { type: "boolean" },
        "torch-timeout": { type: "string" },
        set: { type: "string", multiple: true },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  let cases: CaseName[] | undefined, backends: BackendName[] | undefined;
  let iters: number | undefined, warmup: number | undefined, threads: number | undefined;
  let torchDevice: "cpu" | "cuda" | undefined, torchTimeoutS: number | undefined;
  let sets: BenchOptions["sets"];
  try {
    cases = list(flags.cases, CASE_NAMES, "case");
    backends = list(flags.backends, BENCH_BACKENDS, "backend");
    iters = count(flags.iters, "iters", 1);
    warmup = count(flags.warmup, "warmup", 0);
    threads = count(flags.threads, "threads", 1);
    torchTimeoutS = count(flags["torch-timeout"], "torch-timeout", 1);
    torchDevice = list(flags["torch-device"], ["cpu", "cuda"] as const, "--torch-device")?.[0];
    sets = parseSets(flags.set ?? []);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    return 2;
  }
  // Refuse an output folder outside the write grant now, not after minutes of timing.
  const out = flags.out ?? "bench";
  if ((await Deno.permissions.query({ name: "write", path: out })).state !== "granted") {
    console.error(
      `error: --out ${out}: no write access there; deno task bench may write only under bench/ ` +
        "(deno.json): choose a folder there, or add yours to --allow-write in the bench task",
    );
    return 2;
  }
  const report = await runBench({
    cases,
    backends,
    iters,
    warmup,
    threads,
    quick: flags.quick ?? false,
    profile: flags.profile ?? false,
    force: flags.force ?? false,
    torch: !flags["no-torch"],
    python: flags.python,
    torchBlas: flags["torch-blas"],
    torchDevice,
    torchCompile: flags["torch-compile"] ?? false,
    torchTimeoutS,
    sets,
    command: ["deno task bench", ...args].join(" "),
  });
  const written = await writeReport(report, out);
  console.log(formatTables(report.rows));
  for (const p of report.profiles) console.log(`\n${formatProfile(p)}`);
  console.error(`wrote ${written.json} and ${written.md}`);
  return 0;
}
