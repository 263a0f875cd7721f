/**
 * Evaluate a saved student (run dir, checkpoint or export) against its
 * teacher, as `deno task eval` does: the run's own config says which
 * teacher, data, normalisation and protocol, and overrides change any key.
 *
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice, initBackend } from "../backend.ts";
import type { ReportRun } from "./report.ts";
import {
  ConfigError,
  DEFAULT_CONFIG,
  type DistillConfig,
  parseConfig,
  stringifyConfig,
} from "../config/config.ts";
import { evaluateStudent, openEvalData } from "./report_run.ts";
import { locateSaved, openSavedStudent } from "./saved.ts";
import { checkCacheDir } from "../teacher/cache.ts";
import { openTeacher } from "../teacher/open.ts";

/** Options for {@linkcode evaluateSaved}. */
export interface EvaluateSavedOptions {
  /**
   * Config overrides `key=value` (YAML values), applied to the run's config.
   * @default {[]}
   */
  overrides?: readonly string[];
  /**
   * Name in tables and legends.
   * @default {the path's last component}
   */
  name?: string;
  /**
   * Status lines.
   * @default {console.error}
   */
  log?: (line: string) => void;
}

/** What {@linkcode evaluateSaved} measured. */
export interface EvaluateSavedResult {
  /** The report entry: every number with its protocol, curves and map. */
  run: ReportRun;
  /** The same numbers as text, one line per model and measure, for the terminal. */
  table: string;
  /** Class names by label, when the test set has them. */
  classNames?: string[];
  /** The config the evaluation ran under, overrides applied. */
  config: DistillConfig;
}

/**
 * Open the student at `path`, its teacher and data, and evaluate it.
 *
 * @example
 * ```ts ignore
 * import { evaluateSaved } from "./eval_saved.ts";
 *
 * const { table } = await evaluateSaved("runs/default", { overrides: ["eval.testSubset=1000"] });
 * console.log(table);
 * ```
 *
 * @throws {Error} For a path that is not a run, checkpoint or export, or a
 *   config key that cannot be honoured, with one line naming it.
 */
export async function evaluateSaved(
  path: string,
  options: EvaluateSavedOptions = {},
): Promise<EvaluateSavedResult> {
  const log = options.log ?? ((l: string) => console.error(l));
  const where = await locateSaved(path);
  // The backend comes from the command line (else COSS_BACKEND, else auto), not from the
  // run's config: the weights must be on a backend before the config inside them is read.
  const backend = (options.overrides ?? []).filter((o) => o.startsWith("backend="))
    .map((o) => o.slice("backend=".length)).pop();
  if (backend !== undefined && !BACKEND_CHOICES.includes(backend as BackendChoice)) {
    throw new ConfigError(
      `--backend ${backend}: backend: expected one of ${BACKEND_CHOICES.join(", ")}`,
    );
  }
  await initBackend({ backend: backend as DistillConfig["backend"] | undefined, log });
  const saved = await openSavedStudent(where);
  try {
    let base = saved.config;
    if (!base) {
      const card = saved.card!;
      base = structuredClone(DEFAULT_CONFIG);
      base.data.mean = card.mean ?? base.data.mean;
      base.data.std = card.std ?? base.data.std;
      log(
        `"${path}": the export's card has no recipe; using teacher ${base.teacher.source}:` +
          `${base.teacher.name} and data ${base.data.train.name} (override with --teacher / --data)`,
      );
    }
    const config = parseConfig(stringifyConfig(base), {
      source: `${path} (config)`,
      overrides: options.overrides ?? [],
    });
    // The teacher's training features go through the cache: a dir outside the grant
    // would fail only once they are computed.
    await checkCacheDir(config.teacher.cacheDir);
    const { teacher, description } = await openTeacher(config.teacher, {
      data: { mean: config.data.mean, std: config.data.std },
    });
    try {
      checkTeacherWidth(path, saved, teacher.featureDim, description);
      const data = await openEvalData(config);
      try {
        const name = options.name ?? path.replace(/\/+$/, "").split("/").pop() ?? path;
        const { run, table } = await evaluateStudent({
          config,
          data,
          student: saved.student,
          head: saved.head,
          teacher,
          name,
          source: path,
          meta: {
            student: saved.architecture
              ? { architecture: saved.architecture.name, ...saved.architecture.args }
              : { architecture: saved.card?.architecture ?? "unknown" },
            teacher: { source: config.teacher.source, name: description.name ?? description.path },
            ...(saved.config && {
              loss: { name: config.loss.name, ...config.loss.options },
            }),
            ...(saved.step !== undefined && { steps: saved.step }),
            kind: saved.kind,
          },
          metrics: saved.metrics,
          randomInit: saved.architecture && {
            architecture: saved.architecture.name,
            args: saved.architecture.args,
            seed: config.seed,
          },
          log,
        });
        return { run, table, classNames: data.classNames, config };
      } finally {
        data.close();
      }
    } finally {
      teacher.dispose();
    }
  } finally {
    saved.student.dispose();
    saved.head?.dispose();
  }
}

/**
 * A run or checkpoint was distilled to match a teacher of one width: its
 * head's output, or with no head the student's own. Evaluated against a
 * teacher of another width, neither the head nor the teacher ↔ student
 * cosines mean anything: refuse, naming both widths and the way out.
 */
function checkTeacherWidth(
  path: string,
  saved: { kind: string; head?: { outDim: number }; student: { featureDim: number } },
  teacherDim: number,
  description: Record<string, unknown>,
): void {
  if (saved.kind === "export") return;
  const want = saved.head?.outDim ?? saved.student.featureDim;
  if (teacherDim === want) return;
  const how = saved.head
    ? `its projection head outputs ${want}-d features`
    : `its ${want}-d student has no projection head`;
  const which = description.name ?? description.path;
  throw new Error(
    `"${path}" was distilled from a ${want}-d teacher (${how}), but teacher ` +
      `${JSON.stringify(which)} (teacher.*, --teacher) gives ${teacherDim}-d features; ` +
      "evaluate with the run's own teacher (drop --teacher), or evaluate its export dir " +
      "(student-safetensors), which carries no head",
  );
}
