/**
 * What an ONNX teacher expects, resolved from the options, a card next to
 * the model and the model's own input metadata; each failure is one line
 * that names the file, the key and the fix.
 *
 * @module
 */

/** The image preprocessing an ONNX teacher expects. */
export interface OnnxInputSpec {
  /** The image input's name. */
  name: string;
  /** `NCHW` or `NHWC`. */
  layout: "NCHW" | "NHWC";
  /** Channels the model takes. */
  channels: number;
  /** Input height and width. */
  size: [number, number];
  /** Per-channel mean on `[0, 1]` pixels; `null`: the images' own normalisation is used as is. */
  mean: number[] | null;
  /** Per-channel std; `null` with `mean`. */
  std: number[] | null;
  /** Where each value came from, for the log line, e.g. `{ size: "card.json" }`. */
  from: Record<string, string>;
}

/** The keys a card (ours, or a transformers.js preprocessor config) may give. */
export interface OnnxCard {
  inputSize?: [number, number];
  mean?: number[];
  std?: number[];
  layout?: "NCHW" | "NHWC";
  file: string;
}

/** The part of onnxruntime's value metadata used here. */
export interface ValueInfo {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

const dirOf = (path: string) => path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Cannot read card "${file}": ${(e as Error).message}`);
  }
}

/**
 * The card next to `model`: our export's `card.json` (in the model's folder,
 * or its parent for a transformers.js `onnx/model.onnx`), else a
 * transformers.js `preprocessor_config.json`; `undefined` when neither exists.
 */
export async function readOnnxCard(model: string): Promise<OnnxCard | undefined> {
  const dir = dirOf(model);
  const parent = dir.endsWith("/onnx") || dir === "onnx" ? dirOf(dir) : undefined;
  for (const d of parent ? [dir, parent] : [dir]) {
    const file = `${d}/card.json`;
    const card = await readJson(file);
    if (!card) continue;
    return {
      file,
      inputSize: (card.inputSize ?? undefined) as [number, number] | undefined,
      mean: (card.mean ?? undefined) as number[] | undefined,
      std: (card.std ?? undefined) as number[] | undefined,
      layout: card.format === "onnx" ? "NCHW" : card.layout as "NCHW" | "NHWC" | undefined,
    };
  }
  for (const d of parent ? [dir, parent] : [dir]) {
    const file = `${d}/preprocessor_config.json`;
    const pre = await readJson(file);
    if (!pre) continue;
    const size = (pre.crop_size ?? pre.size) as Record<string, number> | number | undefined;
    const side = typeof size === "number"
      ? [size, size]
      : size?.height && size?.width
      ? [size.height, size.width]
      : size?.shortest_edge
      ? [size.shortest_edge, size.shortest_edge]
      : undefined;
    return {
      file,
      inputSize: side as [number, number] | undefined,
      mean: (pre.image_mean ?? undefined) as number[] | undefined,
      std: (pre.image_std ?? undefined) as number[] | undefined,
      layout: "NCHW",
    };
  }
  return undefined;
}

const show = (shape: readonly (number | string)[] | undefined) =>
  shape ? `[${shape.map((d) => typeof d === "number" && d < 0 ? "?" : d).join(", ")}]` : "[?]";

/** `name` type `[dims]`, for listing a model's inputs or outputs. */
export function describeValues(values: readonly ValueInfo[]): string {
  return values.map((v) => `"${v.name}" ${v.type ?? "?"} ${show(v.shape)}`).join(", ");
}

/** Options {@linkcode resolveInputSpec} reads. */
export interface InputRequest {
  size?: [number, number] | null;
  mean?: number[] | null;
  std?: number[] | null;
  layout?: "NCHW" | "NHWC" | null;
}

/**
 * The image input and its preprocessing: options first, then the card, then
 * the model's static shape; a dynamic height or width nobody fixes is an
 * error naming `teacher.input.size`.
 */
export function resolveInputSpec(
  file: string,
  inputs: readonly ValueInfo[],
  request: InputRequest,
  card: OnnxCard | undefined,
): OnnxInputSpec {
  const images = inputs.filter((v) =>
    v.isTensor && v.shape?.length === 4 && (v.type === "float32" || v.type === undefined)
  );
  if (images.length !== 1 || inputs.length !== 1) {
    const why = images.length === 0 ? "no image input" : `${inputs.length} inputs`;
    throw new RangeError(
      `ONNX teacher "${file}" has ${why} (${describeValues(inputs)}): ` +
        "a teacher needs exactly one float32 input of rank 4 (images)",
    );
  }
  const input = images[0];
  const from: Record<string, string> = {};
  const pick = <T>(key: string, option: T | null | undefined, fromCard: T | undefined) => {
    if (option != null) {
      from[key] = "config";
      return option;
    }
    if (fromCard !== undefined && fromCard !== null) {
      from[key] = card!.file;
      return fromCard;
    }
    return undefined;
  };
  const layout = pick("layout", request.layout, card?.layout) ?? "NCHW";
  const dims = input.shape!;
  const [c, h, w] = layout === "NCHW" ? [dims[1], dims[2], dims[3]] : [dims[3], dims[1], dims[2]];
  const fixed = (d: number | string) => typeof d === "number" && d > 0 ? d : undefined;
  let size = pick("size", request.size, card?.inputSize);
  if (!size) {
    const [fh, fw] = [fixed(h), fixed(w)];
    if (fh === undefined || fw === undefined) {
      throw new RangeError(
        `ONNX teacher "${file}": input "${input.name}" ${show(dims)} (${layout}) has a dynamic ` +
          "height or width; set teacher.input.size (e.g. [224, 224]) or put a card.json with " +
          "inputSize next to the model",
      );
    }
    size = [fh, fw];
    from.size = "model";
  } else if ((fixed(h) && fixed(h) !== size[0]) || (fixed(w) && fixed(w) !== size[1])) {
    throw new RangeError(
      `ONNX teacher "${file}": input "${input.name}" ${show(dims)} (${layout}) is fixed at ` +
        `${h}x${w}, but teacher.input.size (${from.size}) says ${size[0]}x${size[1]}`,
    );
  }
  const channels = fixed(c);
  if (channels === undefined) {
    throw new RangeError(
      `ONNX teacher "${file}": input "${input.name}" ${show(dims)} has no fixed channel axis for ` +
        `layout ${layout}; set teacher.input.layout to the model's layout`,
    );
  }
  const mean = pick("mean", request.mean, card?.mean) ?? null;
  const std = pick("std", request.std, card?.std) ?? null;
  for (const [key, v] of [["mean", mean], ["std", std]] as const) {
    if (v && v.length !== channels && v.length !== 1) {
      throw new RangeError(
        `ONNX teacher "${file}": teacher.input.${key} has ${v.length} values (${from[key]}), ` +
          `but the model takes ${channels} channels`,
      );
    }
  }
  if ((mean === null) !== (std === null)) {
    throw new RangeError(
      `ONNX teacher "${file}": teacher.input.mean and teacher.input.std must be given together`,
    );
  }
  return { name: input.name, layout, channels, size, mean, std, from };
}
