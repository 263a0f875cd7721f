/**
 * A frozen teacher from any ONNX image model (a PyTorch `torch.onnx.export`,
 * DINOv2, a CLIP image tower, our own student export), run natively by
 * onnxruntime-node with a chosen thread count and execution provider.
 *
 * The teacher receives the same NHWC batches as a tfjs teacher, normalised
 * the way the run's data is (`dataMean`/`dataStd`). When the model expects
 * another normalisation (from the options or a `card.json` next to it), the
 * pixels are re-normalised; a grey image is repeated over three channels for
 * an RGB model; images are resized (bilinear) to the model's input size and
 * transposed to NCHW unless the model is NHWC. The output is the named one:
 * `[B, D]` as is, tokens `[B, N, D]` as the CLS token or the mean of the
 * patch tokens, and a feature map `[B, C, H, W]` averaged over space.
 *
 * onnxruntime runs asynchronously, so the teacher offers
 * {@linkcode OnnxTeacher.embedAsync}; the teacher cache, the training step
 * and feature extraction call it through `embedInference`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { InferenceSession, Tensor as OrtTensor } from "onnxruntime-node";
import proto from "onnx-proto";
import { sha256 } from "../util/hash.ts";
import { checkFiniteOnnx } from "./_onnx_finite.ts";
import {
  describeValues,
  type OnnxInputSpec,
  readOnnxCard,
  resolveInputSpec,
  type ValueInfo,
} from "./_onnx_teacher_spec.ts";
import type { Embedder } from "./types.ts";
import type { Tensor2D, Tensor4D } from "../tf_types.ts";

export type { OnnxInputSpec };

/** Options for {@linkcode loadOnnxTeacher}. */
export interface OnnxTeacherOptions {
  /**
   * The output to use, by name; an unknown name is an error listing the valid ones.
   * @default {undefined} the model's first output
   */
  output?: string | null;
  /**
   * For a token output `[B, N, D]`: the first (CLS) token, or the mean of tokens 1…N−1.
   * @default {"cls"}
   */
  tokens?: "cls" | "mean";
  /**
   * Input height and width.
   * @default {undefined} the card's `inputSize`, else the model's fixed input shape
   */
  size?: [number, number] | null;
  /**
   * Per-channel mean the model expects on `[0, 1]` pixels.
   * @default {undefined} the card's, else the images are passed as normalised
   */
  mean?: number[] | null;
  /**
   * Per-channel std the model expects.
   * @default {undefined} the card's, else the images are passed as normalised
   */
  std?: number[] | null;
  /**
   * The model's input layout.
   * @default {undefined} the card's, else `"NCHW"`
   */
  layout?: "NCHW" | "NHWC" | null;
  /**
   * Per-channel mean of the images `embed` receives (the run's `data.mean`).
   * @default {undefined} images are taken to be normalised as the model expects
   */
  dataMean?: number[];
  /**
   * Per-channel std of the images `embed` receives (the run's `data.std`).
   * @default {undefined}
   */
  dataStd?: number[];
  /**
   * onnxruntime's intra-op threads; 0 lets it choose.
   * @default {0}
   */
  threads?: number;
  /**
   * Execution provider.
   * @default {"cpu"}
   */
  provider?: "cpu" | "cuda";
}

/** A frozen ONNX model used as a teacher; see {@linkcode loadOnnxTeacher}. */
export interface OnnxTeacher extends Embedder {
  /** Always `"onnx"`. */
  readonly kind: "onnx";
  /** The model file. */
  readonly path: string;
  /** The output used. */
  readonly outputName: string;
  /** The input and its preprocessing. */
  readonly input: OnnxInputSpec;
  /** Width of the features. */
  readonly featureDim: number;
  /** Throws: onnxruntime is asynchronous; use {@linkcode OnnxTeacher.embedAsync}. */
  embed(x: Tensor4D): Tensor2D;
  /** Images `[B, H, W, C]` (normalised as the data is) to features `[B, featureDim]`. */
  embedAsync(x: Tensor4D): Promise<Tensor2D>;
  /** SHA-256 of the file and every setting that changes the features (the cache key). */
  fingerprint(): Promise<string>;
  /** Release the session. */
  dispose(): void;
}

type Ort = typeof import("onnxruntime-node");

/**
 * Decode the model: a file that does not parse as an ONNX ModelProto with a
 * graph is a one-line SyntaxError.
 */
function decodeOnnx(path: string, bytes: Uint8Array): proto.onnx.ModelProto {
  let problem: string | undefined;
  let model: proto.onnx.ModelProto | undefined;
  try {
    model = proto.onnx.ModelProto.decode(bytes);
    if (!model.graph?.node?.length) problem = "it holds no graph";
  } catch (e) {
    problem = firstLine(e);
  }
  if (problem || !model) {
    throw new SyntaxError(
      `Cannot load ONNX teacher "${path}": not a complete ONNX model (${problem}, ` +
        `${bytes.byteLength} bytes); re-export or re-download it (teacher.path)`,
    );
  }
  return model;
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split("\n")[0].trim();

function valueInfo(m: InferenceSession.ValueMetadata): ValueInfo {
  return m.isTensor
    ? { name: m.name, isTensor: true, type: m.type, shape: m.shape }
    : { name: m.name, isTensor: false };
}

class Teacher implements OnnxTeacher {
  readonly kind = "onnx";
  #featureDim = NaN;
  #disposed = false;

  constructor(
    readonly path: string,
    readonly input: OnnxInputSpec,
    readonly outputName: string,
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    private readonly options: OnnxTeacherOptions,
    private readonly bytes: Uint8Array,
  ) {}

  get featureDim(): number {
    return this.#featureDim;
  }

  embed(): Tensor2D {
    throw new TypeError(
      `ONNX teacher "${this.path}" runs asynchronously in onnxruntime: call embedAsync(x) ` +
        "(or embedInference(model, x)) instead of embed(x)",
    );
  }

  /** NHWC data-normalised images to the model's input, as a float32 array and its dims. */
  #prepare(x: Tensor4D): tf.Tensor4D {
    const { size, layout, channels, mean, std } = this.input;
    const { dataMean, dataStd } = this.options;
    return tf.tidy(() => {
      let y: tf.Tensor4D = x;
      const renorm = mean && std && dataMean && dataStd;
      if (renorm) y = tf.add(tf.mul(y, dataStd), dataMean); // back to [0, 1] pixels
      if (y.shape[3] === 1 && channels === 3) y = tf.tile(y, [1, 1, 1, 3]);
      if (renorm) y = tf.div(tf.sub(y, mean), std);
      if (y.shape[1] !== size[0] || y.shape[2] !== size[1]) {
        y = tf.image.resizeBilinear(y, size, false, true);
      }
      return layout === "NCHW" ? tf.transpose(y, [0, 3, 1, 2]) : y;
    });
  }

  async embedAsync(x: Tensor4D): Promise<Tensor2D> {
    if (this.#disposed) throw new Error(`ONNX teacher "${this.path}" is disposed`);
    if (x.rank !== 4 || (x.shape[3] !== this.input.channels && x.shape[3] !== 1)) {
      throw new RangeError(
        `ONNX teacher "${this.path}" takes images [B, H, W, ${this.input.channels}] ` +
          `(or 1 channel, repeated), got [${x.shape}]`,
      );
    }
    const prepared = this.#prepare(x);
    let data: Float32Array;
    try {
      data = await prepared.data() as Float32Array;
    } finally {
      prepared.dispose();
    }
    const feeds = { [this.input.name]: new this.ort.Tensor("float32", data, prepared.shape) };
    const out = (await this.session.run(feeds, [this.outputName]))[this.outputName];
    try {
      return this.#pool(out);
    } finally {
      out.dispose();
    }
  }

  #pool(out: OrtTensor): Tensor2D {
    const dims = out.dims.map(Number);
    const where = `Output "${this.outputName}" of ONNX teacher "${this.path}"`;
    if (out.type !== "float32" || ![2, 3, 4].includes(dims.length)) {
      throw new RangeError(
        `${where} is ${out.type} [${dims}]: expected float32 [B, D], tokens [B, N, D] ` +
          "or a feature map [B, C, H, W]",
      );
    }
    const y = tf.tidy(() => {
      const t = tf.tensor(out.data as Float32Array, dims);
      if (dims.length === 2) return t as Tensor2D;
      if (dims.length === 4) {
        return tf.mean(t, this.input.layout === "NCHW" ? [2, 3] : [1, 2]) as Tensor2D;
      }
      if (this.options.tokens === "mean") {
        if (dims[1] < 2) throw new RangeError(`${where} has ${dims[1]} token: no patch tokens`);
        return tf.mean(tf.slice(t, [0, 1, 0], [-1, -1, -1]), 1) as Tensor2D;
      }
      return tf.reshape(tf.slice(t, [0, 0, 0], [-1, 1, -1]), [dims[0], dims[2]]) as Tensor2D;
    });
    this.#featureDim = y.shape[1];
    return y;
  }

  async fingerprint(): Promise<string> {
    const { dataMean, dataStd, tokens } = this.options;
    const { from: _from, ...input } = this.input;
    return await sha256(JSON.stringify({
      kind: "onnx",
      file: await sha256(this.bytes),
      output: this.outputName,
      tokens: tokens ?? "cls",
      input,
      data: { mean: dataMean ?? null, std: dataStd ?? null },
    }));
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    void this.session.release();
  }
}

/**
 * Load an ONNX image model as a frozen teacher, in onnxruntime-node
 * (imported on first use: it is a native addon, granted by `--allow-ffi`).
 *
 * @example
 * ```ts ignore
 * import * as tf from "@tensorflow/tfjs-core";
 * import { loadOnnxTeacher } from "./onnx_teacher.ts";
 *
 * const teacher = await loadOnnxTeacher("models/dinov2_s.onnx", {
 *   output: "last_hidden_state", tokens: "cls", size: [224, 224],
 *   mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
 *   dataMean: [0.286], dataStd: [0.353], threads: 2,
 * });
 * const features = await teacher.embedAsync(tf.zeros([8, 28, 28, 1]));
 * console.log(features.shape); // [8, 384]
 * teacher.dispose();
 * ```
 *
 * @param path The `.onnx` file.
 * @param options Output, preprocessing and runtime.
 * @returns The teacher; `featureDim` is known (one zero image was run).
 * @throws {SyntaxError} For a file onnxruntime cannot parse (corrupt, truncated, not ONNX).
 * @throws {RangeError} For a float initializer or constant holding NaN or Inf, naming it.
 * @throws {RangeError} For no image input, an unknown output name (listing the valid ones),
 *   a dynamic input size nothing fixes, or an unsupported provider.
 */
export async function loadOnnxTeacher(
  path: string,
  options: OnnxTeacherOptions = {},
): Promise<OnnxTeacher> {
  const bytes = await Deno.readFile(path).catch((e) => {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot open ONNX teacher "${path}": no such file (teacher.path)`);
    }
    throw e;
  });
  const ort: Ort = await import("onnxruntime-node");
  const provider = options.provider ?? "cpu";
  const supported = ort.listSupportedBackends?.().map((b) => b.name) ?? ["cpu"];
  if (!supported.includes(provider)) {
    throw new RangeError(
      `teacher.runtime.provider "${provider}" is not in this onnxruntime-node build ` +
        `(it has ${supported.join(", ")}); use "cpu" or install the CUDA build`,
    );
  }
  // Refused before onnxruntime runs it: NaN or Inf weights give NaN or all-zero features.
  checkFiniteOnnx(path, decodeOnnx(path, bytes));
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: [provider],
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    logSeverityLevel: 3, // errors only: its warnings are about its own graph rewrites
  };
  if (options.threads) sessionOptions.intraOpNumThreads = options.threads;
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (e) {
    throw new Error(`Cannot load ONNX teacher "${path}" in onnxruntime: ${firstLine(e)}`);
  }
  try {
    const outputs = session.outputMetadata.map(valueInfo);
    const outputName = options.output ?? outputs[0].name;
    if (!outputs.some((o) => o.name === outputName)) {
      throw new RangeError(
        `ONNX teacher "${path}" has no output "${outputName}" (teacher.output); ` +
          `its outputs are ${describeValues(outputs)}`,
      );
    }
    const card = await readOnnxCard(path);
    const input = resolveInputSpec(path, session.inputMetadata.map(valueInfo), options, card);
    const teacher = new Teacher(path, input, outputName, ort, session, options, bytes);
    const probe = tf.zeros([1, input.size[0], input.size[1], input.channels]) as Tensor4D;
    try {
      (await teacher.embedAsync(probe)).dispose();
    } catch (e) {
      if (e instanceof RangeError) throw e;
      throw new Error(
        `Cannot run ONNX teacher "${path}" on one zero image ` +
          `[1, ${input.size}, ${input.channels}]: ${firstLine(e)}`,
      );
    } finally {
      probe.dispose();
    }
    return teacher;
  } catch (e) {
    await session.release();
    throw e;
  }
}
