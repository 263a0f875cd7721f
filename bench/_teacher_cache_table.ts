/**
 * The `teacher-cache` case's results: per-step times of the two modes, the
 * cache build, their extrapolation to an epoch, a pass over the data and the
 * config's run, and the Markdown tables of `results.md`.
 *
 * Every ratio is **online / cached** (above 1: the cache is faster). The case
 * has no PyTorch counterpart, so it has tables of its own instead of the
 * main table's tfjs/PyTorch columns.
 *
 * @module
 */
import { median } from "./_measure.ts";
import { cell, fmt, mib, rssCell } from "./_format.ts";
import type {
  BenchRow,
  TeacherCacheInput,
  TeacherCacheResult,
  TeacherCacheSpan,
} from "./_types.ts";

export type { TeacherCacheInput, TeacherCacheResult, TeacherCacheSpan };

/** The case name. */
export const TEACHER_CACHE_CASE = "teacher-cache";

/**
 * Extrapolate the medians to an epoch, a pass over the data and the run.
 *
 * @example
 * ```ts
 * import { deriveTeacherCache } from "./_teacher_cache_table.ts";
 * import { summarize } from "./_measure.ts";
 * const r = deriveTeacherCache({
 *   config: "x.yaml", subset: 1000, batch: 100, sampler: "random", stepsPerEpoch: 10,
 *   imagesPerEpoch: 1000, runSteps: null, online: summarize([300], 0),
 *   cached: summarize([100], 0), build: { images: 1000, ms: 2000 }, mineMs: null,
 * });
 * console.log(r.stepRatio, r.pairedRatio, r.spans[0].ratioWithBuild); // 3 3 1
 * ```
 */
export function deriveTeacherCache(m: TeacherCacheInput): TeacherCacheResult {
  const on = m.online.medianMs / 1000;
  const ca = m.cached.medianMs / 1000;
  const build = m.build.ms / 1000;
  const setup = m.mineMs === null ? null : build + m.mineMs / 1000;
  const span = (name: TeacherCacheSpan["name"], steps: number): TeacherCacheSpan => ({
    name,
    steps,
    onlineS: steps * on,
    cachedS: steps * ca,
    cachedWithBuildS: steps * ca + build,
    ratio: on / ca,
    ratioWithBuild: (steps * on) / (steps * ca + build),
    ratioWithSetup: setup === null ? null : (steps * on + setup) / (steps * ca + setup),
  });
  const spans = [span("epoch", m.stepsPerEpoch), span("pass", Math.ceil(m.subset / m.batch))];
  if (m.runSteps !== null) spans.push(span("run", m.runSteps));
  const vs = m.views && m.views.step.medianMs / 1000;
  const viewsSummary = m.views && vs
    ? {
      stepRatio: on / vs,
      epochOnlineS: m.stepsPerEpoch * on,
      epochViewsS: m.stepsPerEpoch * vs,
      epochViewsWithBuildS: m.stepsPerEpoch * vs + m.views.build.ms / 1000,
      ratioWithBuild: (m.stepsPerEpoch * on) / (m.stepsPerEpoch * vs + m.views.build.ms / 1000),
    }
    : undefined;
  return {
    ...m,
    ...(viewsSummary ? { viewsSummary } : {}),
    stepRatio: on / ca,
    pairedRatio: median(m.online.samplesMs.map((x, i) => x / m.cached.samplesMs[i])),
    buildMsPerImage: m.build.ms / m.build.images,
    spans,
  };
}

const ratio = (x: number | null | undefined) => (x == null ? "" : `${x.toFixed(2)}×`);
const row = (cells: string[]) => `| ${cells.map(cell).join(" | ")} |`;
const rule = (n: number, left: number) =>
  `|${Array.from({ length: n }, (_, i) => (i >= left ? "---:" : "---")).join("|")}|`;

/** Columns of the per-step table. */
export const TEACHER_CACHE_COLUMNS: readonly string[] = [
  "case",
  "backend",
  "pairs (warm-up)",
  "batch",
  "online ms/step",
  "cached ms/step",
  "online / cached",
  "online / cached, median of pairs",
  "cache build s (images)",
  "neighbour mining s",
  "tf.memory MiB / tensors",
  "leaked",
  "peak RSS MiB (start)",
  "load",
];

/** Columns of the extrapolation table. */
export const TEACHER_CACHE_SPAN_COLUMNS: readonly string[] = [
  "case",
  "backend",
  "span",
  "steps",
  "online s",
  "cached s",
  "cached + build s",
  "online / cached",
  "online / (cached + build)",
  "online / cached, both after build + mining",
];

function stepRow(r: BenchRow): string {
  const t = r.teacherCache;
  if (r.status !== "ok" || !t) {
    const cells = [r.case, r.backend, r.status, (r.reason ?? "").split(";")[0]];
    return row([...cells, ...Array(TEACHER_CACHE_COLUMNS.length - cells.length).fill("")]);
  }
  return row([
    r.case,
    r.backend,
    `${t.online.iters} (${t.online.warmup})`,
    String(t.batch),
    fmt(t.online.medianMs),
    fmt(t.cached.medianMs),
    ratio(t.stepRatio),
    ratio(t.pairedRatio),
    `${fmt(t.build.ms / 1000)} (${t.build.images})`,
    t.mineMs === null ? "" : fmt(t.mineMs / 1000),
    r.memory ? `${mib(r.memory.numBytes)} / ${r.memory.numTensors}` : "",
    r.memory ? String(r.memory.leakedTensors) : "",
    rssCell(r.rss?.peakBytes, r.rss?.startBytes) + (r.rss?.method === "sampled" ? " sampled" : ""),
    r.loadavg ? r.loadavg[0].toFixed(2) : "",
  ]);
}

function spanRows(r: BenchRow): string[] {
  return (r.status === "ok" && r.teacherCache?.spans || []).map((s) =>
    row([
      r.case,
      r.backend,
      s.name,
      String(s.steps),
      fmt(s.onlineS),
      fmt(s.cachedS),
      fmt(s.cachedWithBuildS),
      ratio(s.ratio),
      ratio(s.ratioWithBuild),
      ratio(s.ratioWithSetup),
    ])
  );
}

/**
 * The case's Markdown: a caption, the per-step table and the extrapolation
 * table; "" when no row is of this case.
 *
 * @example
 * ```ts
 * import { formatTeacherCache } from "./_teacher_cache_table.ts";
 * console.log(formatTeacherCache([]) === ""); // true
 * ```
 */
export function formatTeacherCache(rows: readonly BenchRow[]): string {
  const mine = rows.filter((r) => r.case === TEACHER_CACHE_CASE);
  if (mine.length === 0) return "";
  const t = mine.find((r) => r.status === "ok" && r.teacherCache)?.teacherCache;
  const epoch = t
    ? `Here an epoch is ${t.stepsPerEpoch} steps of ${t.batch} (${t.imagesPerEpoch} image ` +
      `passes, ${t.sampler} sampler over ${t.subset} images); a pass is ` +
      `${Math.ceil(t.subset / t.batch)} steps.`
    : "";
  const lines = [
    `**${TEACHER_CACHE_CASE}**: the distill loop's step under \`${
      t?.config ?? "the default config"
    }\`, ` +
    "no PyTorch counterpart. *online* is `teacher.cache: false`: the teacher embeds each batch's " +
    "augmented view. *cached* is `teacher.cache: true`: the targets are looked up from features " +
    "of the un-augmented (eval-view) images. Both modes run the same batches and views, one step " +
    "each per pair, in alternating order. **Every ratio is online / cached: above 1, the cache " +
    "is faster.** The cache build is the teacher's pass over the training subset.",
    "",
    row([...TEACHER_CACHE_COLUMNS]),
    rule(TEACHER_CACHE_COLUMNS.length, 2),
    ...mine.map(stepRow),
  ];
  if (!t) return lines.join("\n");
  lines.push(
    "",
    "Extrapolated from the medians. *epoch*: the loop's epoch; *pass*: as many image passes " +
      "as the subset has images; *run*: the config's `train.steps`. `online / (cached + build)` " +
      "charges the build to the cache alone. The neighbour sampler needs the features (and the " +
      "mined lists) in both modes, so a run with it pays both before its first step whether or " +
      `not it caches: the last column. ${epoch}`,
    "",
    row([...TEACHER_CACHE_SPAN_COLUMNS]),
    rule(TEACHER_CACHE_SPAN_COLUMNS.length, 3),
    ...mine.flatMap(spanRows),
  );
  const withViews = mine.filter((r) => r.status === "ok" && r.teacherCache?.viewsSummary);
  if (withViews.length) {
    lines.push(
      "",
      "*views* trains from the multi-view cache (`teacher.views`): the student's view is one " +
        "the teacher embedded, replayed from its recorded parameters, so it optimises the same " +
        "objective as *online*. **Ratios are online / views.** Its build embeds every view.",
      "",
      row([
        "case",
        "backend",
        "views",
        "online ms/step",
        "views ms/step",
        "online / views",
        "views build s (views)",
        "epoch online s",
        "epoch views s",
        "epoch views + build s",
        "online / (views + build)",
      ]),
      rule(11, 2),
      ...withViews.map((r) => {
        const t = r.teacherCache!, v = t.views!, s = t.viewsSummary!;
        return row([
          r.case,
          r.backend,
          String(v.count),
          fmt(t.online.medianMs),
          fmt(v.step.medianMs),
          ratio(s.stepRatio),
          `${fmt(v.build.ms / 1000)} (${v.build.images})`,
          fmt(s.epochOnlineS),
          fmt(s.epochViewsS),
          fmt(s.epochViewsWithBuildS),
          ratio(s.ratioWithBuild),
        ]);
      }),
    );
  }
  return lines.join("\n");
}
