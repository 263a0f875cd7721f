/**
 * SVG figures for evaluation reports: training curves, PCA maps of teacher and
 * student embeddings coloured by class, and NN-IoU bars.
 *
 * Each function is pure and returns one standalone `<svg
 * xmlns="http://www.w3.org/2000/svg">` string that renders when written to a
 * `.svg` file and when embedded in Markdown or HTML. Panels are drawn with
 * Observable Plot (https://observablehq.com/plot) into a linkedom document;
 * the title and legend are plain SVG text, so no `<figure>` or HTML is needed.
 * Values that are not finite (NaN from a diverged run, a missing metric) are
 * dropped, never drawn or thrown on.
 *
 * The embedding map projects each panel on its own two principal components
 * ({@linkcode pca}, fitted on the plotted points), so axes of different
 * panels are not comparable; the axis labels give each component's explained
 * variance ratio `λ_j / Σλ`.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import type { FeatureMatrix } from "../neighbours/types.ts";
import { Rng } from "../util/rng.ts";
import { pca } from "./pca.ts";
import {
  checkWidth,
  composeSvg,
  gridColumns,
  newDocument,
  PAD,
  palette,
  type Panel,
  panelWidth,
  plotPanel,
  unique,
} from "./_svg_document.ts";

/** One logged value of a training run. */
export interface CurvePoint {
  /** Name of the run; one line (and colour) per run. */
  run: string;
  /** Training step, the x coordinate. */
  step: number;
  /** Metric name, one panel per metric, e.g. `"loss"`, `"L_co"`, `"kNN top-1"`. */
  metric: string;
  /** The value; NaN and ±Infinity are dropped. */
  value: number;
}

/** Options for {@linkcode trainingCurvesSvg}. */
export interface TrainingCurvesOptions {
  /**
   * Title above the panels.
   * @default {undefined}
   */
  title?: string;
  /**
   * Width of the figure in pixels.
   * @default {720}
   */
  width?: number;
}

/** One set of features to map, e.g. the teacher's or the student's embeddings. */
export interface MapPanel {
  /** Heading of the panel. */
  name: string;
  /** Features of the same images, in the same order, as every other panel. */
  features: FeatureMatrix;
  /**
   * Set when `features` are already principal-component coordinates (dim ≤
   * 2, e.g. saved in a report): their explained-variance ratios, for the axis
   * labels. No PCA is fitted then.
   *
   * @default {undefined}
   */
  explained?: number[];
}

/** Options for {@linkcode embeddingMapSvg}. */
export interface EmbeddingMapOptions {
  /**
   * Name of each class index, shown in the legend.
   * @default {the class indices}
   */
  classNames?: string[];
  /**
   * Most points per panel; more are subsampled without replacement.
   * @default {2000}
   */
  maxPoints?: number;
  /**
   * Seed of the subsample and of the drawing order.
   * @default {0}
   */
  seed?: number;
  /**
   * Title above the panels.
   * @default {undefined}
   */
  title?: string;
  /**
   * Width of the figure in pixels.
   * @default {720}
   */
  width?: number;
}

/** The NN-IoU of one run at one neighbourhood size. */
export interface IoUBar {
  /** Name of the run; one bar colour per run. */
  run: string;
  /** Neighbourhood size k; one group of bars per k. */
  k: number;
  /** NN-IoU@k in [0, 1]; NaN is dropped. */
  iou: number;
}

/** Options for {@linkcode nnIoUBarsSvg}. */
export interface NnIoUBarsOptions {
  /**
   * Title above the chart.
   * @default {undefined}
   */
  title?: string;
  /**
   * Width of the figure in pixels.
   * @default {640}
   */
  width?: number;
}

/**
 * Training curves: one panel per metric with its own y axis, one line per
 * run, and a legend of runs when there is more than one.
 *
 * @example
 * ```ts
 * import { trainingCurvesSvg } from "./plot.ts";
 *
 * const svg = trainingCurvesSvg([
 *   { run: "coss", step: 0, metric: "loss", value: -10 },
 *   { run: "coss", step: 100, metric: "loss", value: -250 },
 *   { run: "coss", step: 100, metric: "kNN top-1", value: 0.79 },
 * ], { title: "Distillation" });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 *
 * @param points Logged values, in any order.
 * @param options Title and width.
 * @returns A standalone SVG document.
 */
export function trainingCurvesSvg(
  points: CurvePoint[],
  options: TrainingCurvesOptions = {},
): string {
  const width = checkWidth("trainingCurvesSvg", options.width ?? 720);
  const valid = points
    .filter((p) => Number.isFinite(p?.step) && Number.isFinite(p?.value))
    .map((p) => ({ run: String(p.run), step: p.step, metric: String(p.metric), value: p.value }));
  const runs = unique(valid.map((p) => p.run));
  const metrics = unique(valid.map((p) => p.metric));
  const range = palette(runs.length);
  const columns = gridColumns(width, metrics.length, 240);
  const w = panelWidth(width, columns);
  const h = Math.round(Math.min(260, Math.max(170, w * 0.62)));
  const doc = newDocument();
  const panels: Panel[] = metrics.map((metric) => {
    const data = valid
      .filter((p) => p.metric === metric)
      .sort((a, b) => runs.indexOf(a.run) - runs.indexOf(b.run) || a.step - b.step);
    // A run with one value in this panel has no line to draw: show it as a dot.
    const count = new Map<string, number>();
    for (const p of data) count.set(p.run, (count.get(p.run) ?? 0) + 1);
    const lines = data.filter((p) => count.get(p.run)! > 1);
    const single = data.filter((p) => count.get(p.run) === 1);
    const panel = plotPanel(doc, {
      width: w,
      height: h,
      marginTop: 16,
      marginRight: 16,
      marginBottom: 36,
      x: { label: "step", labelAnchor: "center", labelArrow: "none" },
      y: { label: null, grid: true, nice: true },
      color: { type: "ordinal", domain: runs, range },
      marks: [
        Plot.line(lines, { x: "step", y: "value", z: "run", stroke: "run", strokeWidth: 1.75 }),
        Plot.dot(single, { x: "step", y: "value", fill: "run", r: 3 }),
      ],
    });
    return { ...panel, heading: metric };
  });
  return composeSvg(doc, panels, {
    width,
    columns,
    title: options.title,
    legend: runs.length > 1 ? runs.map((label, i) => ({ label, color: range[i] })) : undefined,
    empty: "no finite values to plot",
  });
}

/**
 * Side-by-side 2-D PCA maps of several embeddings of the same images,
 * coloured by class, with a legend of class names. Rows with a non-finite
 * value in any panel are dropped; of the rest at most `maxPoints` are drawn,
 * the same rows in every panel, chosen and ordered by a seeded shuffle.
 *
 * @example
 * ```ts
 * import { embeddingMapSvg } from "./plot.ts";
 *
 * const features = new Float32Array([0, 0, 1, 0.1, 5, 5, 6, 5.2]);
 * const svg = embeddingMapSvg(
 *   [{ name: "teacher", features: { features, n: 4, dim: 2 } }],
 *   new Int32Array([0, 0, 1, 1]),
 *   { classNames: ["cat", "dog"] },
 * );
 * console.log(svg.includes(">dog</text>")); // true
 * ```
 *
 * @param panels Embeddings of the same `n` images, one panel each.
 * @param labels Class index of each image, length `n`.
 * @param options Class names, subsample size, seed, title and width.
 * @returns A standalone SVG document.
 * @throws {TypeError} When `labels` is not an Int32Array.
 * @throws {RangeError} When there are no panels, a panel's row count differs
 *   from `labels.length`, or `maxPoints` is not a positive integer.
 */
export function embeddingMapSvg(
  panels: MapPanel[],
  labels: Int32Array,
  options: EmbeddingMapOptions = {},
): string {
  const who = "embeddingMapSvg";
  if (!(labels instanceof Int32Array)) throw new TypeError(`${who}: labels must be an Int32Array`);
  if (!Array.isArray(panels) || panels.length === 0) {
    throw new RangeError(`${who}: needs at least one panel, got ${JSON.stringify(panels)}`);
  }
  const n = labels.length;
  for (const { name, features: m, explained } of panels) {
    if (explained && m?.dim > 2) {
      throw new RangeError(`${who}: panel "${name}" has explained ratios but ${m.dim} dimensions`);
    }
    if (m?.n !== n || m.features?.length !== m.n * m.dim) {
      throw new RangeError(
        `${who}: panel "${name}" holds ${m?.features?.length} values for n·dim = ${m?.n}·${m?.dim}; ${n} labels`,
      );
    }
  }
  const maxPoints = options.maxPoints ?? 2000;
  if (!Number.isInteger(maxPoints) || maxPoints < 1) {
    throw new RangeError(`${who}: maxPoints must be a positive integer, got ${maxPoints}`);
  }
  const width = checkWidth(who, options.width ?? 720);
  const finite = Array.from({ length: n }, (_, i) => i).filter((i) =>
    panels.every(({ features: { features, dim } }) => {
      for (let t = i * dim; t < (i + 1) * dim; t++) if (!Number.isFinite(features[t])) return false;
      return true;
    })
  );
  const rows = new Rng(options.seed ?? 0).shuffle(finite).slice(0, maxPoints);
  const names = options.classNames ?? [];
  const nameOf = (label: number) => names[label] ?? String(label);
  const present = unique(rows.map((i) => labels[i])).sort((a, b) => a - b).map(nameOf);
  const domain = unique([...names, ...present]);
  const range = palette(domain.length);
  const columns = gridColumns(width, panels.length, 220);
  const w = panelWidth(width, columns);
  const r = rows.length > 1000 ? 1.8 : rows.length > 200 ? 2.5 : 3.5;
  const doc = newDocument();
  const rendered = panels.map(({ name, features: { features, dim }, explained }) => {
    const sub = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => sub.set(features.subarray(row * dim, (row + 1) * dim), i * dim));
    const k = Math.min(2, dim);
    const fit = rows.length === 0
      ? undefined
      : explained
      ? { coords: sub, explained }
      : pca({ features: sub, n: rows.length, dim }, { components: k });
    const dots = rows.map((row, i) => ({
      x: fit!.coords[i * k],
      y: k > 1 ? fit!.coords[i * k + 1] : 0,
      label: nameOf(labels[row]),
    }));
    const pct = (j: number) => (100 * (fit?.explained[j] ?? 0)).toFixed(1);
    // A component without variance (dim 1, constant data) would give a zero-width domain.
    const flat = (j: number) => (fit?.explained[j] ?? 0) > 0 ? {} : { domain: [-1, 1] };
    const panel = plotPanel(doc, {
      width: w,
      height: Math.round(w * 0.85),
      marginTop: 24,
      marginRight: 16,
      marginBottom: 36,
      inset: 6,
      x: { label: `PC1 (${pct(0)}%)`, labelAnchor: "center", labelArrow: "none", ...flat(0) },
      y: { label: `PC2 (${pct(1)}%)`, labelArrow: "none", grid: true, ...flat(1) },
      color: { type: "ordinal", domain, range },
      marks: [Plot.dot(dots, { x: "x", y: "y", fill: "label", r, fillOpacity: 0.75 })],
    });
    return { ...panel, heading: name };
  });
  return composeSvg(doc, rendered, {
    width,
    columns,
    title: options.title,
    legend: domain.flatMap((label, i) =>
      present.includes(label) ? [{ label, color: range[i] }] : []
    ),
  });
}

/**
 * NN-IoU as grouped bars: one group per k, one coloured bar per run, y in
 * [0, 1], each bar labelled with its value when there is room. A repeated
 * (run, k) pair keeps its last value.
 *
 * @example
 * ```ts
 * import { nnIoUBarsSvg } from "./plot.ts";
 *
 * const svg = nnIoUBarsSvg([
 *   { run: "random init", k: 10, iou: 0.01 },
 *   { run: "distilled", k: 10, iou: 0.042 },
 * ]);
 * console.log(svg.includes(">0.042</text>")); // true
 * ```
 *
 * @param bars NN-IoU values, in any order.
 * @param options Title and width.
 * @returns A standalone SVG document.
 * @throws {RangeError} When a finite `iou` lies outside [0, 1].
 */
export function nnIoUBarsSvg(bars: IoUBar[], options: NnIoUBarsOptions = {}): string {
  const width = checkWidth("nnIoUBarsSvg", options.width ?? 640);
  const byKey = new Map<string, IoUBar>();
  for (const b of bars) {
    if (!Number.isFinite(b?.k) || !Number.isFinite(b?.iou)) continue;
    if (b.iou < 0 || b.iou > 1) {
      throw new RangeError(
        `nnIoUBarsSvg: iou of run "${b.run}" at k = ${b.k} is ${b.iou}, outside [0, 1]`,
      );
    }
    const bar = { run: String(b.run), k: b.k, iou: b.iou };
    byKey.set(JSON.stringify([bar.run, bar.k]), bar);
  }
  const runs = unique([...byKey.values()].map((b) => b.run));
  const data = [...byKey.values()].sort((a, b) =>
    a.k - b.k || runs.indexOf(a.run) - runs.indexOf(b.run)
  );
  const ks = unique(data.map((b) => b.k));
  const range = palette(runs.length);
  const doc = newDocument();
  const w = width - 2 * PAD;
  const barWidth = ((w - 60) / Math.max(1, ks.length)) * 0.8 / Math.max(1, runs.length);
  const panels: Panel[] = data.length === 0 ? [] : [
    plotPanel(doc, {
      width: w,
      height: 300,
      marginTop: 24,
      marginRight: 16,
      marginBottom: 40,
      fx: { domain: ks, label: "k (neighbours)", axis: "bottom", padding: 0.2 },
      x: { domain: runs, axis: null, paddingInner: 0.1, paddingOuter: 0 },
      y: { domain: [0, 1], grid: true, label: "NN-IoU@k", labelArrow: "none" },
      color: { type: "ordinal", domain: runs, range },
      marks: [
        Plot.barY(data, { fx: "k", x: "run", y: "iou", fill: "run" }),
        ...(barWidth >= 30
          ? [
            Plot.text(data, {
              fx: "k",
              x: "run",
              y: "iou",
              text: (b: IoUBar) => b.iou.toFixed(3),
              dy: -7,
            }),
          ]
          : []),
        Plot.ruleY([0]),
      ],
    }),
  ];
  return composeSvg(doc, panels, {
    width,
    columns: 1,
    title: options.title,
    legend: runs.map((label, i) => ({ label, color: range[i] })),
    empty: "no finite NN-IoU values to plot",
  });
}
