/**
 * Load a frozen teacher from a tfjs `model.json` (a layers model or a
 * converted graph model) and use it as an {@linkcode Embedder}.
 *
 * CoSS takes teacher features after the last ReLU and the global average
 * pool. So when the chosen output is a feature map `[B, H, W, C]`, `embed`
 * averages it over `H` and `W` to `[B, C]`; a `[B, D]` output is returned
 * as-is.
 *
 * @example Use a converted ResNet's last ReLU as the embedding
 * ```ts ignore
 * import { loadTfjsTeacher } from "./tfjs_teacher.ts";
 *
 * const teacher = await loadTfjsTeacher("models/resnet18/model.json", {
 *   output: "StatefulPartitionedCall/resnet18/layer4/1/relu_1/Relu",
 * });
 * console.log(teacher.kind, teacher.featureDim); // "graph" 512
 * teacher.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fileSystemHandler } from "../io/tfjs_files.ts";
import { nonFiniteKind, NonFiniteWeightsError } from "./finite_weights.ts";
import type { Embedder, EmbedOptions } from "./types.ts";
import type {
  GraphModel,
  LayersModel,
  ModelArtifacts,
  Tensor,
  Tensor2D,
  Tensor4D,
} from "../tf_types.ts";

/** The kinds of tfjs model a teacher can be loaded from. */
export type TfjsModelFormat = "auto" | "layers" | "graph";

/** Options for {@linkcode loadTfjsTeacher}. */
export interface TfjsTeacherOptions {
  /**
   * Which loader to use. `"auto"` reads model.json's `format` field
   * (`"layers-model"` or `"graph-model"`), else the topology's shape (a
   * GraphDef `node` list, or a Keras `class_name` / `model_config`).
   *
   * @default {"auto"}
   */
  format?: TfjsModelFormat;
  /**
   * The embedding: for a layers model, the name of a top-level layer whose
   * output is used; for a graph model, a node name (optionally `name:index`)
   * or a signature output key. An unknown name is an error that lists the
   * available names.
   *
   * @default {undefined} the model's (first) output
   */
  output?: string;
  /**
   * Image shape `[H, W, C]` used to probe a graph model's `featureDim` with one
   * zero image when the model's own input shape is not fully known.
   *
   * @default {undefined} the model's input shape
   */
  inputShape?: [number, number, number];
}

/** A frozen tfjs model used as a teacher; see {@linkcode loadTfjsTeacher}. */
export interface TfjsTeacher extends Embedder {
  /** Which tfjs loader produced the model. */
  readonly kind: "layers" | "graph";
  /** The layer or node whose output is the embedding. */
  readonly outputName: string;
  /** The model's input shape `[B, H, W, C]`; `null` where not fixed (always the batch). */
  readonly inputShape: readonly (number | null)[];
  /**
   * Width of the embedding. Known after load, except for a graph model whose
   * input shape is not fully known, whose output has no signature shape, and
   * which was loaded without `options.inputShape`: then reading it before the
   * first `embed` throws, and the first `embed` sets it.
   */
  readonly featureDim: number;
  /** The underlying tfjs model, for inspection; do not train it. */
  readonly model: LayersModel | GraphModel;
  /**
   * Images `[B, H, W, C]` to features `[B, featureDim]`, always in inference
   * mode: the teacher is frozen, so `training: true` is ignored (batch norm
   * uses its running averages, dropout is off). Synchronous, tidy.
   */
  embed(x: Tensor4D, options?: EmbedOptions): Tensor2D;
  /** Release the model's weights. The teacher cannot be used afterwards. */
  dispose(): void;
}

type Shape = (number | null)[];

const showShape = (shape: readonly (number | null)[]) =>
  `[${shape.map((d) => d ?? "?").join(", ")}]`;

function listNames(names: string[], max = 20): string {
  if (names.length <= max) return names.map((n) => `"${n}"`).join(", ");
  // The last names are the ones nearest the output, the usual embedding choice.
  const shown = names.slice(-max).map((n) => `"${n}"`).join(", ");
  return `${names.length - max} earlier names, then ${shown}`;
}

function featureDimOf(shape: readonly (number | null)[] | undefined, where: string): number {
  if (shape === undefined) return NaN;
  if (shape.length !== 2 && shape.length !== 4) {
    throw new RangeError(
      `${where} has shape ${showShape(shape)}: expected [B, D] or a feature map [B, H, W, C]`,
    );
  }
  const d = shape[shape.length - 1];
  return d !== null && d > 0 ? d : NaN;
}

class Teacher implements TfjsTeacher {
  #featureDim: number;
  #disposed = false;

  constructor(
    readonly kind: "layers" | "graph",
    readonly model: LayersModel | GraphModel,
    readonly outputName: string,
    readonly inputShape: readonly (number | null)[],
    featureDim: number,
    private readonly run: (x: Tensor4D) => Tensor,
    private readonly source: string,
  ) {
    this.#featureDim = featureDim;
  }

  get featureDim(): number {
    if (Number.isNaN(this.#featureDim)) {
      throw new Error(
        `featureDim of teacher "${this.source}" (output "${this.outputName}") is not known ` +
          "until the first embed(); pass options.inputShape to loadTfjsTeacher to probe it at load",
      );
    }
    return this.#featureDim;
  }

  embed(x: Tensor4D, _options?: EmbedOptions): Tensor2D {
    if (this.#disposed) throw new Error(`Teacher "${this.source}" is disposed`);
    const mismatch = x.rank !== 4 ||
      this.inputShape.some((d, i) => i > 0 && d !== null && d !== x.shape[i]);
    if (mismatch) {
      throw new RangeError(
        `Teacher "${this.source}" expects images ${showShape(this.inputShape)}, ` +
          `got ${showShape(x.shape)}`,
      );
    }
    const out = tf.tidy(() => {
      const y = this.run(x);
      const where = `Teacher output "${this.outputName}"`;
      const dim = featureDimOf(y.shape, where);
      if (!Number.isNaN(this.#featureDim) && dim !== this.#featureDim) {
        throw new RangeError(`${where} has width ${dim}, expected featureDim ${this.#featureDim}`);
      }
      this.#featureDim = dim;
      return y.rank === 4 ? tf.mean(y, [1, 2]) : y;
    });
    return out as Tensor2D;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.model.dispose();
  }
}

function detectFormat(
  artifacts: ModelArtifacts,
  requested: TfjsModelFormat,
  file: string,
): "layers" | "graph" {
  const topology = artifacts.modelTopology as Record<string, unknown>;
  const graphLike = Array.isArray(topology?.node);
  const layersLike = typeof topology?.class_name === "string" || topology?.model_config != null;
  const fromField = artifacts.format === "layers-model"
    ? "layers"
    : artifacts.format === "graph-model"
    ? "graph"
    : undefined;
  const format = requested === "auto" ? fromField ?? (graphLike ? "graph" : "layers") : requested;
  if (format === "graph" ? !graphLike : !layersLike) {
    const what = format === "graph" ? "GraphDef `node` list" : "Keras `class_name`";
    const why = requested === "auto"
      ? (fromField ? `its format is "${artifacts.format}"` : "its topology") +
        " says so"
      : `options.format is "${requested}"`;
    throw new SyntaxError(
      `Cannot load tfjs teacher "${file}" as a ${format} model (${why}): ` +
        `its modelTopology has no ${what}`,
    );
  }
  return format;
}

function layersTeacher(model: LayersModel, output: string | undefined, file: string): Teacher {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new RangeError(
      `Teacher "${file}" has ${model.inputs.length} inputs and ${model.outputs.length} ` +
        "outputs: a teacher needs one image input and one output",
    );
  }
  model.trainable = false;
  let net = model;
  let outputName = model.outputs[0].sourceLayer.name;
  let shape = model.outputs[0].shape;
  if (output !== undefined && output !== outputName) {
    const names = model.layers.map((l) => l.name);
    if (!names.includes(output)) {
      throw new RangeError(
        `Teacher "${file}" has no layer "${output}"; its layers are ${listNames(names)}`,
      );
    }
    const layer = model.getLayer(output);
    if (layer.inboundNodes.length !== 1 || Array.isArray(layer.output)) {
      throw new RangeError(
        `Layer "${output}" of teacher "${file}" has several outputs or is used several times`,
      );
    }
    // Shares the layers (and their weights) with `model`: only `model` is disposed.
    net = tf.model({ inputs: model.inputs, outputs: layer.output });
    outputName = output;
    shape = layer.output.shape;
  }
  const featureDim = featureDimOf(shape, `Output "${outputName}" of teacher "${file}"`);
  const inputShape = model.inputs[0].shape;
  checkImageInput(inputShape, file);
  return new Teacher(
    "layers",
    model,
    outputName,
    inputShape,
    featureDim,
    (x) => net.apply(x, { training: false }) as Tensor,
    file,
  );
}

function checkImageInput(shape: Shape, file: string): void {
  if (shape.length !== 4) {
    throw new RangeError(
      `Teacher "${file}" has input shape ${showShape(shape)}: ` +
        "expected images [B, H, W, C]",
    );
  }
}

interface SignatureEntry {
  name?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}

function graphTeacher(
  model: GraphModel,
  artifacts: ModelArtifacts,
  options: TfjsTeacherOptions,
  file: string,
): Teacher {
  if (model.inputs.length !== 1) {
    throw new RangeError(
      `Teacher "${file}" has ${model.inputs.length} inputs ` +
        `(${model.inputNodes.join(", ")}): a teacher needs one image input`,
    );
  }
  const input = model.inputs[0];
  const inputShape: Shape = input.shape?.map((d) => d >= 0 ? d : null) ??
    [null, null, null, null];
  checkImageInput(inputShape, file);
  const nodes = (artifacts.modelTopology as { node?: { name: string; op: string }[] }).node ??
    [];
  const signature = (artifacts.signature ?? {}) as { outputs?: Record<string, SignatureEntry> };
  const sigOutputs = signature.outputs ?? {};
  const outputName = options.output ?? model.outputNodes[0];
  const base = (name: string) => name.replace(/:\d+$/, "");
  const known = new Set([...nodes.map((n) => n.name), ...Object.keys(sigOutputs)]);
  if (!known.has(outputName) && !known.has(base(outputName))) {
    const candidates = nodes.filter((n) => n.op !== "Const" && !n.op.startsWith("Placeholder"))
      .map((n) => n.name);
    throw new RangeError(
      `Teacher "${file}" has no node "${outputName}"; its outputs are ` +
        `${model.outputNodes.map((n) => `"${n}"`).join(", ")} and its operation nodes ` +
        listNames(candidates),
    );
  }
  const run = (x: Tensor4D) => model.execute(x, outputName) as Tensor;
  const where = `Output "${outputName}" of teacher "${file}"`;
  let featureDim = NaN;
  const probe = options.inputShape ??
    (inputShape.slice(1).every((d) => d !== null) ? inputShape.slice(1) as number[] : undefined);
  if (probe) {
    const dtype = (input.dtype ?? "float32") as tf.DataType;
    let shape: number[];
    try {
      shape = tf.tidy(() => {
        const zeros: Tensor = tf.zeros([1, ...probe], dtype);
        return run(zeros as Tensor4D).shape;
      });
    } catch (e) {
      throw new Error(
        `Cannot run teacher "${file}" on one zero image ${showShape([1, ...probe])} ` +
          `to find the width of "${outputName}": ${(e as Error).message}`,
        { cause: e },
      );
    }
    featureDim = featureDimOf(shape, where);
  } else {
    const entry = sigOutputs[outputName] ??
      Object.values(sigOutputs).find((e) => e.name && base(e.name) === base(outputName));
    const dims = entry?.tensorShape?.unknownRank ? undefined : entry?.tensorShape?.dim;
    featureDim = featureDimOf(dims?.map((d) => Number(d.size ?? -1)), where);
  }
  return new Teacher("graph", model, outputName, inputShape, featureDim, run, file);
}

/**
 * Refuse weights holding NaN or Inf before the model is built: they would
 * give all-zero or NaN features that distil into a silent failure.
 */
async function checkFiniteArtifacts(artifacts: tf.io.ModelArtifacts, file: string): Promise<void> {
  if (!artifacts.weightData || !artifacts.weightSpecs?.length) return;
  const named = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  try {
    for (const [name, t] of Object.entries(named)) {
      if (t.dtype !== "float32") continue;
      const kind = nonFiniteKind(await t.data() as Float32Array);
      if (kind) throw new NonFiniteWeightsError(file, name, kind);
    }
  } finally {
    tf.dispose(Object.values(named));
  }
}

/**
 * Load a frozen teacher from a tfjs `model.json` (path or directory) on the
 * local file system.
 *
 * The output is a top-level layer (layers models) or a graph node (graph
 * models); a 4-D output `[B, H, W, C]` is global-average-pooled to `[B, C]`,
 * as CoSS takes teacher features after the last ReLU and the pool. Layers
 * models are marked non-trainable. For a graph model with a fully known
 * input shape, `featureDim` is found by running one zero image.
 *
 * @example Load a saved layers model and embed a batch
 * ```ts ignore
 * import * as tf from "@tensorflow/tfjs";
 * import { loadTfjsTeacher } from "./tfjs_teacher.ts";
 *
 * const teacher = await loadTfjsTeacher("models/teacher", { output: "relu_last" });
 * const features = tf.tidy(() => teacher.embed(tf.zeros([8, 32, 32, 3])));
 * console.log(features.shape); // [8, teacher.featureDim]
 * ```
 *
 * @param path A `model.json` path or its directory.
 * @param options Format, output name, probe shape.
 * @returns The teacher; call `dispose()` when done.
 * @throws {SyntaxError} For a file that is not a tfjs model of the requested format.
 * @throws {RangeError} For an unknown output name, an output that is not 2-D
 *   or 4-D, or a model without exactly one image input.
 */
export async function loadTfjsTeacher(
  path: string,
  options: TfjsTeacherOptions = {},
): Promise<TfjsTeacher> {
  const requested = options.format ?? "auto";
  if (!["auto", "layers", "graph"].includes(requested)) {
    throw new RangeError(`Unknown format "${requested}": expected auto, layers or graph`);
  }
  const artifacts = await fileSystemHandler(path).load!();
  const format = detectFormat(artifacts, requested, path);
  await checkFiniteArtifacts(artifacts, path);
  const memory = { load: () => Promise.resolve(artifacts) };
  if (format === "layers") {
    const model = await tf.loadLayersModel(memory);
    try {
      return layersTeacher(model, options.output, path);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  const model = await tf.loadGraphModel(memory);
  try {
    return graphTeacher(model, artifacts, options, path);
  } catch (e) {
    model.dispose();
    throw e;
  }
}
