/**
 * Evaluation reports: `report.json` (every number with its protocol),
 * `report.md` (tables, each headed by or carrying its protocol) and SVG
 * plots (training curves, a 2-D map of teacher and student embeddings, and
 * NN-IoU@k bars), for one run or several side by side.
 *
 * The end of `deno task distill` and `deno task eval` both build a
 * {@linkcode ReportRun} per run and call {@linkcode writeReport};
 * `deno task eval --compare` reads runs back with {@linkcode readReport}.
 *
 * @example Write a report for a run evaluated elsewhere
 * ```ts ignore
 * import { writeReport } from "./report.ts";
 * await writeReport("runs/default", { title: "default", runs: [run] });
 * ```
 *
 * @module
 */
import meta from "../../deno.json" with { type: "json" };
import type { FeatureMatrix } from "../data/knn.ts";
import type { KnnResult } from "./knn.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { pca } from "./pca.ts";
import type { ModelCost } from "./cost.ts";
import { type CurvePoint, embeddingMapSvg, nnIoUBarsSvg, trainingCurvesSvg } from "./plot.ts";
import { reportMarkdown } from "./_report_markdown.ts";

/** A weighted-kNN accuracy with its protocol. */
export interface KnnRecord extends Omit<KnnResult, "predictions"> {
  /** Which features ("teacher", "student, distilled", ...). */
  name: string;
}

/** A linear-probe accuracy with its protocol. */
export interface LinearRecord {
  /** Which features ("teacher", "student, distilled", ...). */
  name: string;
  /** Fraction of test images whose largest logit is their class, in `[0, 1]`. */
  top1: number;
  /** Fraction with the class among the 5 largest logits; `null` with 5 classes or fewer. */
  top5: number | null;
  /** Mean training cross-entropy of the last epoch. */
  trainLoss: number;
  /** Test images scored. */
  n: number;
  /** Training images the probe was fitted on. */
  nTrain: number;
  /** Number of classes. */
  numClasses: number;
  /** SGD hyper-parameters, as `linearProbe` resolved them. */
  protocol: Record<string, unknown>;
}

/** Teacher ↔ student agreement on the test images. */
export interface ManifoldRecord {
  /** Name of the teacher's row in the kNN table. */
  teacher: string;
  /** Name of the student's row in the kNN table. */
  student: string;
  /** Test images. */
  n: number;
  /**
   * NN-Jaccard@k, test ↔ test: each test image's neighbours among the other test images (cosine,
   * self excluded), Jaccard |∩|/|∪|, with the level of independent spaces. Named `nnIoU` in
   * files written before the paper's form was added.
   */
  nnIoU: { k: number; value: number; chance: number }[];
  /** Training images in the bank of {@linkcode ManifoldRecord.nnOverlap}. */
  nTrain?: number;
  /**
   * NN-IoU@k as the CoSS paper defines it: each test image's k nearest training images in both
   * spaces, overlap |∩|/k; chance k / nTrain. Absent in older reports.
   */
  nnOverlap?: { k: number; value: number; chance: number }[];
  /** Linear CKA of the backbone features. */
  cka: number;
  /**
   * Mean per-sample and per-dimension cosines of the (projected) student
   * against the teacher; `null` when the widths differ and there is no head.
   */
  cosine:
    | { perSample: number; perDimension: number; n: number; dim: number; projected: boolean }
    | null;
}

/** Everything measured for one run. */
export interface RunEvaluation {
  /** Dataset names and sizes: the kNN bank and probe train on `train`, scores are on `test`. */
  data: { train: string; test: string; nTrain: number; nTest: number };
  /** Weighted-kNN accuracy of each evaluated model, in table order. */
  knn: KnnRecord[];
  /** Linear-probe accuracy of the models probed (may be empty). */
  linear: LinearRecord[];
  /** Teacher ↔ student agreement; `null` when the run has no teacher–student pair. */
  manifold: ManifoldRecord | null;
  /** What the student costs next to the teacher at inference (`eval.cost`); absent when off. */
  cost?: { teacher: ModelCost; student: ModelCost };
}

/** The 2-D map data: PCA coordinates of a fixed subsample of test images. */
export interface ReportMap {
  /** Class of each point. */
  labels: number[];
  /** One panel per space: row-major `[n, 2]` coordinates and the explained-variance ratios. */
  panels: { name: string; coords: number[]; explained: number[] }[];
}

/** One evaluated run. */
export interface ReportRun {
  /** Short name in tables and legends. */
  name: string;
  /** What was evaluated (run dir, checkpoint or export), as given. */
  source: string;
  /** Student, teacher and training facts (architecture, steps, seconds, loss, ...). */
  meta: Record<string, unknown>;
  /** The accuracies and agreement measured for the run. */
  evaluation: RunEvaluation;
  /** Training curves from `metrics.jsonl`; empty for an export without its run. */
  curves: CurvePoint[];
  /** PCA coordinates for the embedding-map plot; `null` to draw no map. */
  map: ReportMap | null;
}

/** A report: one or several runs. */
export interface Report {
  /** Heading of `report.md` and of the plots. */
  title: string;
  /** The runs, in table order (several for `deno task eval --compare`). */
  runs: ReportRun[];
  /**
   * Class names by label, for legends.
   * @default {undefined}
   */
  classNames?: string[];
}

/** `report.json` as written: the report plus provenance. */
export interface SavedReport extends Report {
  /** The toolkit that wrote it, `name@version`, e.g. `"@coss/distill@0.1.0"`. */
  toolkit: string;
  /** When it was written, as an ISO 8601 UTC timestamp. */
  created: string;
}

/** The files {@linkcode writeReport} wrote. */
export interface ReportFiles {
  /** Path of `report.json`. */
  json: string;
  /** Path of `report.md`. */
  markdown: string;
  /** Paths of the SVG plots, e.g. `dir/curves.svg`; only the plots the data allowed. */
  plots: string[];
}

const IGNORED_METRICS = new Set(["step", "epoch", "lr", "imagesPerSecond", "tensors"]);
const METRIC_NAMES: Record<string, string> = { co: "L_co", ss: "L_ss" };

/**
 * Training curves from the text of a run's `metrics.jsonl`: every numeric
 * loss term per logged step, and periodic kNN top-1 (in %).
 *
 * @example
 * ```ts
 * import { curvesFromMetrics } from "./report.ts";
 *
 * const text = '{"step":20,"loss":-250.5,"co":-0.9,"ss":-0.85,"lr":0.003}\n' +
 *   '{"step":20,"knn":{"top1":0.7,"k":10,"t":0.07,"test":1000,"bank":5000}}\n';
 * console.log(curvesFromMetrics(text, "default").map((p) => p.metric));
 * // ["loss", "L_co", "L_ss", "kNN-10 top-1 (%)"]
 * ```
 */
export function curvesFromMetrics(text: string, run: string): CurvePoint[] {
  const points: CurvePoint[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      continue; // a line cut by a kill; the rest of the log is still good
    }
    const step = r.step;
    if (typeof step !== "number") continue;
    for (const [key, value] of Object.entries(r)) {
      if (IGNORED_METRICS.has(key)) continue;
      if (typeof value === "number" && Number.isFinite(value)) {
        points.push({ run, step, metric: METRIC_NAMES[key] ?? key, value });
      } else if (key === "knn" && value && typeof value === "object") {
        const { top1, k } = value as { top1?: number; k?: number };
        if (typeof top1 === "number") {
          points.push({ run, step, metric: `kNN-${k} top-1 (%)`, value: 100 * top1 });
        }
      }
    }
  }
  return points;
}

/**
 * The 2-D map of a report: PCA of each space on the same evenly spaced
 * subsample of at most `points` images.
 *
 * @example
 * ```ts
 * import { reportMap } from "./report.ts";
 *
 * const m = { features: new Float32Array([0, 0, 1, 1, 2, 2.2, 3, 2.9]), n: 4, dim: 2 };
 * const map = reportMap([{ name: "teacher", features: m }], new Int32Array([0, 0, 1, 1]), 4);
 * console.log(map.panels[0].coords.length, map.labels); // 8 [0, 0, 1, 1]
 * ```
 */
export function reportMap(
  panels: { name: string; features: FeatureMatrix }[],
  labels: Int32Array,
  points: number,
): ReportMap {
  const n = panels[0].features.n;
  const m = Math.min(n, points);
  const rows = Array.from({ length: m }, (_, i) => Math.floor((i * n) / m));
  return {
    labels: rows.map((r) => labels[r]),
    panels: panels.map(({ name, features }) => {
      const sub = new Float32Array(m * features.dim);
      rows.forEach((r, i) =>
        sub.set(
          features.features.subarray(r * features.dim, (r + 1) * features.dim),
          i * features.dim,
        )
      );
      const p = pca({ features: sub, n: m, dim: features.dim }, { components: 2 });
      const round = (x: number) => Math.round(x * 1e4) / 1e4;
      return { name, coords: Array.from(p.coords, round), explained: p.explained.map(round) };
    }),
  };
}

/** The file of each plot {@linkcode reportPlots} may draw. */
const PLOT_FILES = { curves: "curves.svg", map: "map.svg", nnIoU: "nn_iou.svg" } as const;

/**
 * The SVG plots of a report, by file name (only those it has data for).
 *
 * @example
 * ```ts
 * import { reportPlots } from "./report.ts";
 *
 * const svgs = reportPlots({
 *   title: "toy",
 *   runs: [{
 *     name: "run",
 *     source: "runs/toy",
 *     meta: {},
 *     evaluation: { data: { train: "a", test: "b", nTrain: 0, nTest: 0 }, knn: [], linear: [], manifold: null },
 *     curves: [{ run: "run", step: 1, metric: "loss", value: -200 }, { run: "run", step: 2, metric: "loss", value: -250 }],
 *     map: null,
 *   }],
 * });
 * console.log(Object.keys(svgs)); // ["curves.svg"]: no map and no NN-IoU without their data
 * ```
 */
export function reportPlots(report: Report): Record<string, string> {
  const plots: Record<string, string> = {};
  const curves = report.runs.flatMap((r) => r.curves);
  if (curves.length) {
    plots[PLOT_FILES.curves] = trainingCurvesSvg(curves, { title: "Training curves" });
  }
  const mapped = report.runs.filter((r) => r.map);
  if (mapped.length) {
    // The teacher once, then each run's student.
    const panels = mapped.flatMap((r, i) =>
      r.map!.panels.filter((_, j) => i === 0 || j > 0).map((p) => ({
        name: mapped.length > 1 && p.name !== r.evaluation.manifold?.teacher
          ? `${r.name}: ${p.name}`
          : p.name,
        coords: p.coords,
        explained: p.explained,
      }))
    );
    plots[PLOT_FILES.map] = embeddingMapSvg(
      panels.map((p) => ({
        name: p.name,
        features: { features: Float32Array.from(p.coords), n: p.coords.length / 2, dim: 2 },
        explained: p.explained,
      })),
      Int32Array.from(mapped[0].map!.labels),
      { classNames: report.classNames, title: "Test embeddings, PCA to 2-D (coloured by class)" },
    );
  }
  // The paper's NN-IoU; reports written before it have only the test ↔ test Jaccard.
  const paper = report.runs.some((r) => r.evaluation.manifold?.nnOverlap?.length);
  const bars = report.runs.flatMap((r) => {
    const m = r.evaluation.manifold;
    return ((paper ? m?.nnOverlap : m?.nnIoU) ?? []).map((b) => ({
      run: r.name,
      k: b.k,
      iou: b.value,
    }));
  });
  if (bars.length) {
    plots[PLOT_FILES.nnIoU] = nnIoUBarsSvg(bars, {
      title: paper
        ? "NN-IoU@k (the paper's: test → train neighbours, |∩|/k), teacher ↔ student"
        : "NN-Jaccard@k (test ↔ test neighbours, |∩|/|∪|), teacher ↔ student",
    });
  }
  return plots;
}

/**
 * Write `report.json`, `report.md` and the plots into `dir` (created if
 * missing). Each file is written atomically, so a crash leaves the previous
 * report or the new one, never a torn file.
 *
 * @example
 * ```ts ignore
 * import { writeReport } from "./report.ts";
 *
 * const files = await writeReport("runs/default", { title: "default", runs: [run] }); // `run` from evaluateStudent
 * console.log(files.markdown); // "runs/default/report.md"
 * ```
 */
export async function writeReport(dir: string, report: Report): Promise<ReportFiles> {
  await Deno.mkdir(dir, { recursive: true });
  const plots = reportPlots(report);
  const saved: SavedReport = {
    ...report,
    toolkit: `${meta.name}@${meta.version}`,
    created: new Date().toISOString(),
  };
  const enc = new TextEncoder();
  const files: ReportFiles = {
    json: `${dir}/report.json`,
    markdown: `${dir}/report.md`,
    plots: Object.keys(plots).map((f) => `${dir}/${f}`),
  };
  for (const [name, svg] of Object.entries(plots)) {
    await writeFileAtomic(`${dir}/${name}`, enc.encode(svg));
  }
  await writeFileAtomic(files.json, enc.encode(JSON.stringify(saved, null, 1) + "\n"));
  await writeFileAtomic(files.markdown, enc.encode(reportMarkdown(saved, Object.keys(plots))));
  return files;
}

/**
 * Remove the report {@linkcode writeReport} wrote into `dir` (`report.json`
 * first: it is what marks a run as evaluated), e.g. before evaluating the
 * run again under other settings, so that no stale plot outlives it.
 *
 * @example
 * ```ts ignore
 * import { removeReport } from "./report.ts";
 * console.log(await removeReport("runs/default")); // ["report.json", "report.md", ...]
 * ```
 *
 * @returns The names of the files removed.
 */
export async function removeReport(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of ["report.json", "report.md", ...Object.values(PLOT_FILES)]) {
    try {
      await Deno.remove(`${dir}/${name}`);
      removed.push(name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return removed;
}

/**
 * Read a `report.json` written by {@linkcode writeReport}.
 *
 * @example
 * ```ts ignore
 * import { readReport } from "./report.ts";
 *
 * const report = await readReport("runs/default/report.json");
 * console.log(report.runs.map((r) => r.evaluation.knn.map((k) => `${k.name}: ${k.top1}`)));
 * ```
 *
 * @throws {SyntaxError} For a file that is not a report, naming it.
 */
export async function readReport(path: string): Promise<SavedReport> {
  const text = await Deno.readTextFile(path);
  let r: SavedReport;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Cannot read report "${path}": ${(e as Error).message}`);
  }
  if (!Array.isArray(r?.runs) || r.runs.some((x) => !x?.evaluation?.knn)) {
    throw new SyntaxError(`Cannot read report "${path}": no runs with an evaluation`);
  }
  return r;
}
