/**
 * The pretrain config: its shape, defaults, YAML parsing and `key=value`
 * overrides, with one-line errors naming the file and the key.
 *
 * @module
 */
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { AugmentStep } from "../augment/augment.ts";
import type { DatasetSpec } from "../data/datasets.ts";
import { listModels } from "../models/registry.ts";
import { ConfigError } from "../config/config.ts";
import { validateOptimizerConfig } from "../optim/optim.ts";
import { validateScheduleConfig } from "../optim/schedule.ts";

/** How a teacher is trained. */
export type PretrainMethod = "supervised" | "simclr";

/** Everything `deno task pretrain` reads from its YAML config. */
export interface PretrainConfig {
  /**
   * `supervised`: cross-entropy on labels; `simclr`: NT-Xent on two views, no labels.
   * @default {"supervised"}
   */
  method: PretrainMethod;
  /**
   * Seed of the model init, data order and augmentations.
   * @default {0}
   */
  seed: number;
  /**
   * `auto` (`COSS_BACKEND` when set, else the automatic choice), `webgpu`, `wasm` or `cpu`.
   * @default {"auto"}
   */
  backend: "auto" | "webgpu" | "wasm" | "cpu";
  /**
   * Checkpoints and logs.
   * @default {"runs/pretrain"}
   */
  runDir: string;
  /**
   * Where `model.safetensors` and `card.json` go.
   * @default {"runs/pretrain/teacher"}
   */
  out: string;
  /**
   * Why this teacher ships (e.g. the comparison with the other method); appended to the card's `choice`.
   * @default {""}
   */
  note: string;
  /** Training and evaluation data. */
  data: {
    /**
     * The dataset the teacher trains on.
     * @default {{name: "fashion-mnist", split: "train"}}
     */
    train: DatasetSpec;
    /**
     * The labelled dataset the teacher is evaluated on (kNN and linear probe).
     * @default {{name: "fashion-mnist", split: "test"}}
     */
    test: DatasetSpec;
    /**
     * Train on the first N images only (null: all).
     * @default {null}
     */
    subset: number | null;
    /**
     * Input side.
     * @default {28}
     */
    size: number;
    /**
     * Per-channel normalisation mean (Fashion-MNIST's by default).
     * @default {[0.286]}
     */
    mean: number[];
    /**
     * Per-channel normalisation std (Fashion-MNIST's by default).
     * @default {[0.353]}
     */
    std: number[];
    /** Training augmentation (lib/augment/augment.ts steps), without the final normalize. */
    augment: AugmentStep[];
  };
  /** The backbone to train (the teacher). */
  model: {
    /**
     * Registry name.
     * @default {"resnet18"}
     */
    architecture: string;
    /**
     * Arguments of the registry model (see `ModelArgsMap`).
     * @default {{stem: "cifar", width: 0.125, inChannels: 1}}
     */
    args: Record<string, unknown>;
  };
  /** SimCLR only. */
  simclr: {
    /**
     * NT-Xent temperature.
     * @default {0.5}
     */
    temperature: number;
    /**
     * Projection MLP hidden width.
     * @default {256}
     */
    hidden: number;
    /**
     * Projection output width.
     * @default {128}
     */
    projectionDim: number;
  };
  /** Optimizer (lib/optim/optim.ts), PyTorch semantics. */
  optim: {
    /** @default {"sgd"} */ name: "sgd" | "adamw";
    /** @default {0.1} */ lr: number;
    /** @default {0.9} */ momentum: number;
    /** @default {true} */ nesterov: boolean;
    /** @default {5e-4} */ weightDecay: number;
    /** @default {[0.9, 0.999]} */ betas: [number, number];
    /** @default {1e-8} */ eps: number;
    /** @default {null} */ clipNorm: number | null;
  };
  /** Learning-rate schedule over all steps (lib/optim/schedule.ts). */
  schedule: {
    /** @default {"warmup-cosine"} */ name: "constant" | "step" | "cosine" | "warmup-cosine";
    /** @default {100} */ warmupSteps: number;
    /** @default {1000} */ stepSize: number;
    /** @default {0.1} */ gamma: number;
    /** @default {0} */ minLr: number;
  };
  /** Length and batch size. */
  train: {
    /** @default {4} */ epochs: number;
    /** @default {128} */ batchSize: number;
    /** Read the loss back every this many steps. @default {20} */ logEvery: number;
  };
  /** Final evaluation on the test split (lib/eval). */
  eval: {
    /** @default {10} */ k: number;
    /** @default {0.07} */ t: number;
    /**
     * Evaluate on the first N training images only (quick runs; null: all).
     * @default {null}
     */
    trainImages: number | null;
    /**
     * Evaluate on the first N test images only (quick runs; null: all).
     * @default {null}
     */
    testImages: number | null;
    /** Linear probe on frozen features (lib/eval/linear.ts; weight decay 0). */
    linear: {
      epochs: number;
      lr: number;
      batchSize: number;
      milestones: number[];
      gamma: number;
      momentum: number;
      normalize: "standardize" | "none";
    };
  };
}

/** The defaults every config starts from. */
export const DEFAULT_PRETRAIN_CONFIG: PretrainConfig = {
  method: "supervised",
  seed: 0,
  backend: "auto",
  runDir: "runs/pretrain",
  out: "runs/pretrain/teacher",
  note: "",
  data: {
    train: { name: "fashion-mnist", split: "train" },
    test: { name: "fashion-mnist", split: "test" },
    subset: null,
    size: 28,
    mean: [0.286],
    std: [0.353],
    augment: [{ op: "horizontalFlip", p: 0.5 }],
  },
  model: { architecture: "resnet18", args: { stem: "cifar", width: 0.125, inChannels: 1 } },
  simclr: { temperature: 0.5, hidden: 256, projectionDim: 128 },
  optim: {
    name: "sgd",
    lr: 0.1,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 5e-4,
    betas: [0.9, 0.999],
    eps: 1e-8,
    clipNorm: null,
  },
  schedule: { name: "warmup-cosine", warmupSteps: 100, stepSize: 1000, gamma: 0.1, minLr: 0 },
  train: { epochs: 4, batchSize: 128, logEvery: 20 },
  eval: {
    k: 10,
    t: 0.07,
    trainImages: null,
    testImages: null,
    linear: {
      epochs: 30,
      lr: 0.1,
      batchSize: 256,
      milestones: [20, 25],
      gamma: 0.1,
      momentum: 0.9,
      normalize: "standardize",
    },
  },
};

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

// Keys whose values are free-form objects, merged whole rather than checked key by key.
const OPEN = new Set(["data.train", "data.test", "model.args", "data.augment"]);

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

function closest(key: string, options: string[]): string {
  const best = options.map((o) => [o, levenshtein(key, o)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= 3
    ? ` (did you mean "${best[0]}"?)`
    : ` (expected one of ${options.join(", ")})`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function merge(base: unknown, over: unknown, path: string, source: string): unknown {
  if (!isObject(base) || OPEN.has(path)) return over;
  if (!isObject(over)) {
    throw new PretrainConfigError(
      `${source}: ${path || "(top level)"}: expected a mapping, got ${JSON.stringify(over)}`,
    );
  }
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in base)) {
      throw new PretrainConfigError(
        `${source}: unknown key "${p}"${closest(k, Object.keys(base))}`,
      );
    }
    out[k] = merge(base[k], v, p, source);
  }
  return out;
}

function check(
  c: PretrainConfig,
  source: string,
  setBy: readonly [string, string][] = [],
): PretrainConfig {
  // The last override that set the key (or a mapping around it) is what the error names.
  const sourceOf = (key: string) =>
    setBy.findLast(([k]) => key === k || key.startsWith(`${k}.`) || k.startsWith(`${key}.`))
      ?.[1] ?? source;
  const fail = (key: string, want: string, got: unknown): never => {
    throw new PretrainConfigError(
      `${sourceOf(key)}: ${key}: expected ${want}, got ${JSON.stringify(got)}`,
    );
  };
  const oneOf = (key: string, v: unknown, allowed: readonly unknown[]) => {
    if (!allowed.includes(v)) fail(key, `one of ${allowed.join(", ")}`, v);
  };
  const posNum = (key: string, v: unknown, zero = false) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!zero && v === 0)) {
      fail(key, zero ? "a non-negative number" : "a positive number", v);
    }
  };
  const posInt = (key: string, v: unknown, zero = false) => {
    if (!Number.isInteger(v) || (v as number) < (zero ? 0 : 1)) {
      fail(key, zero ? "a non-negative integer" : "a positive integer", v);
    }
  };
  oneOf("method", c.method, ["supervised", "simclr"]);
  oneOf("backend", c.backend, ["auto", "webgpu", "wasm", "cpu"]);
  posInt("seed", c.seed, true);
  if (typeof c.note !== "string") fail("note", "a string", c.note);
  for (const k of ["runDir", "out"] as const) {
    if (typeof c[k] !== "string" || c[k] === "") fail(k, "a non-empty path", c[k]);
  }
  if (c.data.subset !== null) posInt("data.subset", c.data.subset);
  posInt("data.size", c.data.size);
  for (const k of ["mean", "std"] as const) {
    const v = c.data[k];
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== "number")) {
      fail(`data.${k}`, "a list of numbers", v);
    }
  }
  if (!Array.isArray(c.data.augment)) {
    fail("data.augment", "a list of augment steps", c.data.augment);
  }
  if (!(listModels() as readonly unknown[]).includes(c.model.architecture)) {
    fail("model.architecture", `one of ${listModels().join(", ")}`, c.model.architecture);
  }
  if (!isObject(c.model.args)) fail("model.args", "a mapping", c.model.args);
  posNum("simclr.temperature", c.simclr.temperature);
  posInt("simclr.hidden", c.simclr.hidden);
  posInt("simclr.projectionDim", c.simclr.projectionDim);
  for (
    const validate of [
      () => validateOptimizerConfig(c.optim),
      () => validateScheduleConfig(c.schedule),
    ]
  ) {
    try {
      validate();
    } catch (e) {
      throw new PretrainConfigError(`${source}: ${(e as Error).message}`);
    }
  }
  posInt("train.epochs", c.train.epochs);
  posInt("train.batchSize", c.train.batchSize);
  posInt("train.logEvery", c.train.logEvery);
  posInt("eval.k", c.eval.k);
  posNum("eval.t", c.eval.t);
  if (c.eval.trainImages !== null) posInt("eval.trainImages", c.eval.trainImages);
  if (c.eval.testImages !== null) posInt("eval.testImages", c.eval.testImages);
  posInt("eval.linear.epochs", c.eval.linear.epochs, true);
  posNum("eval.linear.lr", c.eval.linear.lr);
  posInt("eval.linear.batchSize", c.eval.linear.batchSize);
  posNum("eval.linear.momentum", c.eval.linear.momentum, true);
  posNum("eval.linear.gamma", c.eval.linear.gamma);
  if (
    !Array.isArray(c.eval.linear.milestones) ||
    c.eval.linear.milestones.some((m) => !Number.isInteger(m))
  ) {
    fail("eval.linear.milestones", "a list of epoch numbers", c.eval.linear.milestones);
  }
  oneOf("eval.linear.normalize", c.eval.linear.normalize, ["standardize", "none"]);
  return c;
}

/** An unknown key in an override, named with the override (keys below free-form values pass). */
function checkKey(config: unknown, dotted: string, source: string): void {
  let cur = config, path = "";
  for (const k of dotted.split(".")) {
    if (OPEN.has(path) || !isObject(cur)) return;
    path = path ? `${path}.${k}` : k;
    if (!(k in cur)) {
      throw new PretrainConfigError(
        `${source}: unknown key "${path}"${closest(k, Object.keys(cur))}`,
      );
    }
    cur = cur[k];
  }
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split(".");
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isObject(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}

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
  const source = options.source ?? "config";
  const yaml = (text: string, where: string) => {
    try {
      return parseYaml(text);
    } catch (e) {
      const err = e as Error & { linePos?: { line: number; col: number }[] };
      const at = err.linePos ? `:${err.linePos[0].line}:${err.linePos[0].col}` : "";
      const problem = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      throw new PretrainConfigError(`${where}${at}: not valid YAML: ${problem}`);
    }
  };
  const raw = yaml(text, source) ?? {};
  if (!isObject(raw)) {
    throw new PretrainConfigError(`${source}: expected a mapping at the top level`);
  }
  const file = merge(structuredClone(DEFAULT_PRETRAIN_CONFIG), raw, "", source);
  const setBy: [string, string][] = [];
  for (const o of options.overrides ?? []) {
    const eq = o.indexOf("=");
    if (eq <= 0) throw new PretrainConfigError(`--set "${o}": expected key=value`);
    const key = o.slice(0, eq).trim();
    checkKey(file, key, `--set ${o}`);
    setBy.push([key, `--set ${o}`]);
    setPath(raw, key, yaml(o.slice(eq + 1), `--set ${o}`));
  }
  const merged = merge(structuredClone(DEFAULT_PRETRAIN_CONFIG), raw, "", source);
  return check(merged as PretrainConfig, source, setBy);
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
