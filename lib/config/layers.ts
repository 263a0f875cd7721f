/**
 * Reading a config of any {@linkcode ConfigSystem}: YAML text, then each
 * `key=value` override, over a base, validated against the system's schema.
 * Distillation (`config.ts`) and teacher pretraining (`lib/pretrain`) both
 * read their configs through here.
 *
 * @module
 */
import { type Layer, resolveLayers } from "./_resolve.ts";
import type { ConfigSystem } from "./system.ts";
import { overrideLayer, parseYaml } from "./yaml.ts";

/** Options of {@linkcode parseLayered}. */
export interface LayeredOptions<T> {
  /** What errors name (a file path). */
  source: string;
  /** What keys left out take. */
  base: T;
  /**
   * Overrides `key=value` applied after the text.
   * @default {[]}
   */
  overrides?: readonly string[];
}

/**
 * Parse YAML text (none: `undefined`) and overrides over a base.
 *
 * @example
 * ```ts
 * import { parseLayered } from "./layers.ts";
 * import { DISTILL_WORDING } from "./system.ts";
 * const system = {
 *   schema: {
 *     kind: "section",
 *     doc: "a tiny config",
 *     fields: { seed: { kind: "integer", range: { min: 0 }, default: 0, doc: "seed" } },
 *   },
 *   crossChecks: [],
 *   wording: DISTILL_WORDING,
 * } as const;
 * const c = parseLayered(system, "seed: 3", { source: "a.yaml", base: { seed: 0 } });
 * console.log(c.seed); // 3
 * ```
 *
 * @throws {ConfigError} One line naming the source, the key and the problem,
 *   of the class and in the words of `system.wording`.
 */
export function parseLayered<T>(
  system: ConfigSystem<T>,
  text: string | undefined,
  options: LayeredOptions<T>,
): T {
  const { schema, wording } = system;
  const layers: Layer[] = [];
  if (text !== undefined) {
    layers.push({ source: options.source, value: parseYaml(text, options.source, wording) });
  }
  for (const o of options.overrides ?? []) layers.push(overrideLayer(o, schema, wording));
  return resolveLayers(system, options.base, layers);
}
