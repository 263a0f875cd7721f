/**
 * Open a trained student from what a run leaves on disk, for evaluation: a
 * run directory (`config.yaml` + `checkpoint.safetensors`), a checkpoint
 * file alone (it embeds its config), or an export directory (`card.json`
 * with a tfjs graph model or a PyTorch safetensors state dict; its card
 * holds the recipe).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { exists } from "../util/bytes.ts";
import type { ModelCard } from "../models/export.ts";
import { createProjectionHead, type ProjectionHead } from "../models/head.ts";
import { loadSafetensorsModel } from "../models/load.ts";
import { createModel, listModels, modelArgNames, type ModelName } from "../models/registry.ts";
import { loadTfjsTeacher } from "../models/tfjs_teacher.ts";
import type { Embedder } from "../models/types.ts";
import { SafetensorsFormatError } from "../io/safetensors.ts";
import { readSafetensors } from "../io/safetensors.ts";
import {
  CHECKPOINT_FORMAT,
  checkpointVariables,
  loadCheckpoint,
  restoreVariables,
} from "../io/checkpoint.ts";
import { type DistillConfig, loadConfig, parseConfig } from "../config/config.ts";

/** A student opened by {@linkcode openSavedStudent}. */
export interface SavedStudent {
  /** Which form it was saved in (see {@linkcode SavedLocation}). */
  kind: "run" | "checkpoint" | "export";
  /** The run's resolved config; `null` for an export whose card has no recipe. */
  config: DistillConfig | null;
  /** The student backbone, weights restored; dispose it when done. */
  student: Embedder & { dispose(): void };
  /** The projection head (runs and checkpoints whose student needed one). */
  head?: ProjectionHead;
  /** Registry name and arguments, when known (for the random-init row). */
  architecture?: { name: string; args: Record<string, unknown> };
  /** Steps trained. */
  step?: number;
  /** `metrics.jsonl` beside it, when there is one. */
  metrics?: string;
  /** Normalisation from an export card. */
  card?: ModelCard;
}

const WHAT = "expected a run dir (config.yaml + checkpoint.safetensors), a checkpoint " +
  "(.safetensors written by deno task distill) or an export dir (card.json)";

async function readJson(path: string): Promise<unknown> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Cannot read "${path}": ${(e as Error).message}`);
  }
}

/** Where a saved student is, and in which form: found by {@linkcode locateSaved}. */
export interface SavedLocation {
  /**
   * `"run"`: a run dir (`config.yaml` + `checkpoint.safetensors`); `"checkpoint"`:
   * a checkpoint file written by `deno task distill`; `"export"`: an export dir (`card.json`).
   */
  kind: "run" | "checkpoint" | "export";
  /** The path as given. */
  path: string;
}

/**
 * Find out what `path` is without loading any tensor (so a bad path fails
 * before a backend starts): a run dir, an export dir, or a checkpoint file.
 *
 * @example
 * The bundled teacher ships as an export directory (`card.json` + weights)
 * ```ts
 * import { locateSaved } from "./saved.ts";
 *
 * console.log(await locateSaved("lib/teachers/fashion-mnist")); // { kind: "export", path: "lib/teachers/fashion-mnist" }
 * ```
 *
 * @throws {Error} When it is none of them, naming the path and what was expected.
 */
export async function locateSaved(path: string): Promise<SavedLocation> {
  const stat = await Deno.stat(path).catch(() => undefined);
  if (!stat) throw new Error(`"${path}": no such file or directory; ${WHAT}`);
  if (stat.isDirectory) {
    if (await exists(`${path}/card.json`)) return { kind: "export", path };
    if (await exists(`${path}/checkpoint.safetensors`)) {
      await checkCheckpointFile(`${path}/checkpoint.safetensors`);
      return { kind: "run", path };
    }
    throw new Error(`"${path}": holds neither card.json nor checkpoint.safetensors; ${WHAT}`);
  }
  await checkCheckpointFile(path);
  return { kind: "checkpoint", path };
}

async function checkCheckpointFile(file: string): Promise<void> {
  let format: string | undefined;
  try {
    format = (await readSafetensors(file)).metadata?.["coss.format"];
  } catch (e) {
    if (e instanceof SafetensorsFormatError && e.truncated) {
      throw new Error(
        `"${file}": the checkpoint is damaged (${e.problem}); restore it from a backup, ` +
          "evaluate the run's export instead (student-safetensors), or rerun deno task distill " +
          "with --no-resume",
      );
    }
    throw new Error(
      `"${file}": not a ${CHECKPOINT_FORMAT} file (${(e as Error).message}); ${WHAT}`,
    );
  }
  if (format !== CHECKPOINT_FORMAT) {
    throw new Error(`"${file}": safetensors without coss.format = ${CHECKPOINT_FORMAT}; ${WHAT}`);
  }
}

/**
 * Open a saved student: a run dir, a checkpoint or an export, whichever it is.
 *
 * @example
 * ```ts ignore
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { openSavedStudent } from "./saved.ts";
 *
 * await initBackend();
 * const saved = await openSavedStudent("runs/default"); // a run dir, a checkpoint or an export dir
 * const x = tf.zeros([1, 28, 28, 1]) as tf.Tensor4D;
 * console.log(saved.kind, saved.step, saved.student.embed(x).shape); // "run" 2000 [1, 128]
 * saved.student.dispose();
 * ```
 *
 * @throws {Error} When it is none of them, or its parts do not load, naming the file.
 */
export async function openSavedStudent(where: string | SavedLocation): Promise<SavedStudent> {
  const { kind, path } = typeof where === "string" ? await locateSaved(where) : where;
  if (kind === "export") return await openExport(path);
  if (kind === "run") {
    const config = await loadConfig(`${path}/config.yaml`);
    return await openCheckpoint(`${path}/checkpoint.safetensors`, config, "run");
  }
  return await openCheckpoint(path, null, "checkpoint");
}

async function openCheckpoint(
  file: string,
  known: DistillConfig | null,
  kind: "run" | "checkpoint",
): Promise<SavedStudent> {
  let ck;
  try {
    ck = await loadCheckpoint(file);
  } catch (e) {
    throw new Error(
      `"${file}": not a ${CHECKPOINT_FORMAT} file (${(e as Error).message}); ${WHAT}`,
    );
  }
  try {
    const config = known ??
      parseConfig(JSON.stringify(ck.config ?? null), { source: `${file} (embedded config)` });
    const arch = { name: config.student.architecture, args: config.student.args };
    const student = createModel(arch.name as ModelName, { ...arch.args, seed: config.seed });
    const bias = ck.variables["head/2.bias"]; // the head's output layer, when there is one
    const head = bias
      ? createProjectionHead(student.featureDim, bias.shape[0], {
        hidden: config.student.headHidden,
        seed: config.seed + 1,
      })
      : undefined;
    try {
      restoreVariables(checkpointVariables(student, head), ck.variables);
    } catch (e) {
      student.dispose();
      head?.dispose();
      throw new Error(`"${file}": ${(e as Error).message}`);
    }
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : ".";
    const metrics = await Deno.readTextFile(`${dir}/metrics.jsonl`).catch(() => undefined);
    return { kind, config, student, head, architecture: arch, step: ck.step, metrics };
  } finally {
    const all = [...Object.values(ck.variables), ...Object.values(ck.optimizer)] as tf.Tensor[];
    all.forEach((t) => t.dispose());
  }
}

async function openExport(dir: string): Promise<SavedStudent> {
  const card = await readJson(`${dir}/card.json`) as ModelCard;
  const recipe = card.recipe
    ? parseConfig(JSON.stringify(card.recipe), { source: `${dir}/card.json (recipe)` })
    : null;
  const known = (listModels() as readonly string[]).includes(card.architecture);
  // A card records the model's resolved arguments (e.g. a ResNet's depth); the registry
  // name already implies some of them, so keep only what the registry takes.
  const args = known
    ? Object.fromEntries(
      Object.entries(card.args).filter(([k]) => modelArgNames(card.architecture).includes(k)),
    )
    : card.args;
  let student: Embedder & { dispose(): void };
  if (card.format === "tfjs-graph-model") {
    student = await loadTfjsTeacher(`${dir}/model.json`, {
      output: card.signature?.output ?? "embedding",
    });
  } else if (card.format === "pytorch-safetensors") {
    student = await loadSafetensorsModel(
      `${dir}/model.safetensors`,
      card.architecture as ModelName,
      args,
    );
  } else {
    throw new Error(`"${dir}/card.json": unknown export format "${card.format}"; ${WHAT}`);
  }
  return {
    kind: "export",
    config: recipe,
    student,
    architecture: known ? { name: card.architecture, args } : undefined,
    card,
  };
}
