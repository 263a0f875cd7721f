/**
 * The benchmark cases: what each one computes, its sizes (shared with the
 * PyTorch side, `bench/reference.py`, through {@linkcode CaseSpec.config}),
 * its default iteration counts, and which backends it skips at full size.
 *
 * | case | computation | full size |
 * |---|---|---|
 * | `step-cnn28` | one CoSS training step (forward, head, loss, backward, SGD) | 28×28×1 ResNet-like CNN, batch 128, teacher dim 256 |
 * | `step-r18` | the same step | ResNet-18 (CIFAR stem) on 32×32×3, batch 64, teacher dim 512 |
 * | `teacher-embed` | inference forward, batch norm with running statistics; also in onnxruntime-node (the toolkit's ONNX export, PyTorch's threads) | ResNet-50 (CIFAR stem) on 32×32×3, batch 64 |
 * | `augment` | MoCo-v2 augmentation of a uint8 batch into a normalised float batch | 256 × 32×32×3 |
 * | `knn` | weighted kNN classification, k 10, T 0.07 | 10k test × 60k train, d 512 |
 * | `teacher-cache` | the distill loop's step with cached teacher targets against the online teacher, and the cache build | `tasks/configs/default.yaml`: Fashion-MNIST 20k, batch 128 |
 *
 * Every step awaits a readback (the loss, the features, the augmented batch),
 * so a timing covers the computation, not only its dispatch. `teacher-cache`
 * has no PyTorch counterpart: it compares two modes of the toolkit's own loop
 * (bench/_teacher_cache.ts).
 *
 * @module
 */
import type { BackendName } from "../lib/backend.ts";
import { augmentCase, knnCase, stepCase, stepConfig, teacherCase } from "./_builders.ts";
import { ONNX_BACKEND, onnxTeacherCase } from "./_onnx_case.ts";
import { teacherCacheCase, teacherCacheConfig } from "./_teacher_cache.ts";
import { webgpuGradsCase, webgpuGradsConfig } from "./_webgpu_grads.ts";
import type { CaseConfig, CaseInstance } from "./_types.ts";

export type { CaseConfig, CaseInstance };

/** The case names, in the order the bench runs them. */
export const CASE_NAMES = [
  "step-cnn28",
  "step-r18",
  "teacher-embed",
  "augment",
  "knn",
  "teacher-cache",
  "webgpu-grads",
] as const;

/** A case name. */
export type CaseName = typeof CASE_NAMES[number];

/** How a case runs on one backend: skipped (with the reason), or with these iteration counts. */
export interface BackendPlan {
  /** Why this backend is left out at this size; `force` runs it with `iters`/`warmup` anyway. */
  skip?: string;
  /** Timed iterations on this backend, when fewer than the case's. */
  iters?: number;
  /** Warm-up iterations on this backend, when fewer than the case's. */
  warmup?: number;
  /** Why the counts are reduced. */
  note?: string;
}

/** One benchmark case. */
export interface CaseSpec {
  name: CaseName;
  /** One line: what is computed. */
  title: string;
  /** Whether the table leads with throughput (images/s) rather than time. */
  throughput: boolean;
  /** Default timed iterations. */
  iters: number;
  /** Default warm-up iterations. */
  warmup: number;
  /** Whether `--profile` profiles one iteration of this case. */
  profile: boolean;
  /** Whether `bench/reference.py` runs the same case in PyTorch. @default {true} */
  torch?: boolean;
  /** Sizes; `quick` gives tiny ones for smoke tests. */
  config(quick: boolean): CaseConfig;
  /** The only backends the case runs on, even with `--quick` or `--force`. @default {all} */
  backends?: readonly BackendName[];
  /** Backend exceptions at full size (none when quick). */
  plan(backend: BackendName, softwareAdapter: boolean): BackendPlan;
  /** Build the case on the active backend. */
  setup(config: CaseConfig): Promise<CaseInstance>;
  /**
   * The same computation outside tfjs, timed as one more row of the same run
   * (`teacher-embed`: onnxruntime-node with PyTorch's thread count).
   * @default {undefined}
   */
  native?: { backend: string; setup(config: CaseConfig, threads: number): Promise<CaseInstance> };
}

/**
 * Software WebGPU (lavapipe) is far slower (docs/performance.md, "WebGPU"): two
 * iterations are plenty.
 */
const SOFTWARE_GPU: BackendPlan = {
  iters: 2,
  warmup: 1,
  note: "software WebGPU adapter: 2 iterations",
};

function cpuTooSlow(what: string): BackendPlan {
  return {
    skip: `tfjs-cpu runs convolutions as plain JS loops; ${what}. --force runs 1 iteration`,
    iters: 1,
    warmup: 0,
  };
}

/** Only `cpu` (too slow: `cpuPlan`) and software WebGPU (2 iterations) get exceptions. */
function plan(cpuPlan: BackendPlan): CaseSpec["plan"] {
  return (backend, software) =>
    backend === "cpu" ? cpuPlan : backend === "webgpu" && software ? SOFTWARE_GPU : {};
}

/** Every case, by name. */
export const CASES: Readonly<Record<CaseName, CaseSpec>> = {
  "step-cnn28": {
    name: "step-cnn28",
    title: "CoSS training step, ResNet-like CNN 28×28×1 (32-64-128), head 128→512→256, SGD",
    throughput: false,
    iters: 10,
    warmup: 2,
    profile: true,
    config: (quick) => stepConfig("cnn28", quick),
    plan: plan({ iters: 3, warmup: 1, note: "cpu backend takes ~30-40 s per step: 3 iterations" }),
    setup: stepCase,
  },
  "step-r18": {
    name: "step-r18",
    title: "CoSS training step, ResNet-18 (CIFAR stem) 32×32×3, head 512→512→512, SGD",
    throughput: false,
    iters: 10,
    warmup: 2,
    profile: true,
    config: (quick) => stepConfig("resnet18", quick),
    plan: plan(cpuTooSlow("one ResNet-18 step at batch 64 takes many minutes")),
    setup: stepCase,
  },
  "teacher-embed": {
    name: "teacher-embed",
    title: "Teacher forward, ResNet-50 (CIFAR stem) 32×32×3, inference mode",
    throughput: true,
    iters: 10,
    warmup: 2,
    profile: false,
    config: (quick) => ({
      depth: 50,
      width: quick ? 0.125 : 1,
      batch: quick ? 2 : 64,
      size: 32,
      channels: 3,
    }),
    plan: plan(cpuTooSlow("one ResNet-50 batch of 64 takes minutes")),
    setup: teacherCase,
    native: { backend: ONNX_BACKEND, setup: onnxTeacherCase },
  },
  augment: {
    name: "augment",
    title: "MoCo-v2 augmentation of a uint8 batch (crop, jitter, grey, blur, flip, normalise)",
    throughput: true,
    iters: 10,
    warmup: 2,
    profile: false,
    config: (quick) => ({ batch: quick ? 8 : 256, size: 32, channels: 3 }),
    plan: plan({}),
    setup: augmentCase,
  },
  knn: {
    name: "knn",
    title: "Weighted kNN (k 10, T 0.07) on random features, 10k test × 60k train, d 512",
    throughput: true,
    iters: 3,
    warmup: 1,
    profile: false,
    config: (quick) => ({
      nTrain: quick ? 2000 : 60000,
      nTest: quick ? 500 : 10000,
      dim: quick ? 32 : 512,
      k: 10,
      t: 0.07,
      classes: 10,
      chunk: 1024,
    }),
    plan: plan({
      skip: "tfjs-cpu's matMul is plain JS: the 614 GFLOP of one pass would take tens of " +
        "minutes. --force runs 1 iteration",
      iters: 1,
      warmup: 0,
    }),
    setup: knnCase,
  },
  "teacher-cache": {
    name: "teacher-cache",
    title: "Distill step of the default config: cached teacher targets vs the online teacher",
    throughput: false,
    // Pairs are cheap next to the cache build; more of them steady the medians under load.
    iters: 20,
    warmup: 3,
    profile: false,
    torch: false,
    config: teacherCacheConfig,
    plan: (backend, software) =>
      backend === "cpu"
        ? {
          skip: "tfjs-cpu runs convolutions as plain JS loops; the cache build (the teacher " +
            "over 20k images) takes minutes, and each step seconds. --force runs 1 iteration",
          iters: 1,
          warmup: 0,
        }
        : backend === "webgpu" && software
        ? { ...SOFTWARE_GPU, skip: "the cache build on a software adapter takes too long" }
        : {},
    setup: teacherCacheCase,
  },
  "webgpu-grads": {
    name: "webgpu-grads",
    title: "WebGPU filter gradient: tfjs's kernel vs the toolkit's implicit GEMM (A/B)",
    throughput: false,
    iters: 5,
    warmup: 1,
    profile: false,
    torch: false,
    config: webgpuGradsConfig,
    backends: ["webgpu"],
    plan: (_backend, software) =>
      software ? { iters: 3, warmup: 1, note: "software WebGPU adapter: 3 iterations" } : {},
    setup: webgpuGradsCase,
  },
};
