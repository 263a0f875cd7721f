/**
 * The `webgpu-grads` case: tfjs-webgpu's own `Conv2DBackpropFilter` against
 * the toolkit's implicit GEMM (`lib/kernels/conv2d_filter_webgpu.ts`), on
 * every convolution shape of the two step cases and on a whole `step-cnn28`
 * step, alternating the two kernels so that both see the same machine load.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  getKernel,
  type KernelBackend,
  type KernelConfig,
  registerKernel,
  type TensorInfo,
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import { originalKernel } from "../lib/kernels/runner.ts";
import { conv2DBackpropFilterWebGPUConfig } from "../lib/kernels/conv2d_filter_webgpu.ts";
import { stepCase, stepConfig } from "./_builders.ts";
import type { AbRow, CaseConfig, CaseInstance, WebGPUGradsResult } from "./_types.ts";

export type { AbRow, WebGPUGradsResult };
import { cell, fmt } from "./_format.ts";
import { median } from "./_measure.ts";

const KERNEL = "Conv2DBackpropFilter";

/** The case name. */
export const WEBGPU_GRADS_CASE = "webgpu-grads";

/** One convolution of a step case: NHWC input `[batch,h,h,ci]`, `k×k` filter to `co`. */
interface ConvShape {
  net: string;
  batch: number;
  h: number;
  ci: number;
  co: number;
  k: number;
  stride: number;
  /** How many layers of the net have this shape. */
  count: number;
}

/** The convolutions of `step-cnn28` and `step-r18` (`bench/_cnn28.ts`, the zoo's ResNet-18). */
function convShapes(cnnBatch: number, r18Batch: number): ConvShape[] {
  const layer =
    (net: string, batch: number) =>
    (h: number, ci: number, co: number, k: number, stride = 1, count = 1): ConvShape => ({
      net,
      batch,
      h,
      ci,
      co,
      k,
      stride,
      count,
    });
  const cnn = layer("cnn28", cnnBatch);
  const r18 = layer("r18", r18Batch);
  return [
    cnn(28, 1, 32, 3),
    cnn(28, 32, 32, 3),
    cnn(28, 1, 32, 1),
    cnn(14, 32, 64, 3),
    cnn(14, 64, 64, 3),
    cnn(14, 32, 64, 1),
    cnn(7, 64, 128, 3),
    cnn(7, 128, 128, 3),
    cnn(7, 64, 128, 1),
    r18(32, 3, 64, 3, 1),
    r18(32, 64, 64, 3, 1, 4),
    r18(32, 64, 128, 3, 2),
    r18(32, 64, 128, 1, 2),
    r18(16, 128, 128, 3, 1, 3),
    r18(16, 128, 256, 3, 2),
    r18(16, 128, 256, 1, 2),
    r18(8, 256, 256, 3, 1, 3),
    r18(8, 256, 512, 3, 2),
    r18(8, 256, 512, 1, 2),
    r18(4, 512, 512, 3, 1, 3),
  ];
}

function shapeLabel(s: ConvShape): string {
  return `${s.net} ${s.k}×${s.k}/${s.stride} ${s.h}×${s.h}×${s.ci}→${s.co}, batch ${s.batch}`;
}

/** Sizes: kernel shapes at small batches (WebGPU here is usually llvmpipe), one CNN step. */
export function webgpuGradsConfig(quick: boolean): CaseConfig {
  return {
    cnnBatch: quick ? 2 : 16,
    r18Batch: quick ? 1 : 4,
    stepBatch: quick ? 2 : 16,
    // The toolkit kernel's launch plan (planFilterGemm): tuned on llvmpipe; a real GPU may want
    // more workgroups (--set webgpu-grads.targetWorkgroups=4096 --set webgpu-grads.minChunk=256).
    targetWorkgroups: 256,
    minChunk: 1024,
  };
}

async function timeKernel(
  backend: KernelBackend,
  kernel: KernelConfig,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Record<string, unknown>,
): Promise<number> {
  const t0 = performance.now();
  const out = kernel.kernelFunc({ inputs: { x, dy }, attrs: attrs as tf.NamedAttrMap, backend });
  const info = out as TensorInfo;
  await backend.read(info.dataId);
  const ms = performance.now() - t0;
  backend.disposeData(info.dataId);
  return ms;
}

/**
 * Build the case on the active backend, which must be `webgpu` with the
 * toolkit's training kernels registered (`initBackend` does both).
 */
export async function webgpuGradsCase(c: CaseConfig): Promise<CaseInstance> {
  if (tf.getBackend() !== "webgpu") throw new Error("webgpu-grads runs on the webgpu backend only");
  const builtin = originalKernel(KERNEL, "webgpu");
  const registered = getKernel(KERNEL, "webgpu");
  const toolkit = conv2DBackpropFilterWebGPUConfig("webgpu", {
    targetWorkgroups: c.targetWorkgroups as number,
    minChunk: c.minChunk as number,
  });
  if (!builtin || !registered) {
    throw new Error("webgpu-grads: the toolkit's WebGPU kernels are not registered");
  }
  const use = (k: KernelConfig) => {
    unregisterKernel(KERNEL, "webgpu");
    registerKernel(k);
  };
  const backend = tf.backend();
  const shapes = convShapes(c.cnnBatch as number, c.r18Batch as number).map((s) => {
    const ho = Math.ceil(s.h / s.stride);
    return {
      shape: s,
      x: tf.randomNormal([s.batch, s.h, s.h, s.ci], 0, 1, "float32", 1),
      dy: tf.randomNormal([s.batch, ho, ho, s.co], 0, 1, "float32", 2),
      attrs: {
        strides: [s.stride, s.stride],
        pad: s.k === 1 ? "valid" : "same",
        dataFormat: "NHWC",
        filterShape: [s.k, s.k, s.ci, s.co],
      },
      builtin: [] as number[],
      toolkit: [] as number[],
    };
  });
  const step = await stepCase({ ...stepConfig("cnn28", false), batch: c.stepBatch as number });
  const stepTimes = { builtin: [] as number[], toolkit: [] as number[] };
  const timeStep = async (k: KernelConfig, into: number[]) => {
    use(k);
    const t0 = performance.now();
    await step.step();
    into.push(performance.now() - t0);
  };
  let iteration = 0;
  return {
    images: c.stepBatch as number,
    async step() {
      // Alternate which kernel goes first, so neither always runs on a warmer machine.
      const order = iteration++ % 2
        ? ["toolkit", "builtin"] as const
        : ["builtin", "toolkit"] as const;
      for (const s of shapes) {
        for (const which of order) {
          const kernel = which === "builtin" ? builtin : toolkit;
          s[which].push(await timeKernel(backend, kernel, s.x, s.dy, s.attrs));
        }
      }
      for (const which of order) {
        await timeStep(which === "builtin" ? builtin : toolkit, stepTimes[which]);
      }
      use(registered);
    },
    webgpuGrads(warmup: number): WebGPUGradsResult {
      const perShape: AbRow[] = shapes.map((s) => ({
        label: shapeLabel(s.shape),
        builtinMs: median(s.builtin.slice(warmup)),
        toolkitMs: median(s.toolkit.slice(warmup)),
        perStep: s.shape.count,
      }));
      const rows = [...perShape];
      for (const net of ["cnn28", "r18"]) {
        const mine = perShape.filter((_, i) => shapes[i].shape.net === net);
        rows.push({
          label: `all ${net} filter gradients of one step`,
          builtinMs: mine.reduce((t, r) => t + r.builtinMs * r.perStep, 0),
          toolkitMs: mine.reduce((t, r) => t + r.toolkitMs * r.perStep, 0),
          perStep: 1,
        });
      }
      rows.push({
        label: `whole step-cnn28 step, batch ${c.stepBatch}`,
        builtinMs: median(stepTimes.builtin.slice(warmup)),
        toolkitMs: median(stepTimes.toolkit.slice(warmup)),
        perStep: 1,
      });
      return { rows };
    },
    dispose() {
      use(registered);
      step.dispose();
      for (const s of shapes) tf.dispose([s.x, s.dy]);
    },
  };
}

/** The A/B table: one row per shape, the per-step sums and the whole step; ratio = built-in / toolkit. */
export function formatWebGPUGrads(backendLabel: string, r: WebGPUGradsResult): string {
  const lines = [
    `### webgpu-grads on ${backendLabel}: tfjs's Conv2DBackpropFilter / the toolkit's implicit GEMM`,
    "",
    "| what | per step | tfjs ms | toolkit ms | tfjs / toolkit |",
    "|---|---:|---:|---:|---:|",
  ];
  for (const row of r.rows) {
    lines.push(
      `| ${cell(row.label)} | ${row.perStep} | ${fmt(row.builtinMs)} | ${fmt(row.toolkitMs)} | ` +
        `**${fmt(row.builtinMs / row.toolkitMs)}×** |`,
    );
  }
  return lines.join("\n");
}
