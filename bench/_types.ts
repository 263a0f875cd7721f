/**
 * The types the bench cases, their builders and the report share, below all of them.
 *
 * @module
 */
import type { Timing } from "./_measure.ts";
import type { RssWindow } from "./_rss.ts";
import type { TorchCaseResult } from "./_python.ts";
import type { GpuWork } from "./_gpu_work.ts";

/** `tf.memory()` after the timed iterations, and what the case left behind. */
export interface MemoryReading {
  /** Bytes held by live tensors while the case was still built (model, optimizer, inputs). */
  numBytes: number;
  /** Live tensors at that point. */
  numTensors: number;
  /** Tensors still alive after the case was disposed, beyond those alive before it (0 = no leak). */
  leakedTensors: number;
  /** Size of the wasm backend's heap, which never shrinks (wasm only). */
  wasmHeapBytes?: number;
}

/** One case on one backend. */
export interface BenchRow {
  case: string;
  backend: string;
  /** `skipped` and `error` rows carry a `reason`. */
  status: "ok" | "skipped" | "error";
  reason?: string;
  /** Why the iteration counts are lower than the case's, when they are. */
  note?: string;
  /** Images (or test queries) per iteration. */
  images: number | null;
  /** Trainable parameters of the model, when there is one. */
  params: number | null;
  timing: Timing | null;
  /** `images / median seconds`. */
  imagesPerSec: number | null;
  memory: MemoryReading | null;
  rss: RssWindow | null;
  /** 1-, 5- and 15-minute load averages when the case started, when readable. */
  loadavg: number[] | null;
  /** The PyTorch run of the same case (shared by every backend's row). */
  torch: TorchCaseResult | null;
  /** `timing.medianMs / torch.medianMs`, or null without both. */
  ratio: number | null;
  /**
   * `teacher-cache` only: the online and cached step times, the cache build,
   * and per-epoch figures (its `timing` covers one step of each mode).
   */
  teacherCache?: TeacherCacheResult;
  /** `webgpu-grads` only: the A/B of the two WebGPU filter gradients (its `timing` covers both). */
  webgpuGrads?: WebGPUGradsResult;
  /** The same case under `torch.compile` (`--torch-compile`), when it ran. */
  torchCompiled?: TorchCaseResult;
  /** `timing.medianMs / torchCompiled.medianMs`. */
  ratioCompiled?: number | null;
  /** webgpu only: what one iteration asked of the GPU (dispatches, buffers, transfers). */
  gpuWork?: GpuWork;
}

/** What the case measured, before the extrapolation. */
export interface TeacherCacheInput {
  /** The config file measured. */
  config: string;
  /** Training images (`data.subset`). */
  subset: number;
  /** Images per step. */
  batch: number;
  /** `data.sampler.kind`. */
  sampler: string;
  /** Steps of one epoch as the loop counts it (`sampler.batchesPerEpoch`). */
  stepsPerEpoch: number;
  /** Image passes of that epoch. */
  imagesPerEpoch: number;
  /** `train.steps` of the config, when it sets one. */
  runSteps: number | null;
  /** Steps with `teacher.cache: false`: the teacher embeds each augmented batch. */
  online: Timing;
  /** Steps with `teacher.cache: true`: targets looked up from the cached features. */
  cached: Timing;
  /** The teacher's pass over the subset (eval view) that fills the cache. */
  build: { images: number; ms: number };
  /** Mining the neighbour lists from the features, when the sampler or loss needs them. */
  mineMs: number | null;
  /**
   * Steps trained from the multi-view cache (`teacher.views`: the student's view is one the
   * teacher embedded), and that cache's build (the teacher over every view); absent without it.
   */
  views?: { count: number; step: Timing; build: { images: number; ms: number } };
}

/** Time of a number of steps in both modes, and the ratios. */
export interface TeacherCacheSpan {
  /** `epoch` (the loop's), `pass` (ceil(subset / batch) steps) or `run` (`train.steps`). */
  name: "epoch" | "pass" | "run";
  steps: number;
  /** `steps × online median`, in seconds. */
  onlineS: number;
  /** `steps × cached median`, in seconds. */
  cachedS: number;
  /** `cachedS` plus the cache build. */
  cachedWithBuildS: number;
  /** `onlineS / cachedS`. */
  ratio: number;
  /** `onlineS / cachedWithBuildS`: the build charged to the cache alone. */
  ratioWithBuild: number;
  /**
   * Both modes after the build and the neighbour mining, which the neighbour
   * sampler needs whether or not the targets are cached:
   * `(onlineS + setup) / (cachedS + setup)`. Null without a neighbour sampler.
   */
  ratioWithSetup: number | null;
}

/** The case's result in `results.json` (`BenchRow.teacherCache`). */
export interface TeacherCacheResult extends TeacherCacheInput {
  /** `online.medianMs / cached.medianMs`. */
  stepRatio: number;
  /**
   * The median over iterations of `online / cached` within the iteration:
   * the two steps of a pair run back to back, so load that changes between
   * pairs cancels out.
   */
  pairedRatio: number;
  /** The build's time per image, in milliseconds. */
  buildMsPerImage: number;
  spans: TeacherCacheSpan[];
  /**
   * The multi-view cache against the online teacher, which both train on the same view:
   * `online / views` per step, and over the loop's epoch with the views' build charged.
   */
  viewsSummary?: {
    stepRatio: number;
    epochOnlineS: number;
    epochViewsS: number;
    epochViewsWithBuildS: number;
    ratioWithBuild: number;
  };
}

/** One A/B row: the same work with tfjs's kernel and with the toolkit's. */
export interface AbRow {
  /** What was timed. */
  label: string;
  /** Median ms with tfjs's kernel (per call; the step row: per step). */
  builtinMs: number;
  /** Median ms with the toolkit's kernel. */
  toolkitMs: number;
  /** Calls per training step (1 for the step row). */
  perStep: number;
}

/** The `webgpu-grads` result: one row per shape, then the per-step sum and a whole step. */
export interface WebGPUGradsResult {
  rows: AbRow[];
}

/** Sizes and hyper-parameters of one case, as plain JSON (the PyTorch side reads the same). */
export type CaseConfig = Record<string, number | string>;

/** A built case, ready to time. */
export interface CaseInstance {
  /** One iteration, ending with an awaited readback. */
  step(): Promise<void>;
  /** Images (or test queries) one iteration processes. */
  images: number;
  /** Trainable (or, for inference, all learnable) parameters, when a model is involved. */
  params?: number;
  /** Free everything the case allocated. */
  dispose(): void;
  /**
   * `teacher-cache` only: its two modes' times (each iteration runs one step
   * of each) and their extrapolation, leaving out the first `warmup` iterations.
   */
  teacherCache?(warmup: number): TeacherCacheResult;
  /**
   * `webgpu-grads` only: tfjs's and the toolkit's WebGPU filter gradient,
   * per shape and per step, leaving out the first `warmup` iterations.
   */
  webgpuGrads?(warmup: number): WebGPUGradsResult;
}
