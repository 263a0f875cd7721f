/**
 * The types of a run report (report.json), below both the writer (report.ts)
 * and the markdown tables (_report_markdown.ts).
 *
 * @module
 */
import type { KnnResult } from "./knn.ts";
import type { LinearProtocol } from "./linear.ts";
import type { ModelCost } from "./cost.ts";
import type { CurvePoint } from "./plot.ts";

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
  protocol: LinearProtocol;
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
