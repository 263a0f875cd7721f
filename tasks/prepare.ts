/**
 * `deno task prepare [--config file.yaml] [--set key=value] --stage manifest|embed|mine|merge
 * [--shard i/N | --shards N] [--workers W]`
 *
 * The offline stages of `deno task distill` (the dataset manifest, once;
 * teacher features and neighbour mining as shards for array jobs), then a
 * merge into the cache files that distill reads, so that distill afterwards
 * is a cache hit. Reads the same config as distill.
 *
 * @module
 */
import { prepareMain } from "./_prepare_cli.ts";
import { runTask } from "./_main.ts";

const DEFAULT_CONFIG = decodeURIComponent(
  new URL("./configs/default.yaml", import.meta.url).pathname,
);

await runTask(() => prepareMain(Deno.args, DEFAULT_CONFIG));
