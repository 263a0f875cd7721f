/**
 * `deno task docs`: write docs/configuration.md, the configuration reference
 * rendered from the config schema (`configReference`). `--check` writes
 * nothing and fails when the file is stale.
 *
 * @module
 */
import { configReference } from "../lib/config/config.ts";
import { runTask } from "./_main.ts";

const FILE = "docs/configuration.md";

async function main(): Promise<number> {
  const text = configReference();
  if (Deno.args.includes("--check")) {
    const now = await Deno.readTextFile(FILE).catch(() => "");
    if (now === text) return 0;
    throw new Error(`${FILE} is stale: run deno task docs to regenerate it from the config schema`);
  }
  await Deno.writeTextFile(FILE, text);
  console.log(`wrote ${FILE}`);
  return 0;
}

await runTask(main);
