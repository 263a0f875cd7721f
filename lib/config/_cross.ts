/**
 * Checks that involve several keys, run after every key is valid alone.
 *
 * @module
 */
import { augmentPreset, type AugmentPresetName, type AugmentStep } from "../augment/augment.ts";
import { BUNDLED_TEACHERS } from "../models/bundled.ts";
import { listModels } from "../models/registry.ts";
import type { DistillConfig } from "./types.ts";
import { show } from "./spec.ts";
import type { Check } from "./system.ts";

type Data = DistillConfig["data"];

/** The side of the training images before augmentation, where the dataset fixes it. */
function nativeSize(train: Data["train"]): [number, number] | undefined {
  const spec = train as { name: string; size?: [number, number] };
  if (spec.name === "fashion-mnist" || spec.name === "mnist") return [28, 28];
  if (spec.name === "cifar10" || spec.name === "cifar100") return [32, 32];
  return spec.name === "folder" ? spec.size : undefined;
}

/** `data.augment` as steps: the list itself, or the preset built from data.size/mean/std. */
function steps(data: Data): AugmentStep[] {
  const a = data.augment;
  return Array.isArray(a)
    ? a
    : augmentPreset(a as AugmentPresetName, { size: data.size, mean: data.mean, std: data.std });
}

const pair = (s: number | [number, number]): [number, number] => typeof s === "number" ? [s, s] : s;

/**
 * The `[height, width]` the augmentation hands the student: the last crop or
 * resize, else the dataset's own size; undefined where the dataset does not fix it.
 */
export function augmentOutputSize(data: Data): [number, number] | undefined {
  let size = nativeSize(data.train);
  for (const step of steps(data)) {
    if (step.op === "randomResizedCrop" || step.op === "centerCrop") size = pair(step.size);
    else if (step.op === "resize") {
      // A number sets the shorter side: a square stays square, anything else is unknown here.
      if (typeof step.size !== "number") size = step.size;
      else size = size && size[0] === size[1] ? [step.size, step.size] : undefined;
    }
  }
  return size;
}

/** Equal per channel, a one-value list standing for every channel. */
function sameChannels(a: readonly number[], b: readonly number[]): boolean {
  const n = Math.max(a.length, b.length);
  if (a.length !== n && a.length !== 1 || b.length !== n && b.length !== 1) return false;
  for (let i = 0; i < n; i++) {
    if (Math.abs(a[a.length === 1 ? 0 : i] - b[b.length === 1 ? 0 : i]) > 1e-9) return false;
  }
  return true;
}

/** Every cross-key check, in the order they run. */
export const crossChecks: readonly Check<DistillConfig>[] = [
  ({ data }) => {
    if (data.std.length === data.mean.length) return;
    return {
      path: "data.std",
      problem: `expected as many values as data.mean (${data.mean.length}), got ${show(data.std)}`,
      also: ["data.mean"],
    };
  },
  // One source of truth for the input the student sees: the card, teacher cache and evaluation
  // use data.size/mean/std, training uses data.augment, so the two must agree.
  ({ data }) => {
    const out = augmentOutputSize(data);
    if (!out || (out[0] === data.size && out[1] === data.size)) return;
    const by = Array.isArray(data.augment)
      ? "whose steps hand"
      : `whose "${data.augment}" preset hands`;
    return {
      path: "data.size",
      problem: `${data.size} disagrees with data.augment, ${by} the student ` +
        `${out[0]}×${out[1]} images; set data.size to ${out[0]}, end data.augment's crops and ` +
        `resizes at ${data.size}, or use the mocov2 or eval preset, which follow data.size`,
      also: ["data.augment"],
    };
  },
  ({ data }) => {
    if (!Array.isArray(data.augment)) return;
    const norm = data.augment.filter((s) => s.op === "normalize").at(-1);
    const meanOk = norm !== undefined && sameChannels(norm.mean, data.mean);
    if (meanOk && sameChannels(norm.std, data.std)) return;
    const got = norm
      ? `data.augment's normalize step (mean ${show(norm.mean)}, std ${show(norm.std)})`
      : "data.augment, which has no normalize step";
    const other = meanOk
      ? `(with data.mean ${show(data.mean)})`
      : `(with data.std ${show(data.std)})`;
    return {
      path: meanOk ? "data.std" : "data.mean",
      problem: `${show(meanOk ? data.std : data.mean)} ${other} disagrees with ${got}; end ` +
        `data.augment with {op: normalize, mean: ${show(data.mean)}, std: ${show(data.std)}}, ` +
        "or use a preset, which follows data.mean and data.std",
      also: ["data.augment", "data.mean", "data.std"],
    };
  },
  ({ data: { sampler } }) => {
    if (sampler.neighbours <= sampler.pool) return;
    return {
      path: "data.sampler.neighbours",
      problem:
        `expected an integer ≤ data.sampler.pool (${sampler.pool}), got ${sampler.neighbours}`,
      also: ["data.sampler.pool"],
    };
  },
  ({ data: { sampler } }) => {
    if (sampler.pool <= sampler.k) return;
    return {
      path: "data.sampler.pool",
      problem: `expected an integer ≤ data.sampler.k (${sampler.k}), got ${sampler.pool}`,
      also: ["data.sampler.k"],
    };
  },
  ({ optim }) => {
    if (optim.name !== "sgd" || !optim.nesterov || optim.momentum > 0) return;
    return {
      path: "optim.nesterov",
      problem: `true needs optim.momentum > 0, got momentum ${optim.momentum}`,
      also: ["optim.momentum", "optim.name"],
    };
  },
  ({ optim, schedule }) => {
    if (schedule.minLr <= optim.lr) return;
    return {
      path: "schedule.minLr",
      problem: `expected a number ≤ optim.lr (${optim.lr}), got ${schedule.minLr}`,
      also: ["optim.lr"],
    };
  },
  ({ train }) => {
    const { epochs, steps } = train;
    if ((epochs === null) !== (steps === null)) return;
    const got = epochs === null ? "neither (both are null)" : `both (${epochs} and ${steps})`;
    return {
      path: "train",
      problem: `set exactly one of train.epochs and train.steps, got ${got}`,
      also: ["train.epochs", "train.steps"],
    };
  },
  ({ teacher }) => {
    if (teacher.source === "bundled" || teacher.path !== null) return;
    const file = teacher.source === "tfjs"
      ? "a tfjs model.json"
      : teacher.source === "onnx"
      ? "an .onnx file"
      : "a .safetensors file";
    return {
      path: "teacher.path",
      problem: `required when teacher.source is "${teacher.source}" (${file})`,
      also: ["teacher.source"],
    };
  },
  ({ teacher }) => {
    if (teacher.source !== "bundled" || BUNDLED_TEACHERS.includes(teacher.name)) return;
    return {
      path: "teacher.name",
      problem: `expected a bundled teacher (${BUNDLED_TEACHERS.join(", ")}), got ${
        show(teacher.name)
      }`,
      also: ["teacher.source"],
    };
  },
  ({ teacher }) => {
    if (teacher.source !== "safetensors" || teacher.architecture !== null) return;
    return {
      path: "teacher.architecture",
      problem: `required when teacher.source is "safetensors" (one of ${listModels().join(", ")})`,
      also: ["teacher.source"],
    };
  },
];
