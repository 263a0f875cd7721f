/**
 * Method comparisons (`deno task compare`): every method × seed under the
 * same teacher, student, data, augmentation, optimiser, schedule and budget
 * of image passes, each a resumable distillation run, then one table of
 * mean ± std over seeds and one report with the plots.
 *
 * A comparison file is YAML:
 *
 * ```yaml
 * base: default.yaml            # a distill config, relative to this file
 * runDir: runs/compare-fmnist   # one sub-directory per method and seed
 * seeds: [0, 1, 2]
 * images: 38400                 # image passes per run; steps = images / images per step
 * iouK: 10                      # the NN-IoU@k column of the table
 * set: [eval.baselines=false]   # overrides for every run
 * reference: coss               # paired differences are against this row (default: the first)
 * methods:                      # table row → the run's `loss` section (and its own overrides)
 *   coss: { name: coss, options: { lambda: 1 } }
 *   cosine: { name: cosine }
 *   coss, random batches: { name: coss, set: [data.sampler.kind=random, data.sampler.batchSize=256] }
 * ```
 *
 * Every run of a seed starts from the same initialisation and sees the same
 * batches and views (both follow the seed), so differences between rows are
 * paired by seed: the table gives, for each row, the mean per-seed difference
 * from the reference row with its standard error (std / √seeds).
 *
 * @module
 */
import { readReport, type ReportRun, writeReport } from "../eval/report.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import {
  ConfigError,
  configHash,
  type DistillConfig,
  evalHash,
  parseConfig,
  stringifyConfig,
} from "../config/config.ts";
import { distill } from "./loop.ts";
import { parseYaml } from "../config/yaml.ts";
import { savedHashes } from "./run_dir.ts";

/** A comparison as read by {@linkcode loadComparison}. */
export interface Comparison {
  /** The file it came from (errors and the report name it). */
  source: string;
  runDir: string;
  seeds: number[];
  images: number;
  iouK: number;
  /** The row paired differences are taken against. */
  reference: string;
  /** Row name → the `loss` section of that row's runs, and the row's own overrides. */
  methods: Record<string, { name: string; options?: Record<string, unknown>; set?: string[] }>;
  /** The resolved config of each run, by `method/seed`. */
  runs: { method: string; seed: number; config: DistillConfig }[];
}

/** Options for {@linkcode loadComparison}. */
export interface LoadComparisonOptions {
  /**
   * Overrides applied to every run after the file's `set` (e.g. from `--set`).
   * @default {[]}
   */
  overrides?: readonly string[];
  /**
   * Only these rows. Each entry is a row name, or row names separated by
   * commas (an entry that is itself a row name is never split).
   * @default {every method}
   */
  only?: readonly string[];
  /**
   * Only these seeds, each one of the file's (a partial table: e.g. the first seed of every
   * row before the others).
   * @default {every seed}
   */
  seeds?: readonly number[];
}

function fail(source: string, key: string, problem: string): never {
  throw new ConfigError(`${source}: ${key}: ${problem}`);
}

/**
 * Read a comparison file and resolve the config of every run.
 *
 * @throws {ConfigError} One line naming the file, the key and the problem.
 */
export async function loadComparison(
  path: string,
  options: LoadComparisonOptions = {},
): Promise<Comparison> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = (e as Error).message.split("\n")[0].replace(/: \w+ '[^']*'$/, "");
    throw new ConfigError(`${path}: cannot read (${why}); check the --config path`);
  }
  const doc = (parseYaml(text, path) ?? {}) as Record<string, unknown>;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    fail(path, "(top level)", "expected a mapping with keys base, runDir, seeds, images, methods");
  }
  const known = ["base", "runDir", "seeds", "images", "iouK", "set", "reference", "methods"];
  for (const k of Object.keys(doc)) {
    if (!known.includes(k)) fail(path, k, `unknown key; valid keys: ${known.join(", ")}`);
  }
  const str = (k: string) =>
    typeof doc[k] === "string" && doc[k] ? doc[k] as string : fail(path, k, "expected a string");
  const int = (v: unknown, k: string) =>
    Number.isInteger(v) && (v as number) >= 0
      ? v as number
      : fail(path, k, `expected an integer ≥ 0, got ${JSON.stringify(v)}`);
  const runDir = str("runDir");
  if (!Array.isArray(doc.seeds) || doc.seeds.length === 0) {
    fail(path, "seeds", "expected a non-empty list of integers");
  }
  let seeds = (doc.seeds as unknown[]).map((s, i) => int(s, `seeds[${i}]`));
  if (options.seeds) {
    const missing = options.seeds.find((s) => !seeds.includes(s));
    if (missing !== undefined) {
      fail(path, "seeds", `no seed ${missing}; the file's seeds are ${seeds.join(", ")}`);
    }
    seeds = seeds.filter((s) => options.seeds!.includes(s));
  }
  const images = int(doc.images, "images");
  if (images === 0) fail(path, "images", "expected at least 1 image pass per run");
  const iouK = doc.iouK === undefined ? 10 : int(doc.iouK, "iouK");
  const set = doc.set === undefined ? [] : doc.set;
  if (!Array.isArray(set) || set.some((s) => typeof s !== "string")) {
    fail(path, "set", "expected a list of key=value strings");
  }
  const m = doc.methods;
  if (typeof m !== "object" || m === null || Array.isArray(m) || !Object.keys(m).length) {
    fail(path, "methods", "expected a map of row name → loss section");
  }
  let methods = m as Comparison["methods"];
  for (const [row, spec] of Object.entries(methods)) {
    const extra = Object.keys(spec ?? {}).filter((k) => !["name", "options", "set"].includes(k));
    if (extra.length) {
      fail(path, `methods.${row}`, `unknown key "${extra[0]}"; valid: name, options, set`);
    }
    const rowSet = spec?.set;
    if (
      rowSet !== undefined && (!Array.isArray(rowSet) || rowSet.some((x) => typeof x !== "string"))
    ) {
      fail(path, `methods.${row}.set`, "expected a list of key=value strings");
    }
  }
  const reference = doc.reference === undefined ? Object.keys(methods)[0] : doc.reference;
  if (typeof reference !== "string" || !(reference in methods)) {
    fail(path, "reference", `expected one of the rows (${Object.keys(methods).join(", ")})`);
  }
  if (options.only) {
    const only = options.only.flatMap((o) =>
      o in methods ? [o] : o.split(",").map((x) => x.trim()).filter(Boolean)
    );
    for (const o of only) {
      if (!(o in methods)) {
        fail(path, "methods", `no row "${o}"; rows: ${Object.keys(methods).join(" | ")}`);
      }
    }
    methods = Object.fromEntries(Object.entries(methods).filter(([k]) => only.includes(k)));
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const basePath = dir + str("base");
  const baseText = await Deno.readTextFile(basePath).catch(() =>
    fail(path, "base", `cannot read "${basePath}"`)
  );
  const base = parseConfig(baseText, { source: basePath, overrides: set as string[] });
  if (!base.eval.iouKs.includes(iouK)) {
    base.eval.iouKs = [...base.eval.iouKs, iouK].sort((a, b) => a - b);
  }
  const runs: Comparison["runs"] = [];
  // Seed-major: every row of seed 0 runs before any row of seed 1, so a comparison stopped
  // part-way already holds a whole paired table for its first seeds.
  for (const seed of seeds) {
    for (const [method, loss] of Object.entries(methods)) {
      // The row's loss replaces the base's whole loss section: options of one loss are not
      // options of another, and missing ones take their defaults.
      const run = {
        ...structuredClone(base),
        seed,
        runDir: `${runDir}/${method}-s${seed}`,
        loss: { name: loss?.name, options: loss?.options ?? {} },
      } as DistillConfig;
      const config = parseConfig(stringifyConfig(run), {
        source: `${path} (methods.${method})`,
        overrides: [...(loss?.set ?? []), ...(options.overrides ?? [])],
      });
      // The budget is counted in image passes: BINGO embeds a bag member per row.
      const s = config.data.sampler;
      const perStep = (s.kind === "neighbour" ? s.anchors * (1 + s.neighbours) : s.batchSize) *
        (config.loss.name === "bingo" ? 2 : 1);
      config.train.steps = Math.max(1, Math.round(images / perStep));
      config.train.epochs = null;
      runs.push({ method, seed, config });
    }
  }
  // A finished run is skipped by its report, so a changed config must not meet an old run dir.
  // Other eval.* settings are no other config: such a cell is evaluated again (cellState).
  for (const { config } of runs) {
    const text = await Deno.readTextFile(`${config.runDir}/config.yaml`).catch(() => "");
    const saved = savedHashes(text, config);
    if (saved.recorded && saved.config !== configHash(config)) {
      throw new ConfigError(
        `${path}: run dir "${config.runDir}" holds a run of another config; ` +
          `delete it or change runDir to compare under the new settings`,
      );
    }
  }
  return { source: path, runDir, seeds, images, iouK, reference, methods, runs };
}

/** One row of the comparison table. */
export interface ComparisonRow {
  method: string;
  seeds: number;
  knn: Stat;
  linear: Stat;
  /** NN-IoU@iouK in the paper's form (test → train, |∩|/k); the test ↔ test Jaccard for older runs. */
  nnIoU: Stat;
  /** Wall seconds per run (training and evaluation). */
  seconds: Stat;
  /** Per-seed differences from the reference row (this row minus it), mean ± standard error. */
  paired: { knn: Paired; linear: Paired; nnIoU: Paired };
}

/** A mean per-seed difference and its standard error (std / √n); 0 ± 0 for the reference. */
export interface Paired {
  mean: number;
  se: number;
}

/** Mean and sample standard deviation (0 for one value). */
export interface Stat {
  mean: number;
  std: number;
}

function paired(xs: number[], ref: number[]): Paired {
  const d = xs.map((x, i) => x - ref[i]);
  const { mean, std } = stat(d);
  return { mean, se: std / Math.sqrt(d.length) };
}

function stat(xs: number[]): Stat {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1) : 0;
  return { mean, std: Math.sqrt(v) };
}

/** Options for {@linkcode runComparison}. */
export interface RunComparisonOptions {
  /**
   * Status lines.
   * @default {console.error}
   */
  log?: (line: string) => void;
  /**
   * Run only the cells (method, seed) of this shard: those whose index in
   * `c.runs` (seed-major) is `index` modulo `count`, and write no table
   * (`mergeComparison` writes it once every cell has finished).
   * @default {every cell, then the table}
   */
  shard?: { index: number; count: number };
}

/**
 * The indices into `c.runs` of shard `index` of `count`: every `count`-th
 * cell from `index` (strided rather than contiguous, so that each shard gets
 * a mix of methods and seeds and shards finish at about the same time).
 *
 * @example
 * ```ts ignore
 * shardCells(comparison, { index: 1, count: 3 }); // [1, 4, 7, ...]
 * ```
 */
export function shardCells(c: Comparison, shard: { index: number; count: number }): number[] {
  return c.runs.map((_, i) => i).filter((i) => i % shard.count === shard.index);
}

/**
 * A cell's run, read back from its run dir: finished (its report and wall
 * time), not yet evaluated (no report.json), or evaluated under other
 * `eval.*` settings than `config`'s (its config.yaml records another eval
 * hash), which counts as not finished: it is evaluated again.
 */
async function cellState(
  config: DistillConfig,
): Promise<
  { finished: { run: ReportRun; seconds: number } } | { finished?: undefined; why: string }
> {
  const dir = config.runDir;
  const report = await readReport(`${dir}/report.json`).catch(() => undefined);
  if (!report) return { why: "no report.json" };
  const text = await Deno.readTextFile(`${dir}/config.yaml`).catch(() => "");
  if (savedHashes(text, config).eval !== evalHash(config)) {
    return { why: "evaluated under other eval.* settings" };
  }
  const wall = await Deno.readTextFile(`${dir}/wall.json`).catch(() => "{}");
  return { finished: { run: report.runs[0], seconds: JSON.parse(wall).seconds ?? 0 } };
}

/**
 * Run (or resume) every run of `c`, skipping finished ones, then write
 * `runDir/results.md`, `results.json` and the report of seed `seeds[0]`.
 * With `options.shard`, run only that shard's cells and write no table.
 */
export async function runComparison(
  c: Comparison,
  options: RunComparisonOptions = {},
): Promise<{ rows: ComparisonRow[]; table: string }> {
  const log = options.log ?? ((l: string) => console.error(l));
  const cells = options.shard ? shardCells(c, options.shard) : c.runs.map((_, i) => i);
  for (const i of cells) {
    const { method, seed, config } = c.runs[i];
    const dir = config.runDir;
    const tag = `[${i + 1}/${c.runs.length}] ${method} seed ${seed}`;
    const state = await cellState(config);
    if (state.finished) {
      log(`${tag}: finished earlier, skipped`);
      continue;
    }
    if (state.why !== "no report.json") log(`${tag}: ${state.why}; evaluating it again`);
    // An interrupted run resumes: its wall time so far is added to.
    const wallFile = `${dir}/wall.json`;
    const before = JSON.parse(await Deno.readTextFile(wallFile).catch(() => "{}")).seconds ?? 0;
    log(`${tag}: ${config.train.steps} steps → "${dir}"`);
    await Deno.mkdir(dir, { recursive: true });
    const logFile = await Deno.open(`${dir}/distill.log`, { append: true, create: true });
    const enc = new TextEncoder();
    const t0 = performance.now();
    try {
      const result = await distill(config, {
        tty: false,
        log: (line) => {
          logFile.writeSync(enc.encode(line + "\n"));
          if (/^(trained|report|resuming)/.test(line)) log(`${tag}: ${line}`);
        },
      });
      const seconds = before + (performance.now() - t0) / 1000;
      await writeFileAtomic(wallFile, enc.encode(JSON.stringify({ seconds }) + "\n"));
      if (!result.report) throw new Error(`${tag}: the run has no test split to evaluate on`);
    } finally {
      logFile.close();
    }
  }
  if (options.shard) return { rows: [], table: "" };
  return await mergeComparison(c);
}

/**
 * Write `runDir/results.md`, `results.json` and the report of seed
 * `seeds[0]` from the finished cells of `c` (each run dir's report.json),
 * running nothing: the merge step after `runComparison` with shards.
 *
 * @throws {Error} One line naming every missing cell (index in `c.runs`, row, seed); no table
 * is written then, since a row over fewer seeds would not be paired with the others.
 */
export async function mergeComparison(
  c: Comparison,
): Promise<{ rows: ComparisonRow[]; table: string }> {
  const done: Map<string, { run: ReportRun; seconds: number }> = new Map();
  const missing: string[] = [];
  for (const [i, { method, seed, config }] of c.runs.entries()) {
    const state = await cellState(config);
    if (state.finished) done.set(`${method}/${seed}`, state.finished);
    else {
      const why = state.why === "no report.json" ? "" : ` (${state.why})`;
      missing.push(`[${i + 1}] ${method} seed ${seed}${why}`);
    }
  }
  if (missing.length) {
    throw new Error(
      `${c.source}: ${missing.length} of ${c.runs.length} cells have no report.json ` +
        `for these settings: ${missing.join("; ")}; run them (deno task compare --shard i/N ` +
        `runs cell [k] when ` +
        `(k − 1) mod N = i), or tabulate the finished ones with --only/--seeds`,
    );
  }
  const measures = (method: string) => {
    const runs = c.seeds.map((s) => done.get(`${method}/${s}`)!);
    const pick = (f: (r: ReportRun) => number | undefined) => runs.map((r) => f(r.run) ?? NaN);
    const iou = (r: ReportRun) => {
      const m = r.evaluation.manifold;
      return (m?.nnOverlap ?? m?.nnIoU)?.find((b) => b.k === c.iouK)?.value;
    };
    return {
      runs,
      knn: pick((r) => r.evaluation.knn.find((k) => k.name === "student")?.top1),
      linear: pick((r) => r.evaluation.linear.find((k) => k.name === "student")?.top1),
      nnIoU: pick(iou),
    };
  };
  const ref = measures(c.reference);
  const rows: ComparisonRow[] = Object.keys(c.methods).map((method) => {
    const m = measures(method);
    return {
      method,
      seeds: m.runs.length,
      knn: stat(m.knn),
      linear: stat(m.linear),
      nnIoU: stat(m.nnIoU),
      seconds: stat(m.runs.map((r) => r.seconds)),
      paired: {
        knn: paired(m.knn, ref.knn),
        linear: paired(m.linear, ref.linear),
        nnIoU: paired(m.nnIoU, ref.nnIoU),
      },
    };
  });
  const first = c.runs[0].config;
  const pct = (s: Stat) => `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`;
  const diff = (p: Paired, scale: number, digits: number) =>
    `${p.mean >= 0 ? "+" : "−"}${Math.abs(scale * p.mean).toFixed(digits)} ± ${
      (scale * p.se).toFixed(digits)
    }`;
  const table = [
    `| method | kNN-${first.eval.k} top-1 (%) | linear top-1 (%) | NN-IoU@${c.iouK} | ` +
    `Δ kNN vs ${c.reference} (points) | Δ linear (points) | Δ NN-IoU@${c.iouK} | wall s/run |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.method} | ${pct(r.knn)} | ${pct(r.linear)} | ` +
      `${r.nnIoU.mean.toFixed(4)} ± ${r.nnIoU.std.toFixed(4)} | ` +
      (r.method === c.reference
        ? "(reference) | | | "
        : `${diff(r.paired.knn, 100, 2)} | ${diff(r.paired.linear, 100, 2)} | ` +
          `${diff(r.paired.nnIoU, 1, 4)} | `) +
      `${r.seconds.mean.toFixed(0)} |`
    ),
  ].join("\n");
  const protocol = `mean ± sample std over seeds ${c.seeds.join(", ")}; Δ: mean per-seed ` +
    `difference from "${c.reference}" (the same seed: the same initialisation, batches and ` +
    `views) ± its standard error; ${c.images} image passes ` +
    `per run; kNN-${first.eval.k} (T = ${first.eval.t}) and the linear probe ` +
    `(${first.eval.linear.epochs} epochs) on the student backbone, NN-IoU@${c.iouK} (the ` +
    `paper's: test → train neighbours, |∩|/k) teacher ↔ student, on ` +
    `${first.eval.testSubset ?? "all"} test images`;
  const enc = new TextEncoder();
  await writeFileAtomic(
    `${c.runDir}/results.json`,
    enc.encode(JSON.stringify({ source: c.source, protocol, rows }, null, 2) + "\n"),
  );
  await writeFileAtomic(
    `${c.runDir}/results.md`,
    enc.encode(`# Comparison: ${c.source}\n\n${protocol}.\n\n${table}\n`),
  );
  const firstReport = await readReport(`${first.runDir}/report.json`);
  await writeReport(c.runDir, {
    title: `Comparison ${c.source}, seed ${c.seeds[0]} of each method`,
    runs: Object.keys(c.methods).map((m) => {
      const run = done.get(`${m}/${c.seeds[0]}`)!.run;
      return { ...run, name: m, curves: run.curves.map((p) => ({ ...p, run: m })) };
    }),
    classNames: firstReport.classNames,
  });
  return { rows, table: `${protocol}\n${table}` };
}
