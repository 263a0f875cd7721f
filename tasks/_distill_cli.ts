/**
 * The command line of `deno task distill` without its entry point, so that
 * a bundle (tasks/gpu_entry.ts) can run it among other commands.
 *
 * @module
 */
import { BACKEND_CHOICES } from "../lib/backend.ts";
import { configHelp, loadConfig, parseCli } from "../lib/config/config.ts";
import { distill } from "../lib/train/loop.ts";

const BACKENDS = BACKEND_CHOICES.join("|");

/** `deno task distill --help`. */
export const USAGE =
  `usage: deno task distill [--config file.yaml] [--set key=value ...] [--<key> value ...]
                         [--backend ${BACKENDS}] [--run-dir dir] [--resume|--no-resume] [--seed n]
Without --config, tasks/configs/default.yaml is used. Any config key can be overridden with
--set optim.lr=0.01 or --optim.lr 0.01. Rerunning with the same run dir resumes from its checkpoint;
with only eval.* changed, a finished run is evaluated again without training.`;

/**
 * Run `deno task distill` with `args`; resolves to the exit code, throws a
 * one-line error for the task's exit path (`runTask`).
 *
 * @param args As `Deno.args`.
 * @param defaultConfig The config used without `--config`.
 */
export async function distillMain(args: string[], defaultConfig: string): Promise<number> {
  const cli = parseCli(args);
  if (cli.help) {
    console.log(`${USAGE}\n\n${configHelp()}`);
    return 0;
  }
  const config = await loadConfig(cli.configPath ?? defaultConfig, cli.overrides);
  const result = await distill(config, { resume: cli.resume });
  if (result.table) console.log(result.table);
  return 0;
}
