/**
 * `deno task bench`: time the toolkit's hot paths on every tfjs backend
 * against the same computation in PyTorch; `--help` lists the flags
 * (bench/cli.ts).
 *
 * @module
 */
import { main } from "../bench/cli.ts";

export { main };

if (import.meta.main) Deno.exit(await main(Deno.args));
