/**
 * Move weights between the zoo and PyTorch state dicts. The zoo's parameter
 * names are torchvision's (CNNs) and timm's (ViT), so the mapping is by name;
 * only layouts change (OIHW convs to HWIO, `[out,in]` linears to `[in,out]`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { SafetensorsInput } from "../io/safetensors.ts";
import type { Backbone } from "./backbone.ts";
import type { ParamLayout } from "./params.ts";

/** A tensor as read from a file: a shape and row-major values. */
export interface RawTensor {
  /** Dimensions in the file's layout (PyTorch's: OIHW convs, `[out, in]` linears). */
  shape: number[];
  /** The values, row-major, `shape`'s product of them. */
  values: ArrayLike<number>;
}

/** Options for {@linkcode loadTorchWeights}. */
export interface LoadTorchWeightsOptions {
  /**
   * Key prefix to strip, e.g. `module.encoder_q.` (MoCo) or `backbone.` (DINO,
   * solo-learn). Keys without it are skipped, not reported.
   *
   * @default {""}
   */
  prefix?: string;
  /**
   * Throw one error listing every missing, unexpected and mis-shaped tensor
   * (true), or print them as warnings and load the rest (false).
   *
   * @default {true}
   */
  strict?: boolean;
  /**
   * Keys (after the prefix) that are not part of a backbone: classifier heads
   * and batch-norm counters.
   *
   * @default {[/^fc\./, /^head\./, /^classifier\./, /\.num_batches_tracked$/]}
   */
  ignore?: RegExp[];
  /**
   * The file the tensors came from, quoted in messages.
   * @default {"state dict"}
   */
  source?: string;
  /**
   * Where non-strict warnings go.
   * @default {console.warn}
   */
  warn?: (line: string) => void;
}

/** What {@linkcode loadTorchWeights} did. */
export interface LoadReport {
  /** Parameters assigned. */
  loaded: string[];
  /** Model parameters the file lacks. */
  missing: string[];
  /** File tensors the model lacks. */
  unexpected: string[];
  /** Tensors present in both with different shapes (PyTorch layout). */
  mismatched: { name: string; file: number[]; model: number[] }[];
  /** File tensors ignored by `ignore`. */
  ignored: string[];
  /** File tensors outside `prefix`. */
  skipped: number;
}

/** The default `ignore` patterns of {@linkcode loadTorchWeights}. */
export const DEFAULT_IGNORE: readonly RegExp[] = [
  /^fc\./,
  /^head\./,
  /^classifier\./,
  /\.num_batches_tracked$/,
];

const TO_TFJS: Record<ParamLayout, number[] | undefined> = {
  conv: [2, 3, 1, 0],
  depthwise: [2, 3, 0, 1],
  linear: [1, 0],
  plain: undefined,
};

const TO_TORCH: Record<ParamLayout, number[] | undefined> = {
  conv: [3, 2, 0, 1],
  depthwise: [2, 3, 0, 1],
  linear: [1, 0],
  plain: undefined,
};

/**
 * The PyTorch shape of a parameter with tfjs shape `shape`.
 *
 * @example
 * ```ts
 * import { torchShape } from "./torch_weights.ts";
 *
 * console.log(torchShape("conv", [3, 3, 16, 32])); // [32, 16, 3, 3]: OIHW
 * console.log(torchShape("linear", [512, 10])); // [10, 512]: [out, in]
 * ```
 */
export function torchShape(layout: ParamLayout, shape: number[]): number[] {
  const perm = TO_TORCH[layout];
  return perm ? perm.map((p) => shape[p]) : shape;
}

function list(items: string[], limit = 6): string {
  const head = items.slice(0, limit).join(", ");
  return items.length > limit ? `${head} and ${items.length - limit} more` : head;
}

/**
 * Assign PyTorch tensors to `model`'s parameters by name, converting layouts.
 *
 * @example
 * ```ts ignore
 * import { readSafetensors } from "../io/safetensors.ts";
 * import { ResNet } from "./resnet.ts";
 * import { loadTorchWeights } from "./torch_weights.ts";
 *
 * const teacher = new ResNet({ depth: 50 });
 * const st = await readSafetensors("moco_v2_800ep.safetensors");
 * loadTorchWeights(teacher, st.tensors, { prefix: "module.encoder_q.", source: "moco_v2_800ep.safetensors" });
 * ```
 *
 * @param model The backbone to fill.
 * @param tensors Tensors by PyTorch name (e.g. a safetensors file's `tensors`).
 * @param options Prefix, strictness and ignore patterns.
 * @returns What was loaded, missing, unexpected or mis-shaped.
 * @throws {Error} In strict mode, one error naming every problem.
 */
export function loadTorchWeights(
  model: Backbone,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  options: LoadTorchWeightsOptions = {},
): LoadReport {
  const prefix = options.prefix ?? "";
  const ignore = options.ignore ?? DEFAULT_IGNORE;
  const source = options.source ?? "state dict";
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const report: LoadReport = {
    loaded: [],
    missing: [],
    unexpected: [],
    mismatched: [],
    ignored: [],
    skipped: 0,
  };
  const found = new Map<string, RawTensor>();
  for (const [key, t] of entries) {
    if (!key.startsWith(prefix)) {
      report.skipped++;
      continue;
    }
    const name = key.slice(prefix.length);
    if (ignore.some((re) => re.test(name))) report.ignored.push(name);
    else if (!model.params.entry(name)) report.unexpected.push(name);
    else found.set(name, t);
  }
  const assignments: [tf.Variable, RawTensor, ParamLayout][] = [];
  for (const [name, entry] of model.params.entries()) {
    const t = found.get(name);
    if (!t) {
      report.missing.push(name);
      continue;
    }
    const want = torchShape(entry.layout, entry.variable.shape);
    if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) {
      report.mismatched.push({ name, file: t.shape, model: want });
      continue;
    }
    assignments.push([entry.variable, t, entry.layout]);
    report.loaded.push(name);
  }
  const problems: string[] = [];
  if (report.missing.length) {
    problems.push(`${report.missing.length} missing (${list(report.missing)})`);
  }
  if (report.unexpected.length) {
    problems.push(`${report.unexpected.length} unexpected (${list(report.unexpected)})`);
  }
  if (report.mismatched.length) {
    const shapes = report.mismatched.map((m) =>
      `${m.name}: file [${m.file}] vs model [${m.model}]`
    );
    problems.push(`${report.mismatched.length} mis-shaped (${list(shapes, 4)})`);
  }
  if (entries.length === report.skipped) {
    problems.unshift(`no tensors${prefix ? ` start with prefix "${prefix}"` : ""}`);
  }
  const where = `Cannot load weights from "${source}" into ${model.architecture}`;
  // Every name found but shapes off: the file is another width, stem or input channels.
  const hint = report.mismatched.length && !report.missing.length
    ? `; the file holds a ${model.architecture} of other arguments: set them to match ` +
      `(now ${JSON.stringify(model.args)})`
    : prefix || report.loaded.length > 0
    ? ""
    : "; if the keys have a prefix such as module.encoder_q. or backbone., pass it as prefix";
  if (problems.length && (options.strict ?? true)) {
    throw new Error(`${where}: ${problems.join("; ")}${hint}`);
  }
  for (const p of problems) (options.warn ?? console.warn)(`warning: ${where}: ${p}${hint}`);
  for (const [variable, t, layout] of assignments) {
    tf.tidy(() => {
      const raw = tf.tensor(Float32Array.from(t.values), t.shape, "float32");
      const perm = TO_TFJS[layout];
      variable.assign(perm ? tf.transpose(raw, perm) : raw);
    });
  }
  return report;
}

/**
 * `model`'s parameters as a PyTorch state dict (PyTorch names and layouts),
 * ready for {@linkcode writeSafetensors}; batch-norm layers get the
 * `num_batches_tracked` counters torchvision's strict loading expects.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createModel } from "./registry.ts";
 * import { torchStateDict } from "./torch_weights.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const model = createModel("resnet18", { stem: "cifar", width: 0.125, inChannels: 1 });
 * const state = await torchStateDict(model);
 * console.log(state["conv1.weight"].shape); // [8, 1, 3, 3]
 * console.log("bn1.num_batches_tracked" in state); // true
 * model.dispose();
 * ```
 *
 * @param model The backbone to export.
 * @returns Tensors by PyTorch name.
 */
export async function torchStateDict(model: Backbone): Promise<Record<string, SafetensorsInput>> {
  const out: Record<string, SafetensorsInput> = {};
  for (const [name, entry] of model.params.entries()) {
    const perm = TO_TORCH[entry.layout];
    const t = perm ? tf.transpose(entry.variable, perm) : entry.variable;
    const values = await t.data<"float32">();
    if (t !== entry.variable) t.dispose();
    out[name] = { shape: torchShape(entry.layout, entry.variable.shape), values };
    if (name.endsWith(".running_mean")) {
      const counter = `${name.slice(0, -".running_mean".length)}.num_batches_tracked`;
      out[counter] = { dtype: "I64", shape: [], values: [0] };
    }
  }
  return out;
}
