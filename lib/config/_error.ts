/**
 * The one error type of config handling.
 *
 * @module
 */

/**
 * A bad config file, key, value or flag. The message is one line,
 * `<source>: <dotted.path>: <problem>`, e.g.
 * `fmnist.yaml: optim.lr: expected a number > 0, got "fast"`; tasks print
 * `error: <message>` and exit 1, with no stack trace.
 *
 * @example
 * ```ts
 * import { ConfigError, parseConfig } from "./config.ts";
 * try {
 *   parseConfig("seed: -1\n", { source: "run.yaml" });
 * } catch (e) {
 *   if (!(e instanceof ConfigError)) throw e;
 *   console.log(`error: ${e.message}`); // error: run.yaml: seed: expected an integer ≥ 0, got -1
 * }
 * ```
 */
export class ConfigError extends Error {
  /**
   * Make the error.
   *
   * @param message One line naming the source, the key and the fix.
   */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
