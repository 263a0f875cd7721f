/**
 * `deno task pretrain`: train a teacher from a committed config.
 *
 * ```
 * deno task pretrain --config tasks/configs/pretrain-fmnist-supervised.yaml [--out dir] [--set key=value]... [--no-resume]
 * ```
 *
 * @module
 */
import { ConfigError } from "../lib/config/config.ts";
import { loadPretrainConfig, pretrain } from "../lib/pretrain/pretrain.ts";
import { requireWrite, runTask } from "./_main.ts";
import { parseFlags } from "./_cli.ts";

const HELP =
  `Usage: deno task pretrain --config FILE [--out DIR] [--run-dir DIR] [--set key=value]... [--no-resume]

Train a teacher (method: supervised | simclr) and write <out>/model.safetensors and <out>/card.json.
  --config FILE   YAML config (tasks/configs/pretrain-*.yaml); defaults when omitted
  --out DIR       where the teacher goes (config key "out")
  --run-dir DIR   checkpoints and config.yaml (config key "runDir")
  --set k=v       override any config key, e.g. --set train.epochs=2 (repeatable)
  --no-resume     start over even if <run-dir>/checkpoint.safetensors exists
  --verbose       print the stack trace of an unexpected error`;

async function main(argv: string[]): Promise<number> {
  const { values, help } = parseFlags(argv, {
    options: {
      config: { type: "string" },
      out: { type: "string" },
      "run-dir": { type: "string" },
      set: { type: "string", multiple: true },
      "no-resume": { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    usage: HELP,
    onError: (e) =>
      new ConfigError(
        `${e.flag ?? e.message}: unknown flag, stray argument or missing value; ` +
          "see deno task pretrain --help",
      ),
  });
  if (help) return 0;
  const overrides = [...(values.set ?? [])];
  if (values.out) overrides.push(`out=${JSON.stringify(values.out)}`);
  if (values["run-dir"]) overrides.push(`runDir=${JSON.stringify(values["run-dir"])}`);
  const config = await loadPretrainConfig(values.config, overrides);
  await requireWrite(config.out, "out:");
  const { card, weights } = await pretrain(config, {
    resume: !values["no-resume"],
    command: `deno task pretrain ${argv.join(" ")}`,
  });
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  console.log(
    `${weights}: ${card.method} ${card.architecture}, kNN-${card.metrics.knn.k} ` +
      `${pct(card.metrics.knn.top1)} (T=${card.metrics.knn.t}), linear ${
        card.metrics.linear ? pct(card.metrics.linear.top1) : "skipped"
      }, ` +
      `raw pixels kNN ${
        pct(card.metrics.rawPixelKnn.top1)
      }, ${card.wallTimeSeconds} s on ${card.backend}`,
  );
  return 0;
}

if (import.meta.main) await runTask(() => main(Deno.args));
