/**
 * The exit path every task shares: run `main`, exit with its code, and turn
 * an error into one line on stderr (`error: …`), with the stack only under
 * `--verbose` and never for a config error, which is the user's to fix.
 *
 * @module
 */
import { ConfigError } from "../lib/train/config.ts";

/** Run a task's `main` and exit the process with its code, or with 1 and one error line. */
export async function runTask(main: () => Promise<number>): Promise<never> {
  try {
    Deno.exit(await main());
  } catch (e) {
    if (e instanceof ConfigError || !Deno.args.includes("--verbose")) {
      console.error(`error: ${e instanceof Error ? e.message : e}`);
    } else {
      console.error(e);
    }
    Deno.exit(1);
  }
}
