/**
 * The schema of {@linkcode DistillConfig}: every key's type, range, default
 * and doc. `DEFAULT_CONFIG` is generated from it.
 *
 * @module
 */
import { BACKEND_CHOICES } from "../backend_names.ts";
import { DATASET_NAMES } from "../data/datasets.ts";
import { DEFAULT_COSS_SCALE } from "../losses/coss.ts";
import { METHOD_DEFAULTS, METHOD_NAMES } from "../methods/registry.ts";
import { listModels } from "../models/registry.ts";
import type { DistillConfig } from "./types.ts";
import { augmentSpec, modelArgsVariant } from "./_nested.ts";
import type { LeafSpec, Range, SectionSpec, Spec } from "./spec.ts";

/** A section whose keys must be exactly those of `T` (checked by the compiler). */
function section<T>(
  doc: string,
  fields: { [K in keyof T]-?: Spec },
  extra: Partial<SectionSpec> = {},
): SectionSpec {
  return { kind: "section", doc, fields: fields as Record<string, Spec>, ...extra };
}

const int = (min: number, def: number | null, doc: string, nullable = false): LeafSpec => ({
  kind: "integer",
  range: { min },
  default: def,
  doc,
  nullable,
});
const num = (range: Range, def: number, doc: string): LeafSpec => ({
  kind: "number",
  range,
  default: def,
  doc,
});
const optional = (spec: LeafSpec): LeafSpec => ({ ...spec, optional: true });

/** What the baselines' options mean, for `--help` and docs/configuration.md. */
const METHOD_OPTION_DOCS: Record<string, string> = {
  scale: "gradient multiplier 1/(0.07·0.1), as CoSS",
  tau: "softmax temperature",
  tauTeacher: "teacher softmax temperature",
  tauStudent: "student softmax temperature",
  interWeight: "weight of DIST's inter-relation term",
  intraWeight: "weight of DIST's intra-relation term",
  distanceWeight: "weight of RKD's distance term",
  angleWeight: "weight of RKD's angle term",
  eps: "small constant that keeps PKT's probabilities finite",
  queueSize: "entries in the queue of past teacher features",
  bagSize: "neighbours in each BINGO bag",
  ownWeight: "weight of the term of the image itself",
  bagWeight: "weight of the term of its bag member",
  studentKeys: "student keys of the queue: a per-image EMA bank, or the online student",
  bankMomentum: "momentum of the per-image feature bank",
};

/** A method option's spec from its default: sizes are integers ≥ 1, temperatures > 0, the rest ≥ 0. */
function methodOption(key: string, def: number | string): LeafSpec {
  const doc = METHOD_OPTION_DOCS[key] ?? key;
  if (typeof def === "string") {
    const values = key === "studentKeys" ? ["ema", "online"] : [def];
    const what = METHOD_OPTION_DOCS[key] ?? `${key} (${values.join(" or ")})`;
    return { kind: "enum", values, default: def, doc: what };
  }
  if (/size$/i.test(key)) return int(1, def, doc);
  if (/^(tau|eps)/.test(key)) return num({ min: 0, minOpen: true }, def, doc);
  return num({ min: 0 }, def, doc);
}

/**
 * Each loss's options, with defaults: CoSS's by hand, the baselines' from
 * `METHOD_DEFAULTS` (`lib/methods/registry.ts`).
 */
export const LOSS_OPTIONS: Record<string, SectionSpec> = {
  ...Object.fromEntries(
    Object.entries(METHOD_DEFAULTS).map(([name, defaults]) => [
      name,
      {
        kind: "section",
        doc: `options of the ${name} loss (defaults: METHOD_DEFAULTS in lib/methods/registry.ts)`,
        fields: Object.fromEntries(
          Object.entries(defaults).map(([k, d]) => [k, methodOption(k, d)]),
        ),
      } satisfies SectionSpec,
    ]),
  ),
  coss: {
    kind: "section",
    doc: "CoSS: scale · (L_co + λ · L_ss)",
    fields: {
      lambda: num({ min: 0 }, 1, "weight λ of the space-similarity term (0: L_co alone)"),
      scale: num({ min: 0, minOpen: true }, DEFAULT_COSS_SCALE, "gradient multiplier 1/(0.07·0.1)"),
    },
  },
};

const downloadable: SectionSpec = {
  kind: "section",
  doc: "a downloadable dataset",
  fields: {
    split: optional({ kind: "enum", values: ["train", "test"], doc: "split (default train)" }),
    dataDir: optional({ kind: "string", doc: "folder holding the files, looked in first" }),
    cacheDir: optional({ kind: "string", doc: "where downloads go" }),
    download: optional({ kind: "boolean", doc: "download when missing (default true)" }),
    useSystemData: optional({ kind: "boolean", doc: "also look in system folders" }),
    mirror: optional({ kind: "string", doc: "base URL of a mirror" }),
  },
};

/** Keys of each dataset spec (`lib/data/datasets.ts`), `name` aside. */
export const DATASET_VARIANTS: Record<string, SectionSpec> = {
  "fashion-mnist": downloadable,
  mnist: downloadable,
  cifar10: downloadable,
  cifar100: downloadable,
  folder: {
    kind: "section",
    doc: "an ImageFolder tree root/<class>/<image>",
    fields: {
      root: { kind: "string", nonEmpty: true, required: true, doc: "folder of class folders" },
      extensions: optional({ kind: "strings", doc: "extensions read" }),
      onBadImage: optional({ kind: "enum", values: ["skip", "fail"], doc: "unreadable files" }),
      verify: optional({ kind: "enum", values: ["header", "decode"], doc: "check at open" }),
      size: optional({ kind: "pair", integer: true, range: { min: 1 }, doc: "resize to [h, w]" }),
      channels: optional({ kind: "enum", values: [1, 3], doc: "output channels" }),
      maxPixels: optional({
        kind: "integer",
        range: { min: 1 },
        doc: "most pixels (h×w) an image may claim, checked before decoding (default 50e6)",
      }),
    },
  },
  npy: {
    kind: "section",
    doc: "images in a .npy file",
    fields: {
      path: { kind: "string", nonEmpty: true, required: true, doc: "the images file" },
      labels: optional({ kind: "string", doc: "a .npy of integer labels" }),
      kind: optional({ kind: "enum", values: ["images", "features"], doc: "what the file holds" }),
      classNames: optional({ kind: "strings", doc: "class names by label" }),
    },
  },
};

const dataset = (split: "train" | "test", doc: string, nullable: boolean): Spec => ({
  kind: "union",
  tag: "name",
  variants: Object.fromEntries(DATASET_NAMES.map((n) => [n, DATASET_VARIANTS[n]])),
  default: { name: "fashion-mnist", split },
  doc,
  nullable,
});

const models: readonly string[] = listModels();
const pos: Range = { min: 0, minOpen: true };

/** The `eval` section's doc: it names what sets the section apart in run dirs. */
const EVAL_DOC = "evaluation: periodic kNN and the final report; not in the config hash, so " +
  "other values evaluate a finished run again rather than being refused";

/** The whole schema. */
export const SCHEMA: SectionSpec = section<DistillConfig>("a distillation run", {
  seed: int(0, 0, "seed of every random stream (data order, augmentation, init)"),
  backend: {
    kind: "enum",
    values: [...BACKEND_CHOICES],
    default: "auto",
    doc: "tfjs backend; auto: COSS_BACKEND when set, else a real GPU's webgpu, else wasm, else cpu",
  },
  runDir: {
    kind: "string",
    nonEmpty: true,
    default: "runs/default",
    doc: "checkpoints, metrics.jsonl, config.yaml and exports go here",
  },
  data: section<DistillConfig["data"]>("images, augmentation and batches", {
    train: dataset("train", "training images (their labels never reach training)", false),
    test: dataset("test", "images for kNN evaluation (null: none)", true),
    subset: int(1, null, "use only the first N training images (null: all)", true),
    size: int(8, 28, "model input side after augmentation"),
    mean: { kind: "numbers", default: [0.286], doc: "per-channel normalisation mean" },
    std: { kind: "numbers", range: pos, default: [0.353], doc: "per-channel normalisation std" },
    augment: augmentSpec("mocov2"),
    sampler: section<DistillConfig["data"]["sampler"]>("how batches are drawn", {
      kind: {
        kind: "enum",
        values: ["neighbour", "random"],
        default: "neighbour",
        doc: "neighbour: anchors plus teacher neighbours (CoSS); random: plain batches",
      },
      anchors: int(1, 16, "anchor images per batch"),
      neighbours: int(0, 15, "neighbours drawn after each anchor (≤ pool)"),
      pool: int(1, 31, "neighbours drawn from each anchor's top-pool list (≤ k)"),
      k: int(1, 31, "neighbours mined per image"),
      batchSize: int(1, 256, "batch size of the random sampler"),
    }),
  }),
  teacher: section<DistillConfig["teacher"]>("the frozen teacher", {
    source: {
      kind: "enum",
      values: ["bundled", "safetensors", "tfjs", "onnx"],
      default: "bundled",
      doc: "bundled name, safetensors file plus architecture, tfjs model.json, or .onnx file",
    },
    name: { kind: "string", nonEmpty: true, default: "fashion-mnist", doc: "bundled teacher" },
    path: {
      kind: "string",
      nonEmpty: true,
      nullable: true,
      default: null,
      doc: ".safetensors file, tfjs model.json or .onnx file",
    },
    architecture: {
      kind: "enum",
      values: models,
      nullable: true,
      default: null,
      doc: "registry name of a safetensors teacher",
    },
    args: {
      kind: "dependent",
      on: "architecture",
      variant: modelArgsVariant,
      default: {},
      doc: "arguments of the teacher architecture",
    },
    prefix: { kind: "string", default: "", doc: "safetensors key prefix, e.g. module.encoder_q." },
    output: {
      kind: "string",
      nonEmpty: true,
      nullable: true,
      default: null,
      doc: "output node of a tfjs teacher, output name of an ONNX teacher (null: the first)",
    },
    tokens: {
      kind: "enum",
      values: ["cls", "mean"],
      default: "cls",
      doc: "ONNX token output [B, N, D]: CLS token or mean of the patch tokens",
    },
    input: section<DistillConfig["teacher"]["input"]>(
      "what an ONNX teacher expects (null: from card.json next to the model)",
      {
        size: {
          kind: "pair",
          integer: true,
          range: { min: 1 },
          nullable: true,
          default: null,
          doc: "input [height, width] (null: card, else the model's fixed shape)",
        },
        mean: {
          kind: "numbers",
          nullable: true,
          default: null,
          doc: "per-channel mean (null: card, else data.mean)",
        },
        std: {
          kind: "numbers",
          range: pos,
          nullable: true,
          default: null,
          doc: "per-channel std (null: card, else data.std)",
        },
        layout: {
          kind: "enum",
          values: ["NCHW", "NHWC"],
          nullable: true,
          default: null,
          doc: "input layout (null: card, else NCHW)",
        },
      },
    ),
    runtime: section<DistillConfig["teacher"]["runtime"]>("onnxruntime-node for an ONNX teacher", {
      threads: int(0, 0, "intra-op threads (0: onnxruntime's choice, one per core)"),
      provider: {
        kind: "enum",
        values: ["cpu", "cuda"],
        default: "cpu",
        doc: "execution provider (cuda needs onnxruntime-node's CUDA build)",
      },
    }),
    cache: {
      kind: "boolean",
      default: true,
      doc: "train from cached teacher features (views: 0, the un-augmented image; else the views)",
    },
    views: {
      kind: "integer",
      range: { min: 0, max: 256 },
      default: 0,
      doc: "augmented views cached per image (0: the un-augmented image only)",
    },
    cacheDtype: {
      kind: "enum",
      values: ["float32", "float16"],
      default: "float32",
      doc: "storage type of the multi-view cache's features",
    },
    cacheDir: { kind: "string", nonEmpty: true, default: "runs/cache", doc: "cache folder" },
    batchSize: int(1, 256, "images per teacher call while filling the feature cache"),
    mineChunk: int(1, 2048, "rows per block while mining neighbours"),
  }),
  student: section<DistillConfig["student"]>("the student", {
    architecture: {
      kind: "enum",
      values: models,
      default: "resnet18",
      doc: "registry name (lib/models/registry.ts)",
    },
    args: {
      kind: "dependent",
      on: "architecture",
      variant: modelArgsVariant,
      default: { stem: "cifar", width: 0.25, inChannels: 1 },
      doc: "arguments of the student architecture",
    },
    headHidden: int(1, 2048, "projection head hidden width (a head exists when dims differ)"),
  }),
  loss: section<DistillConfig["loss"]>("the distillation loss", {
    name: { kind: "enum", values: METHOD_NAMES, default: "coss", doc: "method / loss name" },
    options: {
      kind: "dependent",
      on: "name",
      variant: (name) => LOSS_OPTIONS[name],
      default: { lambda: 1, scale: DEFAULT_COSS_SCALE },
      doc: "options of the loss",
    },
  }),
  optim: section<DistillConfig["optim"]>("the optimiser", {
    name: { kind: "enum", values: ["sgd", "adamw"], default: "sgd", doc: "sgd or adamw" },
    lr: num(pos, 0.03, "base learning rate (not scaled by batch size)"),
    momentum: num({ min: 0, max: 1, maxOpen: true }, 0.9, "SGD momentum"),
    nesterov: { kind: "boolean", default: false, doc: "Nesterov momentum (SGD)" },
    weightDecay: num({ min: 0 }, 1e-4, "L2 (SGD) or decoupled (AdamW) weight decay"),
    betas: {
      kind: "pair",
      range: { min: 0, max: 1, maxOpen: true },
      default: [0.9, 0.999],
      doc: "AdamW betas",
    },
    eps: num(pos, 1e-8, "AdamW epsilon"),
    clipNorm: {
      kind: "number",
      range: pos,
      nullable: true,
      default: null,
      doc: "global gradient-norm clipping threshold (null: off)",
    },
  }),
  schedule: section<DistillConfig["schedule"]>("learning rate per step", {
    name: {
      kind: "enum",
      values: ["constant", "step", "cosine", "warmup-cosine"],
      default: "warmup-cosine",
      doc: "constant, step (StepLR), cosine, or linear warmup then cosine",
    },
    warmupSteps: int(0, 0, "linear warmup steps (warmup-cosine)"),
    stepSize: int(1, 1000, "steps between decays (step)"),
    gamma: num(pos, 0.1, "decay factor (step)"),
    minLr: num({ min: 0 }, 0, "cosine floor (≤ optim.lr)"),
  }),
  train: section<DistillConfig["train"]>("length and cadence", {
    epochs: int(1, 1, "epochs (one pass of the sampler); exactly one of epochs/steps", true),
    steps: int(1, null, "optimiser steps; setting it clears epochs", true),
    evalEvery: int(0, 500, "steps between periodic kNN evals (0: only at the end)"),
    checkpointEvery: int(0, 200, "steps between checkpoints (0: only at the end)"),
    logEvery: int(1, 20, "steps between loss read-backs"),
  }, { oneOf: ["epochs", "steps"] }),
  eval: section<DistillConfig["eval"]>(EVAL_DOC, {
    k: int(1, 10, "kNN neighbours"),
    t: num(pos, 0.07, "kNN temperature T of the exp(cos/T) votes"),
    subset: int(1, 1000, "test images in periodic evals (the final one uses all)"),
    testSubset: int(1, null, "test images in the final evaluation, the first N (null: all)", true),
    iouKs: {
      kind: "numbers",
      integer: true,
      range: { min: 1 },
      default: [1, 5, 11, 21, 31],
      doc: "NN-IoU neighbourhood sizes k (self excluded), the paper's by default",
    },
    mapPoints: int(0, 2000, "test images in the report's 2-D map (0: no map)"),
    baselines: {
      kind: "boolean",
      default: true,
      doc: "also evaluate raw pixels, the random-init student and the teacher's linear probe",
    },
    cost: {
      kind: "boolean",
      default: true,
      doc: "measure parameters, multiply-adds and latency of teacher and student",
    },
    linear: section<DistillConfig["eval"]["linear"]>("the linear probe on frozen features", {
      epochs: int(0, 100, "passes over the training features (0: no probe)"),
      lr: num(pos, 0.1, "initial SGD learning rate"),
      batchSize: int(1, 256, "rows per SGD step"),
      milestones: {
        kind: "numbers",
        integer: true,
        range: { min: 1 },
        default: [60, 80],
        doc: "epochs at which the learning rate is multiplied by gamma",
      },
      gamma: num(pos, 0.1, "learning-rate factor at each milestone"),
      momentum: num({ min: 0, max: 1, maxOpen: true }, 0.9, "SGD momentum"),
      weightDecay: num({ min: 0 }, 0, "L2 weight decay"),
    }),
  }),
});
