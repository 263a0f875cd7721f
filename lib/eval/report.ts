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
import type { FeatureMatrix } from "../neighbours/types.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { pca } from "./pca.ts";
import { type CurvePoint, embeddingMapSvg, nnIoUBarsSvg, trainingCurvesSvg } from "./plot.ts";
import { reportMarkdown } from "./_report_markdown.ts";
import type { Report, ReportFiles, ReportMap, SavedReport } from "./report_types.ts";

export type * from "./report_types.ts";

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
