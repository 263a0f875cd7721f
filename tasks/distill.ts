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
import { distillMain } from "./_distill_cli.ts";
import { runTask } from "./_main.ts";

const DEFAULT_CONFIG = decodeURIComponent(
  new URL("./configs/default.yaml", import.meta.url).pathname,
);

await runTask(() => distillMain(Deno.args, DEFAULT_CONFIG));
