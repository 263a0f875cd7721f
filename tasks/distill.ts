/**
 * `deno task distill [--config file.yaml] [--set key=value] [--key value] [--backend b]
 * [--run-dir dir] [--resume | --no-resume] [--seed n]`
 *
 * Distil a student from a teacher without labels (CoSS). With no arguments
 * it runs `tasks/configs/default.yaml`: Fashion-MNIST, the bundled teacher,
 * a small student, neighbour-aware batches and the teacher cache, then prints
 * kNN accuracies and NN-IoU. Rerunning the same command resumes the run.
 *
 * @module
 */
import { configHelp, loadConfig, parseCli } from "../lib/train/config.ts";
import { distill } from "../lib/train/loop.ts";
import { runTask } from "./_main.ts";

const USAGE =
  `usage: deno task distill [--config file.yaml] [--set key=value ...] [--<key> value ...]
                         [--backend auto|webgpu|wasm|cpu] [--run-dir dir] [--resume|--no-resume] [--seed n]
Without --config, tasks/configs/default.yaml is used. Any config key can be overridden with
--set optim.lr=0.01 or --optim.lr 0.01. Rerunning with the same run dir resumes from its checkpoint.`;

const DEFAULT_CONFIG = new URL("./configs/default.yaml", import.meta.url).pathname;

async function main(): Promise<number> {
  const cli = parseCli(Deno.args);
  if (cli.help) {
    console.log(`${USAGE}\n\n${configHelp()}`);
    return 0;
  }
  const config = await loadConfig(cli.configPath ?? DEFAULT_CONFIG, cli.overrides);
  const result = await distill(config, { resume: cli.resume });
  if (result.table) console.log(result.table);
  return 0;
}

await runTask(main);
