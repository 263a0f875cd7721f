/**
 * Distillation methods by config name, with their options and defaults, and
 * {@linkcode createMethod}, which builds one for a run.
 *
 * @module
 */
import { DEFAULT_COSS_SCALE } from "../losses/coss.ts";
import { REGISTERED_LOSS_NAMES } from "../losses/registry.ts";
import { BingoMethod } from "./bingo.ts";
import { CompressMethod } from "./compress.ts";
import { SeedMethod } from "./seed.ts";
import { StatelessMethod } from "./stateless.ts";
import type { DistillMethod, MethodSetup } from "./types.ts";

/** An option's default: a number, or a string for enumerated options. */
export type MethodOptionDefault = number | string;

/**
 * Every method's options with their defaults (the losses' `@default`s plus
 * the methods' queue and bank settings). `createMethod` rejects other keys;
 * a config schema can be generated from this table.
 */
export const METHOD_DEFAULTS: Readonly<
  Record<string, Readonly<Record<string, MethodOptionDefault>>>
> = {
  coss: { lambda: 1, scale: DEFAULT_COSS_SCALE },
  cosine: { scale: DEFAULT_COSS_SCALE },
  "ss-only": { scale: DEFAULT_COSS_SCALE },
  disco: {},
  smd: { tau: 0.04 },
  sld: { tauTeacher: 0.07, tauStudent: 0.1 },
  dist: { tauTeacher: 1, tauStudent: 1, interWeight: 1, intraWeight: 1 },
  rkd: { distanceWeight: 25, angleWeight: 50 },
  sp: {},
  pkt: { eps: 1e-7 },
  seed: { queueSize: 4096, tauTeacher: 1e-4, tauStudent: 0.2 },
  bingo: { queueSize: 4096, bagSize: 5, tau: 0.2, ownWeight: 0.5, bagWeight: 0.5 },
  compress: { queueSize: 4096, tau: 0.04, studentKeys: "ema", bankMomentum: 0.5 },
};

/** Every name {@linkcode createMethod} accepts. */
export const METHOD_NAMES: readonly string[] = Object.keys(METHOD_DEFAULTS);

/** The methods that keep state between batches (queues, banks, bags). */
export const STATEFUL_METHOD_NAMES: readonly string[] = ["seed", "bingo", "compress"];

/**
 * Build the method `name` for one run.
 *
 * | name | needs per step | state |
 * |---|---|---|
 * | stateless losses (`coss`, `cosine`, `ss-only`, `disco`, `smd`, `sld`, `dist`, `rkd`, `sp`, `pkt`) | — | — |
 * | `seed` | — | teacher queue |
 * | `bingo` | `ctx.positive` for `positives(indices, step)`; `setup.neighbours` | teacher-key queue |
 * | `compress` | `ctx.indices` (`"ema"` keys) | teacher and student-key queues, per-image bank |
 *
 * @param name One of {@linkcode METHOD_NAMES}.
 * @param options Options of that method (see {@linkcode METHOD_DEFAULTS}); missing ones take their defaults.
 * @param setup Sizes, seed and, for BINGO, the neighbour lists.
 * @returns The method; call `dispose()` when the run ends.
 * @throws {RangeError} For an unknown name, an unknown option, or a setup
 * that does not fit (see each method).
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createMethod } from "./registry.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const seed = createMethod("seed", { queueSize: 1024 }, { teacherDim: 64, datasetSize: 60000, seed: 0 });
 * const coss = createMethod("coss", {}, { teacherDim: 64, datasetSize: 60000, seed: 0 });
 * console.log(seed.name, seed.positives === undefined, coss.state()); // seed true { tensors: {}, meta: {} }
 * seed.dispose();
 * coss.dispose();
 * ```
 */
export function createMethod(
  name: string,
  options: Record<string, unknown>,
  setup: MethodSetup,
): DistillMethod {
  const known = Object.hasOwn(METHOD_DEFAULTS, name) ? METHOD_DEFAULTS[name] : undefined;
  if (!known) {
    throw new RangeError(`Unknown method "${name}": expected one of ${METHOD_NAMES.join(", ")}`);
  }
  const unknown = Object.keys(options ?? {}).filter((k) => !Object.hasOwn(known, k));
  if (unknown.length > 0) {
    const list = Object.keys(known).join(", ") || "none";
    throw new RangeError(
      `createMethod("${name}"): unknown option${unknown.length > 1 ? "s" : ""} ` +
        `${unknown.join(", ")}; "${name}" takes ${list}`,
    );
  }
  for (const [key, v] of [["teacherDim", setup?.teacherDim], ["datasetSize", setup?.datasetSize]]) {
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new RangeError(`createMethod("${name}"): setup.${key} is ${v}, not a positive integer`);
    }
  }
  if (!Number.isSafeInteger(setup.seed)) {
    throw new RangeError(
      `createMethod("${name}"): setup.seed is ${setup.seed}, not a safe integer`,
    );
  }
  switch (name) {
    case "seed":
      return new SeedMethod(options, setup);
    case "bingo":
      return new BingoMethod(options, setup);
    case "compress":
      return new CompressMethod(options, setup);
    default:
      if (!REGISTERED_LOSS_NAMES.includes(name)) throw new Error(`no method class for "${name}"`);
      return new StatelessMethod(name, options ?? {});
  }
}
