/**
 * Open the teacher a config names: the bundled one, a PyTorch safetensors
 * file with its architecture, a tfjs `model.json`, or an ONNX file run in
 * onnxruntime-node.
 *
 * @module
 */
import { loadBundledTeacher } from "../models/bundled.ts";
import { loadSafetensorsModel } from "../models/load.ts";
import { NonFiniteWeightsError } from "../models/finite_weights.ts";
import type { ModelName } from "../models/registry.ts";
import { loadOnnxTeacher } from "../models/onnx_teacher.ts";
import { loadTfjsTeacher } from "../models/tfjs_teacher.ts";
import type { Embedder } from "../models/types.ts";
import type { DistillConfig } from "../config/config.ts";

/** A frozen teacher and what to record about it. */
export interface OpenedTeacher {
  /** The frozen teacher, images to features; dispose it when done. */
  teacher: Embedder & { dispose(): void };
  /** For cards and logs: source, name or path, architecture. */
  description: Record<string, unknown>;
}

/** Options for {@linkcode openTeacher}. */
export interface OpenTeacherOptions {
  /**
   * The normalisation of the images the teacher will receive (`data.mean`,
   * `data.std`): an ONNX teacher re-normalises them to its own.
   * @default {undefined}
   */
  data?: { mean: number[]; std: number[] };
  /**
   * Where the one-line notices go (the ONNX teacher's input, a normalisation mismatch).
   * @default {console.error}
   */
  log?: (line: string) => void;
}

const same = (a: number[] | null, b: number[]) =>
  a !== null && (a.length === b.length || a.length === 1 || b.length === 1) &&
  Array.from(
    { length: Math.max(a.length, b.length) },
    (_, i) => Math.abs((a[i] ?? a[0]) - (b[i] ?? b[0])) < 1e-6,
  ).every(Boolean);

/**
 * Load the teacher of `config.teacher`; errors name the config key and the file.
 *
 * @example
 * The bundled Fashion-MNIST teacher, as the default config names it
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { DEFAULT_CONFIG } from "../config/config.ts";
 * import { openTeacher } from "./open.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const { teacher, description } = await openTeacher(DEFAULT_CONFIG.teacher);
 * console.log(description.source, description.name, teacher.featureDim); // "bundled" "fashion-mnist" 64
 * teacher.dispose();
 * ```
 */
export async function openTeacher(
  config: DistillConfig["teacher"],
  options: OpenTeacherOptions = {},
): Promise<OpenedTeacher> {
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
    ).catch(refuseNonFinite);
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
  if (config.source === "onnx") {
    return await openOnnx(config, config.path, options).catch(refuseNonFinite);
  }
  const teacher = await loadTfjsTeacher(config.path, { output: config.output ?? undefined })
    .catch(refuseNonFinite);
  return {
    teacher,
    description: { source: "tfjs", path: config.path, output: teacher.outputName },
  };
}

/** Rethrow a non-finite weight as the teacher's, in config terms; anything else as it is. */
function refuseNonFinite(e: unknown): never {
  if (!(e instanceof NonFiniteWeightsError)) throw e;
  // Refused at load: all-zero features would otherwise distil into a silent failure.
  throw new Error(
    `teacher weights "${e.file}" (teacher.path): ${e.what} "${e.tensor}" holds non-finite ` +
      `values (${e.kind}); re-export the teacher`,
    { cause: e },
  );
}

async function openOnnx(
  config: DistillConfig["teacher"],
  path: string,
  options: OpenTeacherOptions,
): Promise<OpenedTeacher> {
  const log = options.log ?? ((line: string) => console.error(line));
  const data = options.data;
  const teacher = await loadOnnxTeacher(path, {
    output: config.output,
    tokens: config.tokens,
    ...config.input,
    dataMean: data?.mean,
    dataStd: data?.std,
    threads: config.runtime.threads,
    provider: config.runtime.provider,
  });
  const { input } = teacher;
  const from = [...new Set(Object.values(input.from))].join(", ");
  log(
    `teacher: ONNX "${path}" output "${teacher.outputName}" (${teacher.featureDim}-d), input ` +
      `"${input.name}" ${input.layout} ${input.channels}×${input.size.join("×")} (from ${from}), ` +
      `onnxruntime-node ${config.runtime.provider}, ` +
      `${config.runtime.threads || "default"} threads`,
  );
  if (
    data && input.mean && input.std && !(same(input.mean, data.mean) && same(input.std, data.std))
  ) {
    log(
      `teacher normalisation differs from the student's: teacher mean [${input.mean}] std ` +
        `[${input.std}], data mean [${data.mean}] std [${data.std}]; ` +
        "the teacher's inputs are re-normalised to its own",
    );
  }
  return {
    teacher,
    description: {
      source: "onnx",
      path,
      output: teacher.outputName,
      tokens: config.tokens,
      input: { size: input.size, mean: input.mean, std: input.std, layout: input.layout },
    },
  };
}
