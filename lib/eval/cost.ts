/**
 * What a model costs at inference, the numbers a team weighs a student
 * against its teacher by: parameters, multiply-adds per image, and the
 * measured latency per image at batch 1 and batch 64 on the active backend
 * (median of repeated runs, each ending with a readback).
 *
 * Multiply-adds are counted from the kernels one forward pass actually
 * runs (`Conv2D`, `DepthwiseConv2dNative`, `BatchMatMul`, `_FusedMatMul`,
 * their fused forms): the output elements times the products each one sums.
 * Elementwise work (batch norm, activations, pooling) is not counted, as
 * usual for MAC figures.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Embedder } from "../models/types.ts";
import type { Tensor4D } from "../tf_types.ts";

/** What {@linkcode modelCost} measured. */
export interface ModelCost {
  /** Learnable scalars, when the model says (`parameterCount`); else null. */
  params: number | null;
  /** Multiply-adds of one image's forward pass. */
  macs: number;
  /** Median milliseconds per image of a batch-1 forward pass. */
  msPerImage1: number;
  /** Median milliseconds per image of a batch-64 forward pass. */
  msPerImage64: number;
  /** The backend timed on. */
  backend: string;
}

/** Options for {@linkcode modelCost}. */
export interface ModelCostOptions {
  /** Timed runs at batch 1 (after 2 untimed). @default {15} */
  runs1?: number;
  /** Timed runs at batch 64 (after 1 untimed). @default {5} */
  runs64?: number;
}

type Info = { shape: number[] };
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Multiply-adds of one kernel call, from its inputs, attributes and output shape. */
function kernelMacs(
  name: string,
  inputs: Record<string, Info>,
  attrs: Record<string, unknown>,
  out: number[],
): number {
  switch (name) {
    case "Conv2D":
    case "FusedConv2D": {
      const [kh, kw, ci] = inputs.filter.shape;
      return size(out) * kh * kw * ci;
    }
    case "DepthwiseConv2dNative":
    case "FusedDepthwiseConv2D": {
      const [kh, kw] = inputs.filter.shape;
      return size(out) * kh * kw;
    }
    case "BatchMatMul":
    case "_FusedMatMul": {
      // The summed dimension: a's last, or its second-to-last when a is transposed.
      const a = inputs.a.shape;
      return size(out) * (attrs?.transposeA ? a[a.length - 2] : a[a.length - 1]);
    }
    default:
      return 0;
  }
}

/**
 * Count the multiply-adds of `model` on one image of `imageShape` by
 * watching the kernels its forward pass runs.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createModel } from "../models/registry.ts";
 * import { countMacs } from "./cost.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const net = createModel("resnet18", { stem: "cifar", width: 0.125, inChannels: 1 });
 * console.log(countMacs(net, [28, 28, 1]) > 1e6); // true
 * net.dispose();
 * ```
 */
export function countMacs(model: Embedder, imageShape: readonly number[]): number {
  const engine = tf.engine() as unknown as Record<string, unknown>;
  const runKernel = engine.runKernel as (
    name: string,
    inputs: Record<string, Info>,
    attrs: Record<string, unknown>,
  ) => Info | Info[];
  let macs = 0;
  let depth = 0;
  engine.runKernel = function (
    this: unknown,
    name: string,
    inputs: Record<string, Info>,
    attrs: Record<string, unknown>,
  ) {
    depth++;
    try {
      const out = runKernel.call(this, name, inputs, attrs);
      // Only the outermost kernel: a kernel built from others would count twice.
      if (depth === 1) {
        macs += kernelMacs(name, inputs, attrs, (Array.isArray(out) ? out[0] : out).shape);
      }
      return out;
    } finally {
      depth--;
    }
  };
  try {
    tf.tidy(() => {
      const x = tf.zeros([1, ...imageShape] as [number, number, number, number]) as Tensor4D;
      model.embed(x, { training: false });
    });
  } finally {
    engine.runKernel = runKernel;
  }
  return macs;
}

async function timePerImage(model: Embedder, shape: number[], warm: number, runs: number) {
  const shape4 = shape as [number, number, number, number];
  const x = tf.randomUniform(shape4, 0, 1, "float32", 1) as Tensor4D;
  const samples: number[] = [];
  try {
    for (let i = 0; i < warm + runs; i++) {
      const t0 = performance.now();
      const y = tf.tidy(() => model.embed(x, { training: false }));
      await y.data();
      y.dispose();
      if (i >= warm) samples.push((performance.now() - t0) / shape[0]);
    }
  } finally {
    x.dispose();
  }
  samples.sort((a, b) => a - b);
  const m = samples.length >> 1;
  return samples.length % 2 ? samples[m] : (samples[m - 1] + samples[m]) / 2;
}

/**
 * Parameters, multiply-adds per image, and latency per image at batch 1 and
 * 64 (medians), on the active backend.
 *
 * @example
 * ```ts ignore
 * const cost = await modelCost(student, [28, 28, 1]);
 * console.log(cost.macs, cost.msPerImage64);
 * ```
 */
export async function modelCost(
  model: Embedder,
  imageShape: readonly number[],
  options: ModelCostOptions = {},
): Promise<ModelCost> {
  const macs = countMacs(model, imageShape);
  const msPerImage1 = await timePerImage(model, [1, ...imageShape], 2, options.runs1 ?? 15);
  const msPerImage64 = await timePerImage(model, [64, ...imageShape], 1, options.runs64 ?? 5);
  const params = (model as { parameterCount?: number }).parameterCount ?? null;
  return { params, macs, msPerImage1, msPerImage64, backend: tf.getBackend() };
}

const times = (a: number | null, b: number | null) =>
  a && b ? `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×` : "?×";

/**
 * The student's cost next to the teacher's, as a table and the one line a
 * reader weighs: e.g. `student: 4.0× fewer parameters, 3.9× fewer
 * multiply-adds, 2.6× faster at batch 64, −2.10 kNN-10 points`.
 *
 * @example
 * ```ts
 * import { formatCost } from "./cost.ts";
 * const c = (params: number, macs: number, ms: number) =>
 *   ({ params, macs, msPerImage1: ms, msPerImage64: ms / 4, backend: "wasm" });
 * const text = formatCost(c(700_000, 2e8, 4), c(175_000, 5e7, 1.5), { teacher: 0.91, student: 0.89, k: 10 });
 * console.log(text.split("\n").at(-1));
 * // "student: 4.0× fewer parameters, 4.0× fewer multiply-adds, 2.7× faster at batch 64, −2.00 kNN-10 points"
 * ```
 */
export function formatCost(
  teacher: ModelCost,
  student: ModelCost,
  knn?: { teacher: number; student: number; k: number },
): string {
  const row = (name: string, c: ModelCost) =>
    `| ${name} | ${c.params?.toLocaleString("en") ?? "?"} | ${(c.macs / 1e6).toFixed(1)} | ` +
    `${c.msPerImage1.toFixed(2)} | ${c.msPerImage64.toFixed(3)} |`;
  const points = knn ? 100 * (knn.student - knn.teacher) : null;
  const summary = `student: ${times(teacher.params, student.params)} fewer parameters, ` +
    `${times(teacher.macs, student.macs)} fewer multiply-adds, ` +
    `${times(teacher.msPerImage64, student.msPerImage64)} faster at batch 64` +
    (points === null
      ? ""
      : `, ${points < 0 ? "−" : "+"}${Math.abs(points).toFixed(2)} kNN-${knn!.k} points`);
  return [
    `| model | parameters | M multiply-adds / image | ms / image, batch 1 | ms / image, batch 64 |`,
    "|---|---:|---:|---:|---:|",
    row("teacher", teacher),
    row("student", student),
    "",
    `(inference on ${teacher.backend}, medians of repeated runs)`,
    summary,
  ].join("\n");
}
