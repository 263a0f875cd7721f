/**
 * The type of a resolved config. Its keys, ranges and defaults are declared
 * once more, as data, in `_schema.ts`: the compiler checks the two have the
 * same keys, and tests/config/defaults_test.ts that every `@default` tag
 * here equals the schema's default.
 *
 * @module
 */
import type { OptimizerConfig } from "../optim/optim.ts";
import type { ScheduleConfig } from "../optim/schedule.ts";
import type { AugmentStep } from "../augment/augment.ts";
import type { BackendChoice } from "../backend_names.ts";
import type { DatasetSpec } from "../data/datasets.ts";
import type { LinearProtocol } from "../eval/linear.ts";

/** Everything a distillation run needs; `configHelp()` in `config.ts` lists each key. */
export interface DistillConfig {
  /**
   * Seed of every random stream (data order, augmentation, init).
   * @default {0}
   */
  seed: number;
  /**
   * The tfjs backend; `auto` prefers a real GPU, then wasm, then cpu.
   * @default {"auto"}
   */
  backend: BackendChoice;
  /**
   * Where checkpoints, metrics.jsonl, config.yaml, exports go.
   * @default {"runs/default"}
   */
  runDir: string;
  /** Images, augmentation and batches. */
  data: {
    /**
     * Training images (labels never reach training).
     * @default {{name: "fashion-mnist", split: "train"}}
     */
    train: DatasetSpec;
    /**
     * Images for kNN evaluation.
     * @default {{name: "fashion-mnist", split: "test"}}
     */
    test: DatasetSpec | null;
    /**
     * Use only the first N training images (null: all).
     * @default {null}
     */
    subset: number | null;
    /**
     * Model input size (square) after augmentation, ≥ 8.
     * @default {28}
     */
    size: number;
    /**
     * Per-channel normalisation mean.
     * @default {[0.286]} (Fashion-MNIST)
     */
    mean: number[];
    /**
     * Per-channel normalisation std.
     * @default {[0.353]}
     */
    std: number[];
    /**
     * `"mocov2"`, `"eval"` or `"none"`, or explicit steps (`lib/augment/augment.ts`).
     * @default {"mocov2"}
     */
    augment: string | AugmentStep[];
    /** How batches are drawn. */
    sampler: {
      /**
       * `"neighbour"`: CoSS's neighbour-aware batches (needs mined teacher neighbours); `"random"`: shuffled batches.
       * @default {"neighbour"}
       */
      kind: "neighbour" | "random";
      /**
       * Anchor images per neighbour batch; a batch holds `anchors · (1 + neighbours)` images.
       * @default {16}
       */
      anchors: number;
      /**
       * Neighbours drawn after each anchor, without replacement; at most `pool`.
       * @default {15}
       */
      neighbours: number;
      /**
       * Neighbours are drawn from each anchor's top `pool` teacher neighbours; at most `k`.
       * @default {31}
       */
      pool: number;
      /**
       * Neighbours mined per image.
       * @default {31}
       */
      k: number;
      /**
       * Batch size of the random sampler.
       * @default {256}
       */
      batchSize: number;
    };
  };
  /** The frozen teacher. */
  teacher: {
    /**
     * Where the teacher comes from: the bundled one, a PyTorch safetensors file, a tfjs `model.json`,
     * or an ONNX file run in onnxruntime-node.
     * @default {"bundled"}
     */
    source: "bundled" | "safetensors" | "tfjs" | "onnx";
    /**
     * Bundled teacher name.
     * @default {"fashion-mnist"}
     */
    name: string;
    /**
     * File for safetensors / tfjs model.json; required for those.
     * @default {null}
     */
    path: string | null;
    /**
     * Registry name for safetensors; required there.
     * @default {null}
     */
    architecture: string | null;
    /**
     * Arguments of `architecture`.
     * @default {{}}
     */
    args: Record<string, unknown>;
    /**
     * Safetensors key prefix (e.g. `module.encoder_q.`).
     * @default {""}
     */
    prefix: string;
    /**
     * Output node of a tfjs teacher, or output name of an ONNX teacher (the first output when null).
     * @default {null}
     */
    output: string | null;
    /**
     * For an ONNX output of tokens `[B, N, D]`: the first (CLS) token, or the mean of the patch tokens (all but the first).
     * @default {"cls"}
     */
    tokens: "cls" | "mean";
    /** What an ONNX teacher expects; each null key is read from a `card.json` next to the model. */
    input: {
      /**
       * Input height and width; from the card, else the model's fixed input shape.
       * @default {null}
       */
      size: [number, number] | null;
      /**
       * Per-channel mean on `[0, 1]` pixels; from the card, else `data.mean`.
       * @default {null}
       */
      mean: number[] | null;
      /**
       * Per-channel std; from the card, else `data.std`.
       * @default {null}
       */
      std: number[] | null;
      /**
       * `NCHW` (PyTorch exports) or `NHWC`; from the card, else NCHW.
       * @default {null}
       */
      layout: "NCHW" | "NHWC" | null;
    };
    /** How onnxruntime-node runs an ONNX teacher. */
    runtime: {
      /**
       * Intra-op threads; 0 lets onnxruntime choose (one per core).
       * @default {0}
       */
      threads: number;
      /**
       * Execution provider: `cpu`, or `cuda` where the package has the CUDA build.
       * @default {"cpu"}
       */
      provider: "cpu" | "cuda";
    };
    /**
     * Train from cached teacher features instead of running the teacher each step: with
     * `views: 0`, features of the un-augmented image; with `views ≥ 1`, of recorded augmented
     * views that the student then trains on exactly. `false`: the teacher runs on every
     * augmented batch.
     * @default {true}
     */
    cache: boolean;
    /**
     * Augmented views cached per training image (the multi-view cache, `lib/teacher/view_cache.ts`);
     * 0 caches the un-augmented image's features only.
     * @default {0}
     */
    views: number;
    /**
     * Storage type of the multi-view cache's features.
     * @default {"float32"}
     */
    cacheDtype: "float32" | "float16";
    /**
     * Where caches live.
     * @default {"runs/cache"}
     */
    cacheDir: string;
    /**
     * Images per teacher call while filling the feature cache; `deno task prepare` aligns its
     * embed shards to it, so that a sharded embed batches exactly like one process.
     * @default {256}
     */
    batchSize: number;
    /**
     * Rows (and columns) per similarity block while mining neighbours; `deno task prepare`
     * aligns its query shards to it, so that a sharded mine computes the same blocks.
     * @default {2048}
     */
    mineChunk: number;
  };
  /** The student. */
  student: {
    /**
     * Registry name (`lib/models/registry.ts`).
     * @default {"resnet18"}
     */
    architecture: string;
    /**
     * Checked against the architecture's arguments.
     * @default {{stem: "cifar", width: 0.25, inChannels: 1}}
     */
    args: Record<string, unknown>;
    /**
     * Projection head hidden width (the head exists only when dims differ).
     * @default {2048}
     */
    headHidden: number;
  };
  /** The loss. */
  loss: {
    /**
     * One of `METHOD_NAMES` (`lib/methods/registry.ts`).
     * @default {"coss"}
     */
    name: string;
    /**
     * Checked against the loss's options, missing ones filled in.
     * @default {{lambda: 1, scale: 1/(0.07*0.1)}}
     */
    options: Record<string, unknown>;
  };
  /** The optimiser (fields documented on `OptimizerConfig`). */
  optim: OptimizerConfig;
  /** The learning rate per step (fields documented on `ScheduleConfig`). */
  schedule: ScheduleConfig;
  /** Length and cadence. */
  train: {
    /**
     * Epochs (an epoch = one pass of the sampler). Exactly one of epochs/steps is non-null.
     * @default {1}
     */
    epochs: number | null;
    /**
     * Optimizer steps in all, instead of `epochs`. Exactly one of epochs/steps is non-null.
     * @default {null}
     */
    steps: number | null;
    /**
     * Run the periodic kNN every this many steps (0: only at the end).
     * @default {500}
     */
    evalEvery: number;
    /**
     * Write a checkpoint every this many steps (0: only at the end).
     * @default {200}
     */
    checkpointEvery: number;
    /**
     * Write a loss line to `metrics.jsonl` (and the terminal) every this many steps.
     * @default {20}
     */
    logEvery: number;
  };
  /** Evaluation: periodic kNN, and the report at the end of a run. */
  eval: {
    /**
     * kNN neighbours.
     * @default {10}
     */
    k: number;
    /**
     * kNN vote temperature.
     * @default {0.07}
     */
    t: number;
    /**
     * Periodic kNN on this many test images (final eval uses all).
     * @default {1000}
     */
    subset: number;
    /**
     * Test images in the final evaluation (null: all).
     * @default {null}
     */
    testSubset: number | null;
    /**
     * NN-IoU neighbourhood sizes (self excluded).
     * @default {[1, 5, 11, 21, 31]}
     */
    iouKs: number[];
    /**
     * Test images in the 2-D map of the report (0: no map).
     * @default {2000}
     */
    mapPoints: number;
    /**
     * Also evaluate raw pixels, the random-init student and the teacher's probe.
     * @default {true}
     */
    baselines: boolean;
    /**
     * Measure what the student costs next to the teacher (parameters, multiply-adds, latency at
     * batch 1 and 64) and print it with the final table.
     * @default {true}
     */
    cost: boolean;
    /** The linear probe on frozen features (`lib/eval/linear.ts`; epochs 0: no probe). */
    linear: Omit<LinearProtocol, "seed" | "normalize">;
  };
}
