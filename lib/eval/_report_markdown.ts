/**
 * `report.md`: the tables of a report, every number next to its protocol.
 *
 * @module
 */
import type { LinearRecord, ReportRun, SavedReport } from "./report_types.ts";
import { formatCost } from "./cost.ts";

const pct = (x: number | null | undefined) =>
  typeof x === "number" ? `${(100 * x).toFixed(2)}%` : "–";
const f3 = (x: number | null | undefined) => typeof x === "number" ? x.toFixed(3) : "–";

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** `run: name` in a comparison, `name` alone for one run. */
const label = (runs: ReportRun[], run: ReportRun, name: string) =>
  runs.length > 1 ? `${run.name}: ${name}` : name;

function metaLine(run: ReportRun): string {
  const m = run.meta;
  const parts = [
    m.student && `student ${describe(m.student)}`,
    m.teacher && `teacher ${describe(m.teacher)}`,
    m.loss && `loss ${describe(m.loss)}`,
    typeof m.steps === "number" && `${m.steps} steps`,
    typeof m.imagePasses === "number" && `${m.imagePasses} image passes`,
    typeof m.trainSeconds === "number" && `${(m.trainSeconds as number).toFixed(0)} s of training`,
  ].filter(Boolean);
  return `- **${run.name}** (\`${run.source}\`): ${parts.join(", ") || "no training record"}`;
}

/** Numbers to 6 significant digits (a scale of 1/(0.07·0.1) prints as 142.857). */
const short = (x: unknown) => typeof x === "number" ? String(Number(x.toPrecision(6))) : String(x);

function describe(v: unknown): string {
  if (typeof v !== "object" || v === null) return String(v);
  const o = v as Record<string, unknown>;
  const name = o.architecture ?? o.name ?? o.source;
  const rest = Object.entries(o)
    .filter(([k, x]) => !["architecture", "name", "card", "recipe"].includes(k) && x !== null)
    .map(([k, x]) => `${k} ${typeof x === "object" ? JSON.stringify(x) : short(x)}`);
  return rest.length ? `${name} (${rest.join(", ")})` : String(name);
}

function linearProtocol(r: LinearRecord): string {
  const p = r.protocol;
  return `SGD lr ${p.lr}, momentum ${p.momentum}, wd ${p.weightDecay}, ${p.epochs} epochs, ` +
    `batch ${p.batchSize}, ×${p.gamma} at [${p.milestones.join(", ")}], ` +
    `${p.normalize} features`;
}

/** The Markdown text of a report whose plots are the files `plots` beside it. */
export function reportMarkdown(report: SavedReport, plots: string[]): string {
  const { runs } = report;
  const out: string[] = [
    `# ${report.title}`,
    "",
    `Written by ${report.toolkit} on ${report.created}. Features are the backbones' pooled ` +
    "outputs (never a projection head); labels are used only here, never in distillation.",
    "",
    "## Runs",
    "",
    ...runs.map(metaLine),
    "",
    "## Weighted kNN",
    "",
    "Each of the k nearest training images (cosine on L2-normalised features) votes for its " +
    "class with weight exp(cos/T); the bank is the training split, scores are on the test split.",
    "",
    table(
      ["features", "top-1", "top-5", "k", "T", "test images", "bank images"],
      runs.flatMap((run) =>
        run.evaluation.knn.map((r) => [
          label(runs, run, r.name),
          pct(r.top1),
          pct(r.top5),
          String(r.k),
          String(r.t),
          String(r.n),
          String(r.nTrain),
        ])
      ),
    ),
  ];
  const linear = runs.flatMap((run) => run.evaluation.linear.map((r) => ({ run, r })));
  if (linear.length) {
    out.push(
      "",
      "## Linear probe",
      "",
      "One linear layer on frozen features extracted once (backbone in inference mode), " +
        "softmax cross-entropy.",
      "",
      table(
        ["features", "top-1", "top-5", "protocol", "test images", "train images"],
        linear.map(({ run, r }) => [
          label(runs, run, r.name),
          pct(r.top1),
          pct(r.top5),
          linearProtocol(r),
          String(r.n),
          String(r.nTrain),
        ]),
      ),
    );
  }
  const manifold = runs.filter((r) => r.evaluation.manifold);
  if (manifold.length) {
    const ks = [...new Set(manifold.flatMap((r) => r.evaluation.manifold!.nnIoU.map((b) => b.k)))]
      .sort((a, b) => a - b);
    const pks = [
      ...new Set(manifold.flatMap((r) => (r.evaluation.manifold!.nnOverlap ?? []).map((b) => b.k))),
    ].sort((a, b) => a - b);
    const m0 = manifold[0].evaluation.manifold!;
    out.push(
      "",
      "## Manifold agreement, teacher ↔ student",
      "",
      "NN-IoU@k (the paper's): each test image's k nearest training images (cosine) in the " +
        "teacher's and the student's spaces, overlap |∩|/k, averaged over test images. " +
        "NN-Jaccard@k: each test image's k nearest other test images, |∩|/|∪| (a different, " +
        "smaller number for the same spaces). CKA: linear centred " +
        "kernel alignment of the backbone features; cosines: the (projected) student against " +
        "the teacher, per sample (−L_co) and per dimension across images (−L_ss).",
      "",
      table(
        [
          "run",
          "test images",
          ...pks.map((k) => `NN-IoU@${k}`),
          ...ks.map((k) => `NN-Jaccard@${k}`),
          "linear CKA",
          "cos/sample",
          "cos/dim",
        ],
        [
          ...manifold.map((run) => {
            const m = run.evaluation.manifold!;
            const at = (k: number) => f3(m.nnIoU.find((b) => b.k === k)?.value);
            const paper = (k: number) => f3(m.nnOverlap?.find((b) => b.k === k)?.value);
            return [
              `${run.name} (${m.teacher} ↔ ${m.student})`,
              String(m.n),
              ...pks.map(paper),
              ...ks.map(at),
              f3(m.cka),
              f3(m.cosine?.perSample),
              f3(m.cosine?.perDimension),
            ];
          }),
          [
            "chance (independent spaces)",
            String(m0.n),
            ...pks.map((k) => m0.nnOverlap?.find((b) => b.k === k)?.chance.toExponential(1) ?? "–"),
            ...ks.map((k) => m0.nnIoU.find((b) => b.k === k)?.chance.toExponential(1) ?? "–"),
            "",
            "",
            "",
          ],
        ],
      ),
    );
  }
  const costed = runs.filter((r) => r.evaluation.cost);
  if (costed.length) {
    out.push("", "## What the student costs next to the teacher", "");
    for (const run of costed) {
      const { teacher, student } = run.evaluation.cost!;
      const acc = (name: string) => run.evaluation.knn.find((k) => k.name === name)?.top1;
      const t = acc("teacher"), s = acc("student");
      const k = run.evaluation.knn[0]?.k ?? 10;
      if (costed.length > 1) out.push(`**${run.name}**`, "");
      out.push(
        formatCost(
          teacher,
          student,
          t != null && s != null ? { teacher: t, student: s, k } : undefined,
        ),
        "",
      );
    }
  }
  const captions: Record<string, string> = {
    "curves.svg": "Training curves (loss terms per logged step; periodic kNN on a test subset)",
    "map.svg": "Test embeddings of teacher and student, PCA to 2-D, coloured by class",
    "nn_iou.svg": "NN-IoU@k (the paper's form), teacher ↔ student",
  };
  if (plots.length) {
    out.push("", "## Plots", "");
    for (const p of plots) out.push(`![${captions[p] ?? p}](${p})`, "");
  }
  return out.join("\n").trimEnd() + "\n";
}
