/**
 * Checks that involve several keys, run after every key is valid alone.
 *
 * @module
 */
import { BUNDLED_TEACHERS } from "../models/bundled.ts";
import { listModels } from "../models/registry.ts";
import type { DistillConfig } from "./_config_types.ts";
import { show } from "./_config_spec.ts";

/** A failed check: the key to blame, the problem, and the other keys involved. */
export interface Problem {
  path: string;
  problem: string;
  also: string[];
}

type Check = (c: DistillConfig) => Problem | undefined;

/** Every cross-key check, in the order they run. */
export const crossChecks: readonly Check[] = [
  ({ data }) => {
    if (data.std.length === data.mean.length) return;
    return {
      path: "data.std",
      problem: `expected as many values as data.mean (${data.mean.length}), got ${show(data.std)}`,
      also: ["data.mean"],
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
