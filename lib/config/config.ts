/**
 * The typed config of a distillation run: YAML validated against a schema
 * with defaults, plus command-line overrides.
 *
 * Resolution: {@linkcode DEFAULT_CONFIG}, then the file, then each override
 * in order, then validation of the whole. Rules:
 * - A section merges key by key; lists and plain values are replaced.
 * - `data.train`/`data.test` (by `name`), `student.args`/`teacher.args` (by
 *   `architecture`) and `loss.options` (by `name`) merge key by key too, but
 *   when their kind changes, keys inherited from the defaults that the new
 *   kind does not accept are dropped (`split` survives `fashion-mnist` →
 *   `cifar10`; `stem` does not survive `resnet18` → `mobilenet_v2`).
 * - `train.epochs` and `train.steps`: exactly one is non-null. A layer (the
 *   file, or one override) that sets one clears the other, unless it sets both
 *   (an error).
 *
 * Errors are {@linkcode ConfigError}s of one line, `<source>: <path>:
 * <problem>`: an unknown key suggests the closest valid one, a bad value names
 * what is allowed, and a YAML syntax error names the file, line and column.
 *
 * @example Defaults, a file, an override
 * ```ts
 * import { formatConfig, parseConfig } from "./config.ts";
 *
 * const config = parseConfig("optim: {lr: 0.1}\ntrain: {steps: 500}\n", { source: "run.yaml" });
 * console.log(config.optim.lr, config.train.epochs, config.train.steps); // 0.1 null 500
 * console.log(formatConfig(config).split("\n").length < 40); // true
 * ```
 *
 * @module
 */
import { ConfigError } from "./_error.ts";
import { CLI_FLAGS } from "./_cli.ts";
import { crossChecks } from "./_cross.ts";
import { renderConfigReference } from "./doc.ts";
import { parseLayered } from "./layers.ts";
import { SCHEMA } from "./_schema.ts";
import { defaultsOf, describe, type Spec } from "./spec.ts";
import { type ConfigSystem, DISTILL_WORDING } from "./system.ts";
import { stringifyBlock, stringifyCompact } from "./yaml.ts";

import type { DistillConfig } from "./types.ts";

export { ConfigError };
export type { DistillConfig };
export { type CliArgs, parseCli } from "./_cli.ts";
export { configHash, evalHash, HASH_EXCLUDED_KEYS } from "./hash.ts";

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object") Object.values(v).forEach(deepFreeze);
  return Object.freeze(v);
}

/**
 * Every default, generated from the schema. Frozen: copy it with `structuredClone`.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONFIG } from "./config.ts";
 * console.log(DEFAULT_CONFIG.optim.lr, DEFAULT_CONFIG.train.epochs); // 0.03 1
 * ```
 */
export const DEFAULT_CONFIG: DistillConfig = deepFreeze(defaultsOf(SCHEMA) as DistillConfig);

/** The distillation config system: the schema, its cross-key checks and its wording. */
const DISTILL_SYSTEM: ConfigSystem<DistillConfig> = {
  schema: SCHEMA,
  crossChecks,
  wording: DISTILL_WORDING,
};

/** Options for {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /**
   * What errors name (a file path).
   * @default {"config"}
   */
  source?: string;
  /**
   * What keys left out take.
   * @default {DEFAULT_CONFIG}
   */
  base?: DistillConfig;
  /**
   * Overrides `key=value` applied after the text.
   * @default {[]}
   */
  overrides?: readonly string[];
}

/**
 * Parse and validate YAML text.
 *
 * @example
 * ```ts
 * import { ConfigError, parseConfig } from "./config.ts";
 * try {
 *   parseConfig("optim:\n  learning_rate: 0.1\n", { source: "fmnist.yaml" });
 * } catch (e) {
 *   console.log((e as ConfigError).message);
 *   // fmnist.yaml: optim.learning_rate: unknown key (did you mean "lr"?)
 * }
 * ```
 *
 * @param text YAML; empty text gives the base.
 * @param options Source name, base and overrides.
 * @returns A fresh, validated config.
 * @throws {ConfigError} One line naming the source, the key and the problem.
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): DistillConfig {
  return parseLayered(DISTILL_SYSTEM, text, {
    source: options.source ?? "config",
    base: options.base ?? DEFAULT_CONFIG,
    overrides: options.overrides,
  });
}

/**
 * Read a config file (or none) and apply overrides, as tasks do.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const c = await loadConfig(undefined, ["optim.lr=0.01", "train.steps=100"]);
 * console.log(c.optim.lr, c.train.steps, c.train.epochs); // 0.01 100 null
 * ```
 *
 * @param path A YAML file, or undefined for the defaults.
 * @param overrides `key=value` strings, e.g. from {@linkcode parseCli}.
 * @returns A fresh, validated config.
 * @throws {ConfigError} For a missing file or any invalid key or value.
 */
export async function loadConfig(
  path: string | undefined,
  overrides: readonly string[] = [],
): Promise<DistillConfig> {
  if (path === undefined) {
    return parseLayered(DISTILL_SYSTEM, undefined, {
      source: "config",
      base: DEFAULT_CONFIG,
      overrides,
    });
  }
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file (check the --config path)"
      : `cannot read: ${(e as Error).message}`;
    throw new ConfigError(`${path}: ${why}`);
  }
  return parseConfig(text, { source: path, overrides });
}

/**
 * The config as compact YAML for printing: sections in block style, short
 * sections and everything deeper in flow style.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONFIG, formatConfig } from "./config.ts";
 * console.log(formatConfig(DEFAULT_CONFIG).includes("train: {epochs: 1, steps: null")); // true
 * ```
 */
export function formatConfig(c: DistillConfig): string {
  return stringifyCompact(c);
}

/**
 * The config as full block YAML, as saved in `runDir/config.yaml`;
 * {@linkcode parseConfig} reads it back to an equal config.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONFIG, parseConfig, stringifyConfig } from "./config.ts";
 * import assert from "assert";
 * assert.deepEqual(parseConfig(stringifyConfig(DEFAULT_CONFIG)), DEFAULT_CONFIG);
 * ```
 */
export function stringifyConfig(c: DistillConfig): string {
  return stringifyBlock(c);
}

function keyLines(spec: Spec, path: string, out: string[]): void {
  if (spec.kind === "section") {
    for (const [k, f] of Object.entries(spec.fields)) keyLines(f, path ? `${path}.${k}` : k, out);
    return;
  }
  const def = JSON.stringify(spec.default) ?? "";
  out.push(`  ${path} (default ${def}): ${spec.doc}; ${describe(spec)}`);
}

/**
 * The flags and every config key with what it allows, its default and its doc.
 *
 * @example
 * ```ts
 * import { configHelp } from "./config.ts";
 * console.log(configHelp().includes("optim.lr (default 0.03): base learning rate")); // true
 * ```
 */
export function configHelp(): string {
  const width = Math.max(...CLI_FLAGS.map(([f]) => f.length));
  const lines = ["Flags:", ...CLI_FLAGS.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`), "Keys:"];
  keyLines(SCHEMA, "", lines);
  return lines.join("\n");
}

/**
 * The configuration reference as Markdown, rendered from the schema: every
 * key with what it allows, its default and its doc, the flags, and the
 * options of each dataset, architecture and loss. `deno task docs` writes it
 * to docs/configuration.md, and a test fails when that file is stale.
 *
 * @example
 * ```ts
 * import { configReference } from "./config.ts";
 * const md = configReference();
 * console.log(md.startsWith("# Configuration reference"), md.includes("| `optim.lr` |")); // true true
 * ```
 */
export function configReference(): string {
  return renderConfigReference() + "\n";
}
