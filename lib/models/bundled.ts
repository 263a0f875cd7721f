/**
 * Teachers that ship with the toolkit: PyTorch-named safetensors weights and
 * a card (`lib/teachers/<name>/model.safetensors` + `card.json`), produced
 * by `deno task pretrain` from a committed config.
 *
 * The files are read relative to this module: from a local checkout with
 * `--allow-read`, or fetched when the module itself was imported over
 * https (with `--allow-net` for that host).
 *
 * @module
 */
import type { LinearProtocol } from "../eval/linear.ts";
import { parseSafetensors } from "../io/safetensors.ts";
import type { Backbone } from "./backbone.ts";
import { createModel, type ModelName } from "./registry.ts";
import { loadTorchWeights } from "./torch_weights.ts";
import { checkFiniteWeights } from "./finite_weights.ts";

/** The names {@linkcode loadBundledTeacher} accepts. */
export const BUNDLED_TEACHERS: readonly string[] = ["fashion-mnist", "fmnist-resnet18-w025"];

/** A kNN accuracy with its protocol, as written to a card. */
export interface CardKnn {
  /** Test top-1 accuracy in `[0, 1]`. */
  top1: number;
  /** Test top-5 accuracy, null with 5 classes or fewer. */
  top5: number | null;
  /** Neighbours voting. */
  k: number;
  /** Vote temperature of `exp(cos/T)`. */
  t: number;
  /** Test images. */
  n: number;
  /** Training images voting. */
  nTrain: number;
}

/** A linear-probe accuracy with its protocol (lib/eval/linear.ts), as written to a card. */
export interface CardLinear extends LinearProtocol {
  /** Test top-1 accuracy in `[0, 1]`. */
  top1: number;
  /** Test top-5 accuracy, null with 5 classes or fewer. */
  top5: number | null;
}

/** What `card.json` next to a teacher's `model.safetensors` holds. */
export interface TeacherCard {
  /** Registry name (lib/models/registry.ts). */
  architecture: string;
  /** Arguments for `createModel`. */
  args: Record<string, unknown>;
  /** Width of the pooled features. */
  featureDim: number;
  /** Trainable scalars. */
  parameterCount: number;
  /** Square input side. */
  inputSize: number;
  /** Image channels. */
  channels: number;
  /** Per-channel normalisation applied to `[0, 1]` images before the model. */
  mean: number[];
  /** Per-channel standard deviation, with `mean`. */
  std: number[];
  /** The weights file, PyTorch state-dict names; backbone only, no head. */
  weights: string;
  /** How it was trained. */
  method: "supervised" | "simclr";
  /** The resolved pretrain config. */
  recipe: Record<string, unknown>;
  /** Training images, e.g. `fashion-mnist/train`. */
  dataset: string;
  /** Training epochs. */
  epochs: number;
  /** Optimizer steps taken. */
  steps: number;
  /** The whole command, summed over resumed processes. */
  wallTimeSeconds: number;
  /** Training steps only. */
  trainSeconds: number;
  /** Whether the run was resumed from a checkpoint. */
  resumed?: boolean;
  /** The tfjs backend it was trained on. */
  backend: string;
  /** The commit checked out when it was written (the code may have had uncommitted changes). */
  gitCommit: string | null;
  /** Which code produced it. */
  provenance: string;
  /** The command line. */
  command: string;
  /** Test-split metrics of the teacher and of raw pixels. */
  metrics: {
    /** Test kNN of the teacher's features. */
    knn: CardKnn;
    /** Test linear probe; null when skipped. */
    linear: CardLinear | null;
    /** Test kNN of raw normalised pixels, the reference. */
    rawPixelKnn: CardKnn;
  };
  /** Why this teacher ships (method comparison). */
  choice?: string;
  /** ISO time of writing. */
  createdAt: string;
}

async function readAsset(url: URL): Promise<Uint8Array> {
  if (url.protocol === "file:") return await Deno.readFile(url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Cannot fetch "${url}": HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Load a bundled teacher by name: the backbone with its weights, and its card.
 *
 * @example
 * ```ts ignore
 * import { loadBundledTeacher } from "./bundled.ts";
 * const { model, card } = await loadBundledTeacher();
 * console.log(model.featureDim === card.featureDim, card.metrics.knn.top1);
 * model.dispose();
 * ```
 *
 * @param name One of {@linkcode BUNDLED_TEACHERS}.
 * @returns The model (the caller disposes it) and its card.
 * @throws {RangeError} For an unknown name, listing the available ones.
 * @throws {Error} When the files cannot be read or do not match the card.
 */
export async function loadBundledTeacher(
  name = "fashion-mnist",
): Promise<{ model: Backbone; card: TeacherCard }> {
  if (!BUNDLED_TEACHERS.includes(name)) {
    throw new RangeError(
      `Unknown bundled teacher "${name}": available are ${BUNDLED_TEACHERS.join(", ")}`,
    );
  }
  const dir = new URL(`../teachers/${name}/`, import.meta.url);
  const cardUrl = new URL("card.json", dir);
  let card: TeacherCard;
  try {
    card = JSON.parse(new TextDecoder().decode(await readAsset(cardUrl)));
  } catch (e) {
    throw new Error(`Cannot read bundled teacher card "${cardUrl}": ${(e as Error).message}`);
  }
  const weightsUrl = new URL(card.weights ?? "model.safetensors", dir);
  const st = parseSafetensors(await readAsset(weightsUrl), { source: weightsUrl.href });
  checkFiniteWeights(weightsUrl.href, st.tensors);
  const model = createModel(card.architecture as ModelName, card.args as never);
  try {
    loadTorchWeights(model, st.tensors, { source: weightsUrl.href });
    if (model.featureDim !== card.featureDim) {
      throw new Error(
        `Bundled teacher "${name}": model gives ${model.featureDim}-d features, card says ${card.featureDim}`,
      );
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, card };
}
