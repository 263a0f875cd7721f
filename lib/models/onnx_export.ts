/**
 * The ONNX export of a student: `model.onnx` (opset 17, NCHW float input
 * with a dynamic batch) written from the same symbolic forward as the tfjs
 * graph model, plus the folder transformers.js reads (`onnx/model.onnx`,
 * `config.json`, `preprocessor_config.json`).
 *
 * @module
 */
import meta from "../../deno.json" with { type: "json" };
import { writeFileAtomic } from "../io/atomic.ts";
import { OnnxOps } from "./_onnx_ops.ts";
import { encodeOnnx, ONNX_OPSET } from "./_onnx_proto.ts";
import type { Backbone } from "./backbone.ts";

export { ONNX_OPSET };

/** The ONNX graph's input: `[batch, C, H, W]` float pixels, normalised; the name transformers.js feeds. */
export const ONNX_INPUT = "pixel_values";
/** The ONNX graph's output, `[batch, featureDim]`; transformers.js returns it as the features. */
export const ONNX_OUTPUT = "image_embeds";

/** The preprocessing an ONNX export records (from the card). */
export interface OnnxPreprocessing {
  /**
   * Input height and width; the graph fixes them when the model needs one size (ViT).
   * @default {undefined}
   */
  inputSize?: [number, number] | null;
  /**
   * Per-channel mean subtracted from `[0, 1]` pixels.
   * @default {undefined}
   */
  mean?: number[] | null;
  /**
   * Per-channel std the centred pixels are divided by.
   * @default {undefined}
   */
  std?: number[] | null;
}

/**
 * The model's inference-mode forward pass as an ONNX file (opset 17): input
 * {@linkcode ONNX_INPUT} `[batch, C, H, W]` (batch symbolic; height and width
 * fixed for a ViT, symbolic otherwise), output {@linkcode ONNX_OUTPUT}
 * `[batch, featureDim]`.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { onnxModelBytes } from "./onnx_export.ts";
 * import { createModel } from "./registry.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const student = createModel("resnet18", { stem: "cifar", width: 0.125, inChannels: 1 });
 * const bytes = await onnxModelBytes(student, { inputSize: [28, 28], mean: [0.286], std: [0.353] });
 * console.log(bytes.byteLength > 100_000); // true: 175k float32 weights
 * student.dispose();
 * ```
 *
 * @param model The backbone.
 * @param pre The preprocessing, stored in the file's metadata.
 * @returns The `.onnx` file's bytes.
 */
export async function onnxModelBytes(
  model: Backbone,
  pre: OnnxPreprocessing = {},
): Promise<Uint8Array> {
  const g = new OnnxOps(model.params);
  try {
    const size = model.inputSize;
    const input = g.input(ONNX_INPUT);
    g.output(model.forward(g, input), ONNX_OUTPUT);
    const metadata: Record<string, string> = {
      architecture: model.architecture,
      args: JSON.stringify(model.args),
      featureDim: String(model.featureDim),
      layout: "NCHW",
    };
    if (pre.inputSize) metadata.inputSize = JSON.stringify(pre.inputSize);
    if (pre.mean) metadata.mean = JSON.stringify(pre.mean);
    if (pre.std) metadata.std = JSON.stringify(pre.std);
    return await encodeOnnx(g, {
      graphName: model.architecture,
      input: {
        name: ONNX_INPUT,
        dims: ["batch", model.inChannels, size ?? "height", size ?? "width"],
      },
      output: { name: ONNX_OUTPUT, dims: ["batch", model.featureDim] },
      producer: [meta.name, meta.version],
      docString: `${model.architecture} backbone: NCHW images normalised by mean/std ` +
        `to pooled features [batch, ${model.featureDim}]`,
      metadata,
    });
  } finally {
    g.dispose();
  }
}

// transformers.js picks the model class by model_type; these are its encoder-only image models.
const MODEL_TYPES: Record<string, string> = {
  resnet18: "resnet",
  resnet34: "resnet",
  resnet50: "resnet",
  mobilenet_v2: "mobilenet_v2",
  efficientnet_b0: "efficientnet",
  vit: "vit",
};

/** The `config.json` and `preprocessor_config.json` transformers.js reads next to `onnx/model.onnx`. */
export function transformersConfigs(
  model: Backbone,
  pre: OnnxPreprocessing,
): { config: Record<string, unknown>; preprocessor: Record<string, unknown> } {
  const size = pre.inputSize ?? (model.inputSize ? [model.inputSize, model.inputSize] : null);
  const channels = model.inChannels;
  const config = {
    model_type: MODEL_TYPES[model.architecture] ?? model.architecture,
    architectures: [`CoSS${model.architecture}`],
    hidden_size: model.featureDim,
    num_channels: channels,
    image_size: size?.[0] ?? null,
    coss: { architecture: model.architecture, args: model.args, toolkit: meta.version },
  };
  const preprocessor: Record<string, unknown> = {
    image_processor_type: "ViTImageProcessor",
    do_convert_rgb: channels === 3,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: pre.mean != null && pre.std != null,
    image_mean: pre.mean ?? null,
    image_std: pre.std ?? null,
    do_resize: size !== null,
    size: size ? { height: size[0], width: size[1] } : null,
    resample: 2,
    num_channels: channels,
  };
  return { config, preprocessor };
}

/**
 * Write `model.onnx` and the transformers.js folder (`onnx/model.onnx`,
 * `config.json`, `preprocessor_config.json`) into `dir`, each atomically.
 *
 * @returns The files written, relative to `dir`.
 */
export async function writeOnnxExport(
  model: Backbone,
  dir: string,
  pre: OnnxPreprocessing,
): Promise<string[]> {
  const bytes = await onnxModelBytes(model, pre);
  await Deno.mkdir(`${dir}/onnx`, { recursive: true });
  await writeFileAtomic(`${dir}/model.onnx`, bytes);
  await writeFileAtomic(`${dir}/onnx/model.onnx`, bytes);
  const { config, preprocessor } = transformersConfigs(model, pre);
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");
  await writeFileAtomic(`${dir}/config.json`, json(config));
  await writeFileAtomic(`${dir}/preprocessor_config.json`, json(preprocessor));
  return ["model.onnx", "onnx/model.onnx", "config.json", "preprocessor_config.json"];
}
