/**
 * The pretrain config: its shape and its schema (every default, written
 * once), read by the config machinery of `lib/config` (YAML, `key=value`
 * overrides, merging, validation, "did you mean") in pretrain's wording.
 *
 * @module
 */
import { stringify as stringifyYaml } from "yaml";
import type { AugmentStep } from "../augment/augment.ts";
import { ConfigError } from "../config/config.ts";
import { parseLayered } from "../config/layers.ts";
import {
  defaultsOf,
  isPlainObject,
  type LeafSpec,
  type SectionSpec,
  type Spec,
} from "../config/spec.ts";
import type { Check, ConfigSystem, Problem, Wording } from "../config/system.ts";
import type { DatasetSpec } from "../data/datasets.ts";
import { BACKEND_CHOICES, type BackendChoice } from "../backend_names.ts";
import type { LinearProtocol } from "../eval/linear.ts";
import { listModels } from "../models/registry.ts";
import { type OptimizerConfig, validateOptimizerConfig } from "../optim/optim.ts";
import { type ScheduleConfig, validateScheduleConfig } from "../optim/schedule.ts";
import { didYouMean } from "../util/suggest.ts";

/** How a teacher is trained. */
export type PretrainMethod = "supervised" | "simclr";

/**
 * Everything `deno task pretrain` reads from its YAML config. The defaults are
 * written once, in the schema below: see {@linkcode DEFAULT_PRETRAIN_CONFIG}.
 */
export interface PretrainConfig {
  /**
   * `supervised`: cross-entropy on labels; `simclr`: NT-Xent on two views, no labels.
   */
  method: PretrainMethod;
  /**
   * Seed of the model init, data order and augmentations.
   */
  seed: number;
  /**
   * `auto` (`COSS_BACKEND` when set, else the automatic choice), `webgpu`, `wasm` or `cpu`.
   */
  backend: BackendChoice;
  /**
   * Checkpoints and logs.
   */
  runDir: string;
  /**
   * Where `model.safetensors` and `card.json` go.
   */
  out: string;
  /**
   * Why this teacher ships (e.g. the comparison with the other method); appended to the card's `choice`.
   */
  note: string;
  /** Training and evaluation data. */
  data: {
    /**
     * The dataset the teacher trains on.
     */
    train: DatasetSpec;
    /**
     * The labelled dataset the teacher is evaluated on (kNN and linear probe).
     */
    test: DatasetSpec;
    /**
     * Train on the first N images only (null: all).
     */
    subset: number | null;
    /**
     * Input side.
     */
    size: number;
    /**
     * Per-channel normalisation mean (Fashion-MNIST's by default).
     */
    mean: number[];
    /**
     * Per-channel normalisation std (Fashion-MNIST's by default).
     */
    std: number[];
    /** Training augmentation (lib/augment/augment.ts steps), without the final normalize. */
    augment: AugmentStep[];
  };
  /** The backbone to train (the teacher). */
  model: {
    /**
     * Registry name.
     */
    architecture: string;
    /**
     * Arguments of the registry model (see `ModelArgsMap`).
     */
    args: Record<string, unknown>;
  };
  /** SimCLR only. */
  simclr: {
    /**
     * NT-Xent temperature.
     */
    temperature: number;
    /**
     * Projection MLP hidden width.
     */
    hidden: number;
    /**
     * Projection output width.
     */
    projectionDim: number;
  };
  /** Optimizer (lib/optim/optim.ts), PyTorch semantics. */
  optim: OptimizerConfig;
  /** Learning-rate schedule over all steps (lib/optim/schedule.ts). */
  schedule: ScheduleConfig;
  /** Length and batch size. */
  train: {
    epochs: number;
    batchSize: number;
    /** Read the loss back every this many steps. */ logEvery: number;
  };
  /** Final evaluation on the test split (lib/eval). */
  eval: {
    k: number;
    t: number;
    /**
     * Evaluate on the first N training images only (quick runs; null: all).
     */
    trainImages: number | null;
    /**
     * Evaluate on the first N test images only (quick runs; null: all).
     */
    testImages: number | null;
    /** Linear probe on frozen features (lib/eval/linear.ts; weight decay 0). */
    linear: Omit<LinearProtocol, "weightDecay" | "seed">;
  };
}

/** Text of the pretrain errors after "expected". */
const POSITIVE_INT = "a positive integer";
const POSITIVE_NUM = "a positive number";

const int = (min: 0 | 1, def: number | null, doc: string, nullable = false): LeafSpec => ({
  kind: "integer",
  range: { min },
  expect: min ? POSITIVE_INT : "a non-negative integer",
  default: def,
  nullable,
  doc,
});
const num = (zero: boolean, def: number, doc: string): LeafSpec => ({
  kind: "number",
  range: { min: 0, minOpen: !zero },
  expect: zero ? "a non-negative number" : POSITIVE_NUM,
  default: def,
  doc,
});
const oneOf = (values: readonly string[], def: string, doc: string): LeafSpec => ({
  kind: "enum",
  values,
  expect: `one of ${values.join(", ")}`,
  default: def,
  doc,
});
const path = (def: string, doc: string): LeafSpec => ({
  kind: "string",
  nonEmpty: true,
  expect: "a non-empty path",
  default: def,
  doc,
});
/** A value checked by `check`, which names what it expected. */
const custom = (
  expect: string,
  ok: (v: unknown) => boolean,
  def: unknown,
  doc: string,
): LeafSpec => ({
  kind: "custom",
  allowed: expect,
  check: (v) => ok(v) ? { value: v } : { problem: `expected ${expect}, got ${JSON.stringify(v)}` },
  default: def,
  doc,
});
/** Checked as a whole by `validateOptimizerConfig` / `validateScheduleConfig`. */
const any = (def: unknown, doc: string): LeafSpec => ({ kind: "any", default: def, doc });

/** A section whose keys must be exactly those of `T` (checked by the compiler). */
function section<T>(doc: string, fields: { [K in keyof T]-?: Spec }): SectionSpec {
  return { kind: "section", doc, fields: fields as Record<string, Spec> };
}

type Data = PretrainConfig["data"];
type Linear = PretrainConfig["eval"]["linear"];

/** Every key of {@linkcode PretrainConfig}: type, range, default and doc. */
const PRETRAIN_SCHEMA: SectionSpec = section<PretrainConfig>("a teacher pretraining run", {
  method: oneOf(["supervised", "simclr"], "supervised", "supervised or simclr"),
  seed: int(0, 0, "seed of the model init, data order and augmentations"),
  backend: oneOf([...BACKEND_CHOICES], "auto", "tfjs backend"),
  runDir: path("runs/pretrain", "checkpoints and logs"),
  out: path("runs/pretrain/teacher", "where model.safetensors and card.json go"),
  note: { kind: "string", expect: "a string", default: "", doc: "appended to the card's choice" },
  data: section<Data>("training and evaluation data", {
    train: any({ name: "fashion-mnist", split: "train" }, "the dataset the teacher trains on"),
    test: any({ name: "fashion-mnist", split: "test" }, "the labelled evaluation dataset"),
    subset: int(1, null, "train on the first N images only (null: all)", true),
    size: int(1, 28, "input side"),
    mean: { kind: "numbers", expect: "a list of numbers", default: [0.286], doc: "mean" },
    std: { kind: "numbers", expect: "a list of numbers", default: [0.353], doc: "std" },
    augment: custom(
      "a list of augment steps",
      Array.isArray,
      [{ op: "horizontalFlip", p: 0.5 }],
      "training augmentation, without the final normalize",
    ),
  }),
  model: section<PretrainConfig["model"]>("the backbone to train", {
    architecture: oneOf(listModels(), "resnet18", "registry name"),
    args: custom(
      "a mapping",
      isPlainObject,
      { stem: "cifar", width: 0.125, inChannels: 1 },
      "args",
    ),
  }),
  simclr: section<PretrainConfig["simclr"]>("SimCLR only", {
    temperature: num(false, 0.5, "NT-Xent temperature"),
    hidden: int(1, 256, "projection MLP hidden width"),
    projectionDim: int(1, 128, "projection output width"),
  }),
  optim: section<PretrainConfig["optim"]>("optimizer (lib/optim/optim.ts)", {
    name: any("sgd", "sgd or adamw"),
    lr: any(0.1, "learning rate"),
    momentum: any(0.9, "SGD momentum"),
    nesterov: any(true, "Nesterov momentum"),
    weightDecay: any(5e-4, "weight decay"),
    betas: any([0.9, 0.999], "AdamW betas"),
    eps: any(1e-8, "AdamW epsilon"),
    clipNorm: any(null, "gradient-norm clipping (null: off)"),
  }),
  schedule: section<PretrainConfig["schedule"]>("learning rate per step (lib/optim/schedule.ts)", {
    name: any("warmup-cosine", "constant, step, cosine or warmup-cosine"),
    warmupSteps: any(100, "linear warmup steps"),
    stepSize: any(1000, "steps between decays"),
    gamma: any(0.1, "decay factor"),
    minLr: any(0, "cosine floor"),
  }),
  train: section<PretrainConfig["train"]>("length and batch size", {
    epochs: int(1, 4, "epochs"),
    batchSize: int(1, 128, "batch size"),
    logEvery: int(1, 20, "steps between loss read-backs"),
  }),
  eval: section<PretrainConfig["eval"]>("final evaluation on the test split", {
    k: int(1, 10, "kNN neighbours"),
    t: num(false, 0.07, "kNN temperature"),
    trainImages: int(1, null, "evaluate on the first N training images (null: all)", true),
    testImages: int(1, null, "evaluate on the first N test images (null: all)", true),
    linear: section<Linear>("linear probe on frozen features", {
      epochs: int(0, 30, "epochs"),
      lr: num(false, 0.1, "learning rate"),
      batchSize: int(1, 256, "batch size"),
      milestones: custom(
        "a list of epoch numbers",
        (v) => Array.isArray(v) && v.every((m) => Number.isInteger(m)),
        [20, 25],
        "epochs at which the learning rate is multiplied by gamma",
      ),
      gamma: num(false, 0.1, "learning-rate factor at each milestone"),
      momentum: num(true, 0.9, "SGD momentum"),
      normalize: oneOf(["standardize", "none"], "standardize", "feature normalisation"),
    }),
  }),
});

/** The defaults every config starts from, generated from the schema. */
export const DEFAULT_PRETRAIN_CONFIG: PretrainConfig = defaultsOf(
  PRETRAIN_SCHEMA,
) as PretrainConfig;

/**
 * A bad pretrain config, key, value or flag: a {@linkcode ConfigError} with a one-line message naming file and key.
 *
 * @example
 * ```ts
 * import { parsePretrainConfig, PretrainConfigError } from "./pretrain.ts";
 *
 * try {
 *   parsePretrainConfig("method: simclr\ntrain: {epoch: 2}", { source: "my.yaml" });
 * } catch (e) {
 *   console.log(e instanceof PretrainConfigError, (e as Error).message); // true, naming my.yaml and train.epoch
 * }
 * ```
 */
export class PretrainConfigError extends ConfigError {
  /**
   * Make the error.
   *
   * @param message One line: `<source>: <dotted.key>: <problem>`.
   */
  constructor(message: string) {
    super(message);
    this.name = "PretrainConfigError";
  }
}

/** `, got [1,2]`: values as JSON. */
const json = (v: unknown) => JSON.stringify(v);

/** How pretrain errors read: `unknown key "a.b" (did you mean "c"?)`, values as JSON. */
const PRETRAIN_WORDING: Wording = {
  error: (message) => new PretrainConfigError(message),
  invalidYaml: "not valid YAML",
  unknownKey: (source, path, key, candidates) =>
    `${source}: unknown key "${path}"` +
    didYouMean(key, candidates, ` (expected one of ${candidates.join(", ")})`),
  notMapping: (source, path, _spec, value) =>
    `${source}: ${path || "(top level)"}: expected a mapping, got ${json(value)}`,
  topLevel: (source) => `${source}: expected a mapping at the top level`,
  show: json,
  enumHint: false,
  noEquals: (override) => `--set "${override}": expected key=value`,
  overrideValues: "yaml",
  belowLeaf: "replace",
};

/** The optimizer and schedule checks of `lib/optim`; their errors name the config file. */
function optimChecks(): Check<PretrainConfig>[] {
  return [
    (c) => validated(() => validateOptimizerConfig(c.optim)),
    (c) => validated(() => validateScheduleConfig(c.schedule)),
  ];
}

/** A `lib/optim` error (`optim.lr: expected …`) as a problem at its key. */
function validated(validate: () => void): Problem | undefined {
  try {
    validate();
  } catch (e) {
    const message = (e as Error).message;
    const at = message.indexOf(": ");
    return {
      path: message.slice(0, at),
      problem: message.slice(at + 2),
      also: [],
      blameFile: true,
    };
  }
}

const PRETRAIN_SYSTEM: ConfigSystem<PretrainConfig> = {
  schema: PRETRAIN_SCHEMA,
  crossChecks: optimChecks(),
  wording: PRETRAIN_WORDING,
};

/**
 * Parse and validate a pretrain config from YAML text, with `key=value`
 * overrides (values parsed as YAML) applied on top.
 *
 * @example
 * ```ts
 * import { parsePretrainConfig } from "./_config.ts";
 * const c = parsePretrainConfig("method: simclr\ntrain: {epochs: 2}", { overrides: ["optim.lr=0.05"] });
 * console.log(c.method, c.train.epochs, c.optim.lr); // simclr 2 0.05
 * ```
 *
 * @throws {PretrainConfigError} With a one-line message naming the source and key.
 */
export function parsePretrainConfig(
  text: string,
  options: { source?: string; overrides?: string[] } = {},
): PretrainConfig {
  return parseLayered(PRETRAIN_SYSTEM, text, {
    source: options.source ?? "config",
    base: DEFAULT_PRETRAIN_CONFIG,
    overrides: options.overrides,
  });
}

/**
 * Read a YAML config file (or the defaults when `path` is undefined) and apply overrides.
 *
 * @example
 * ```ts
 * import { loadPretrainConfig } from "./pretrain.ts";
 *
 * // No path: the defaults, here with one override (a path reads that YAML file instead).
 * const config = await loadPretrainConfig(undefined, ["method=simclr"]);
 * console.log(config.method, config.model.architecture); // "simclr" "resnet18"
 * ```
 */
export async function loadPretrainConfig(
  path: string | undefined,
  overrides: string[] = [],
): Promise<PretrainConfig> {
  let text = "";
  if (path !== undefined) {
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      const why = (e as Error).message.replace(/: \w+ '[^']*'$/, "");
      throw new PretrainConfigError(
        `Cannot read config "${path}": ${why}; check the --config path`,
      );
    }
  }
  return parsePretrainConfig(text, { source: path ?? "defaults", overrides });
}

/**
 * The resolved config as YAML, for logs and the run directory.
 *
 * @example
 * ```ts
 * import { parsePretrainConfig, stringifyPretrainConfig } from "./pretrain.ts";
 *
 * const yaml = stringifyPretrainConfig(parsePretrainConfig("method: supervised"));
 * console.log(parsePretrainConfig(yaml).method); // "supervised": the YAML reads back
 * ```
 */
export function stringifyPretrainConfig(c: PretrainConfig): string {
  return stringifyYaml(c, { lineWidth: 100 });
}
