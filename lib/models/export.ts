/**
 * Export a trained student so other tools can load it: a tfjs graph model
 * (`model.json` + `weights.bin`, loads with stock `tf.loadGraphModel` in
 * browsers, Node and Deno), a PyTorch state dict in safetensors (torchvision
 * names for the ResNet family, timm names for ViT), or ONNX (`model.onnx`
 * for onnxruntime, PyTorch and every ONNX tool, plus the folder transformers.js
 * loads as a feature extractor; see onnx_export.ts). Every export carries a
 * `card.json`, like timm's pretrained configs. The projection head is never
 * exported: only the backbone's pooled features are.
 *
 * @module
 */
import type * as tfTypes from "@tensorflow/tfjs-core";
import meta from "../../deno.json" with { type: "json" };
import { writeFileAtomic } from "../io/atomic.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { fileSystemHandler } from "../io/tfjs_files.ts";
import { GraphOps } from "./_graph_ops.ts";
import { ONNX_INPUT, ONNX_OUTPUT, writeOnnxExport } from "./onnx_export.ts";
import type { Backbone } from "./backbone.ts";
import { torchStateDict } from "./torch_weights.ts";
import type { ModelArtifacts } from "../tf_types.ts";

/** Export formats. */
export type ExportFormat = "tfjs" | "safetensors" | "onnx";

/** Options for {@linkcode exportStudent}. */
export interface ExportOptions {
  /**
   * `tfjs` (graph model), `safetensors` (PyTorch state dict) or `onnx`
   * (`model.onnx`, NCHW, plus the transformers.js folder).
   * @default {"tfjs"}
   */
  format?: ExportFormat;
  /**
   * Input height and width the student was trained at, for the card.
   * @default {undefined}
   */
  inputSize?: [number, number];
  /**
   * Per-channel mean subtracted from images before the model.
   * @default {undefined}
   */
  mean?: number[];
  /**
   * Per-channel std images are divided by.
   * @default {undefined}
   */
  std?: number[];
  /**
   * The teacher the student was distilled from (name, source, weights file).
   * @default {undefined}
   */
  teacher?: Record<string, unknown>;
  /**
   * How it was trained (loss, epochs, data, seed, ...).
   * @default {undefined}
   */
  recipe?: Record<string, unknown>;
  /**
   * Evaluation results, each with its protocol.
   * @default {undefined}
   */
  metrics?: Record<string, unknown>;
  /**
   * Replace an export already in `dir`.
   * @default {false}
   */
  overwrite?: boolean;
}

/** The `card.json` written with every export. */
export interface ModelCard {
  /** What the export holds: a tfjs graph model, a PyTorch state dict in safetensors, or ONNX. */
  format: "tfjs-graph-model" | "pytorch-safetensors" | "onnx";
  /** Registry name of the backbone, e.g. `"resnet18"` (see {@linkcode createModel}). */
  architecture: string;
  /** The resolved constructor arguments, enough to rebuild the model with {@linkcode createModel}. */
  args: Record<string, unknown>;
  /** Width of the pooled features the model outputs, `[B, featureDim]`. */
  featureDim: number;
  /** Image channels the model expects (1 for Fashion-MNIST, 3 for RGB). */
  inChannels: number;
  /** Layout of the model's input: NHWC for tfjs, NCHW for PyTorch and ONNX. */
  layout: "NHWC" | "NCHW";
  /** Input height and width the student was trained at; `null` when unknown. */
  inputSize: [number, number] | null;
  /** Per-channel mean to subtract from `[0, 1]` pixels before the model; `null` when unknown. */
  mean: number[] | null;
  /** Per-channel std to divide by after subtracting `mean`; `null` when unknown. */
  std: number[] | null;
  /** Number of trainable scalars in the backbone. */
  parameters: number;
  /** The model files written next to the card, e.g. `["model.json", "weights.bin"]`. */
  files: string[];
  /** Graph input and output names (tfjs and ONNX; `null` for safetensors). */
  signature: { input: string; output: string } | null;
  /** The teacher the student was distilled from, as given in the options; `null` if not given. */
  teacher: Record<string, unknown> | null;
  /** How the student was trained, as given in the options; `null` if not given. */
  recipe: Record<string, unknown> | null;
  /** Evaluation results with their protocols, as given in the options; `null` if not given. */
  metrics: Record<string, unknown> | null;
  /** The toolkit that wrote the export, `name@version`. */
  toolkit: string;
  /** When the export was written, as an ISO 8601 UTC timestamp. */
  created: string;
}

/** The name of the exported graph's input node. */
export const GRAPH_INPUT = "images";
/** The name of the exported graph's output node. */
export const GRAPH_OUTPUT = "embedding";

const OUTPUTS = ["card.json", "model.json", "weights.bin", "model.safetensors", "model.onnx"];
const CARD_FORMATS = {
  tfjs: "tfjs-graph-model",
  safetensors: "pytorch-safetensors",
  onnx: "onnx",
} as const;

/**
 * The model's inference-mode forward pass as tfjs graph-model artifacts.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { graphModelArtifacts } from "./export.ts";
 * import { createModel } from "./registry.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const student = createModel("resnet18", { stem: "cifar", width: 0.125, inChannels: 1 });
 * const artifacts = await graphModelArtifacts(student);
 * console.log(artifacts.format, artifacts.weightSpecs?.length); // "graph-model" and one spec per tensor
 * student.dispose();
 * ```
 */
export async function graphModelArtifacts(model: Backbone): Promise<ModelArtifacts> {
  const g = new GraphOps(model.params);
  try {
    const size = model.inputSize ?? -1;
    const input = g.placeholder(GRAPH_INPUT, [-1, size, size, model.inChannels]);
    g.output(model.forward(g, input), GRAPH_OUTPUT);
    const weightSpecs: tfTypes.io.WeightsManifestEntry[] = [];
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const c of g.consts) {
      const data = await c.tensor.data();
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      parts.push(bytes);
      total += bytes.byteLength;
      weightSpecs.push({
        name: c.name,
        shape: c.tensor.shape,
        dtype: c.tensor.dtype as "float32" | "int32",
      });
    }
    const weightData = new Uint8Array(total);
    let offset = 0;
    for (const p of parts) {
      weightData.set(p, offset);
      offset += p.byteLength;
    }
    return {
      format: "graph-model",
      generatedBy: `${meta.name}@${meta.version}`,
      convertedBy: null,
      modelTopology: { node: g.nodes, library: {}, versions: { producer: 1 } },
      weightSpecs,
      weightData: weightData.buffer,
      userDefinedMetadata: { architecture: model.architecture, featureDim: model.featureDim },
    };
  } finally {
    g.dispose();
  }
}

async function guardDirectory(dir: string, overwrite: boolean): Promise<void> {
  try {
    const stat = await Deno.stat(dir);
    if (!stat.isDirectory) {
      throw new Error(`Cannot export to "${dir}": it is a file, not a directory`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      await Deno.mkdir(dir, { recursive: true });
      return;
    }
    throw e;
  }
  if (overwrite) return;
  for (const name of OUTPUTS) {
    try {
      await Deno.stat(`${dir}/${name}`);
      throw new Error(
        `Cannot export to "${dir}": it already holds an export (${name}); ` +
          "pass overwrite: true or choose another directory",
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/**
 * Export `model`'s backbone to `dir` with a `card.json`.
 *
 * @example Export a student for the browser
 * ```ts ignore
 * import { createModel } from "./registry.ts";
 * import { exportStudent } from "./export.ts";
 *
 * const student = createModel("resnet18", { stem: "cifar", inChannels: 1 });
 * // ... distil ...
 * await exportStudent(student, "runs/fmnist/student", { inputSize: [28, 28], mean: [0.286], std: [0.353] });
 * ```
 *
 * @param model The trained backbone (without its projection head).
 * @param dir The output directory; created if missing.
 * @param options Format and card contents.
 * @returns The card that was written.
 * @throws {Error} When `dir` already holds an export and `overwrite` is not set.
 */
export async function exportStudent(
  model: Backbone,
  dir: string,
  options: ExportOptions = {},
): Promise<ModelCard> {
  const format = options.format ?? "tfjs";
  if (!(format in CARD_FORMATS)) {
    throw new RangeError(
      `Unknown export format "${format}": expected "tfjs", "safetensors" or "onnx"`,
    );
  }
  await guardDirectory(dir, options.overwrite ?? false);
  const size = model.inputSize;
  const inputSize = options.inputSize ?? (size ? [size, size] : null);
  let files: string[];
  if (format === "tfjs") {
    await fileSystemHandler(`${dir}/model.json`).save!(await graphModelArtifacts(model));
    files = ["model.json", "weights.bin"];
  } else if (format === "onnx") {
    files = await writeOnnxExport(model, dir, {
      inputSize,
      mean: options.mean,
      std: options.std,
    });
  } else {
    await writeSafetensors(`${dir}/model.safetensors`, await torchStateDict(model), {
      format: "pt",
      architecture: model.architecture,
    });
    files = ["model.safetensors"];
  }
  const card: ModelCard = {
    format: CARD_FORMATS[format],
    architecture: model.architecture,
    args: model.args,
    featureDim: model.featureDim,
    inChannels: model.inChannels,
    layout: format === "tfjs" ? "NHWC" : "NCHW",
    inputSize,
    mean: options.mean ?? null,
    std: options.std ?? null,
    parameters: model.parameterCount,
    files,
    signature: format === "tfjs"
      ? { input: GRAPH_INPUT, output: GRAPH_OUTPUT }
      : format === "onnx"
      ? { input: ONNX_INPUT, output: ONNX_OUTPUT }
      : null,
    teacher: options.teacher ?? null,
    recipe: options.recipe ?? null,
    metrics: options.metrics ?? null,
    toolkit: `${meta.name}@${meta.version}`,
    created: new Date().toISOString(),
  };
  const text = new TextEncoder().encode(JSON.stringify(card, null, 2) + "\n");
  await writeFileAtomic(`${dir}/card.json`, text);
  return card;
}
