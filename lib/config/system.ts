/**
 * A config system: a schema, the checks that involve several keys, and the
 * wording of its errors. Distillation (`config.ts`) and teacher pretraining
 * (`lib/pretrain`) are two systems over the same machinery: YAML parsing,
 * `key=value` overrides, merging, validation and "did you mean".
 *
 * @module
 */
import { ConfigError } from "./_error.ts";
import { describe, type SectionSpec, show, type Spec, suggestion } from "./spec.ts";

/** A failed check: the key to blame, the problem, and the other keys involved. */
export interface Problem {
  /** The dotted key the message names. */
  path: string;
  /** What is wrong, after `<source>: <path>: `. */
  problem: string;
  /** Other keys involved: the layer that set any of them last is named. */
  also: string[];
  /** Name the first layer (the file) whatever set the keys. */
  blameFile?: boolean;
}

/** A check of the whole config, run after every key is valid alone. */
export type Check<T> = (config: T) => Problem | undefined;

/** How a config system words its errors, and how its overrides read. */
export interface Wording {
  /** The error made from a message. */
  error(message: string): ConfigError;
  /** What a YAML syntax error says after `<source>:<line>:<col>: `. */
  invalidYaml: string;
  /** An unknown key: `path` ends with `key`; `candidates` are the keys allowed there. */
  unknownKey(source: string, path: string, key: string, candidates: readonly string[]): string;
  /** A mapping expected at `path`, something else given. */
  notMapping(source: string, path: string, spec: Spec, value: unknown): string;
  /** The top level of a file is not a mapping. */
  topLevel(source: string, schema: SectionSpec, value: unknown): string;
  /** A value as it appears after "got". */
  show(value: unknown): string;
  /** Add "(did you mean …?)" after a misspelt enum value. */
  enumHint: boolean;
  /** An override without `=`. */
  noEquals(override: string): string;
  /**
   * Override values: `typed` takes a string key's text as typed (quote for
   * YAML), `yaml` reads every value as YAML.
   */
  overrideValues: "typed" | "yaml";
  /** Keys below a plain value in an override: `unknown` refuses them, `replace` sets the value to a mapping. */
  belowLeaf: "unknown" | "replace";
}

/** Everything the machinery needs to read one kind of config. */
export interface ConfigSystem<T> {
  /** Every key: its type, range, default and doc. */
  schema: SectionSpec;
  /** Checks involving several keys, in order. */
  crossChecks: readonly Check<T>[];
  /** How errors read. */
  wording: Wording;
}

/**
 * The wording of distillation configs: `<source>: <path>: <problem>`, values
 * as YAML, "(did you mean …?)" or the valid names.
 */
export const DISTILL_WORDING: Wording = {
  error: (message) => new ConfigError(message),
  invalidYaml: "invalid YAML",
  unknownKey: (source, path, key, candidates) =>
    `${source}: ${path}: unknown key ${suggestion(key, candidates)}`,
  notMapping: (source, path, spec, value) =>
    `${source}: ${path}: expected ${describe(spec)}, got ${show(value)}`,
  topLevel: (source, schema, value) =>
    `${source}: expected a mapping of sections (${
      Object.keys(schema.fields).join(", ")
    }) at the top level, got ${show(value)}`,
  show,
  enumHint: true,
  noEquals: (override) => `--set ${override}: expected <key>=<value>, e.g. --set optim.lr=0.01`,
  overrideValues: "typed",
  belowLeaf: "unknown",
};
