/**
 * `deno task compare [--config file.yaml] [--only a,b] [--seeds 0,1] [--set key=value ...]`
 *
 * Distil with every method of a comparison file × each seed, under the same
 * teacher, student, data, augmentation, optimiser, schedule and budget of
 * image passes; finished runs are skipped and interrupted ones resume. Then
 * write `results.md` (mean ± std over seeds) and a report with the plots.
 *
 * @module
 */
import { parseArgs } from "parse-args";
import { loadComparison, runComparison } from "../lib/train/compare.ts";
import { ConfigError } from "../lib/train/config.ts";
import { runTask } from "./_main.ts";

const USAGE =
  `usage: deno task compare [--config file.yaml] [--only m1,m2] [--seeds 0,1] [--set key=value ...]
Without --config, tasks/configs/compare-fmnist.yaml is used (Fashion-MNIST, the bundled teacher,
8 methods × 3 seeds). --set overrides a key of every run (e.g. --set backend=wasm).
--only takes row names separated by commas, or one row per --only (for names with a comma in them).
--seeds runs and tabulates only those of the file's seeds (runs go seed by seed: every row of the
first seed, then the next). Rerunning skips finished runs and resumes an interrupted one.`;

const DEFAULT = new URL("./configs/compare-fmnist.yaml", import.meta.url).pathname;

function parseSeeds(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const seeds = raw.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (!seeds.length || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new ConfigError(`--seeds: expected integers ≥ 0 separated by commas, got "${raw}"`);
  }
  return seeds;
}

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: Deno.args,
      options: {
        config: { type: "string" },
        only: { type: "string", multiple: true },
        seeds: { type: "string" },
        set: { type: "string", multiple: true },
        verbose: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (e) {
    const flag = /'(-[^' ]*)/.exec((e as Error).message)?.[1] ?? (e as Error).message;
    throw new ConfigError(`${flag}: unknown flag or missing value; see deno task compare --help`);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const comparison = await loadComparison(values.config ?? DEFAULT, {
    overrides: values.set ?? [],
    only: values.only as string[] | undefined,
    seeds: parseSeeds(values.seeds as string | undefined),
  });
  console.error(
    `compare: ${Object.keys(comparison.methods).length} methods × ${comparison.seeds.length} ` +
      `seeds, ${comparison.images} image passes per run → "${comparison.runDir}"`,
  );
  const { table } = await runComparison(comparison);
  console.log(table);
  console.log(`wrote "${comparison.runDir}/results.md" and the report beside it`);
  return 0;
}

await runTask(main);
