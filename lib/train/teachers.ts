/**
 * Open the teacher a config names: the bundled one, a PyTorch safetensors
 * file with its architecture, or a tfjs `model.json`.
 *
 * @module
 */
import { loadBundledTeacher } from "../models/bundled.ts";
import { loadSafetensorsModel } from "../models/load.ts";
import type { ModelName } from "../models/registry.ts";
import { loadTfjsTeacher } from "../models/tfjs_teacher.ts";
import type { Embedder } from "../models/types.ts";
import type { DistillConfig } from "./config.ts";

/** A frozen teacher and what to record about it. */
export interface OpenedTeacher {
  /** The frozen teacher, images to features; dispose it when done. */
  teacher: Embedder & { dispose(): void };
  /** For cards and logs: source, name or path, architecture. */
  description: Record<string, unknown>;
}

/**
 * Load the teacher of `config.teacher`; errors name the config key and the file.
 *
 * @example
 * The bundled Fashion-MNIST teacher, as the default config names it
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { DEFAULT_CONFIG } from "./config.ts";
 * import { openTeacher } from "./teachers.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const { teacher, description } = await openTeacher(DEFAULT_CONFIG.teacher);
 * console.log(description.source, description.name, teacher.featureDim); // "bundled" "fashion-mnist" 64
 * teacher.dispose();
 * ```
 */
export async function openTeacher(config: DistillConfig["teacher"]): Promise<OpenedTeacher> {
  if (config.source === "bundled") {
    const { model, card } = await loadBundledTeacher(config.name);
    return {
      teacher: model,
      description: { source: "bundled", name: config.name, architecture: model.architecture, card },
    };
  }
  if (!config.path) {
    throw new Error(`teacher.path: a ${config.source} teacher needs a file path`);
  }
  if (config.source === "safetensors") {
    if (!config.architecture) {
      throw new Error("teacher.architecture: a safetensors teacher needs its architecture");
    }
    const model = await loadSafetensorsModel(
      config.path,
      config.architecture as ModelName,
      config.args,
      { prefix: config.prefix },
    );
    return {
      teacher: model,
      description: {
        source: "safetensors",
        path: config.path,
        architecture: config.architecture,
        args: config.args,
        prefix: config.prefix,
      },
    };
  }
  const teacher = await loadTfjsTeacher(config.path, { output: config.output ?? undefined });
  return {
    teacher,
    description: { source: "tfjs", path: config.path, output: teacher.outputName },
  };
}
