/**
 * `deno task eval --student <run dir | checkpoint | export dir> [options]`
 * `deno task eval --compare <run dir | report.json> ... [options]`
 *
 * Evaluate a distilled student under the standard protocols (weighted kNN,
 * linear probe, NN-IoU@k, CKA, cosines) and write `report.json`,
 * `report.md` and SVG plots; or put several runs into one report.
 *
 * @module
 */
import { defaultEvalOut } from "./_eval_out.ts";
import { BACKEND_CHOICES } from "../lib/backend.ts";
import { readReport, type ReportRun, writeReport } from "../lib/eval/report.ts";
import { pickleProblem } from "../lib/io/safetensors.ts";
import { ConfigError } from "../lib/config/config.ts";
import { evaluateSaved } from "../lib/eval/eval_saved.ts";
import { requireWrite, runTask } from "./_main.ts";
import { type FlagError, parseFlags } from "./_cli.ts";

const USAGE =
  `usage: deno task eval --student <run dir | checkpoint.safetensors | export dir> [options]
       deno task eval --compare <run dir | report.json> <run dir | report.json> ... [options]

Evaluates with the run's own teacher, data and protocol (from its config or export card):
weighted kNN, the linear probe, NN-IoU@k, linear CKA and cosine agreement, then writes
report.json, report.md and SVG plots to --out. --compare reads each run's report.json
(evaluating runs that have none) and puts them in one table and one set of plots.

Options:
  --student <path>         a run dir, a checkpoint written by deno task distill, or an export dir
  --compare <path> ...     runs (or report.json files) to put side by side
  --teacher <spec>         bundled:<name>, a tfjs model.json, or a PyTorch .safetensors
  --teacher-arch <name>    architecture of a .safetensors teacher (e.g. resnet50)
  --data <name>            dataset for train bank and test split (fashion-mnist, mnist, cifar10, cifar100)
  --data-dir <dir>         folder holding --data's files
  --subset <n>             training images in the kNN bank and probe (default: the run's)
  --k <n>, --t <x>         kNN neighbours and temperature (default: the run's, else 10 and 0.07)
  --linear-epochs <n>      linear-probe epochs (0: skip)
  --set <key>=<value>      any config key, e.g. --set eval.iouKs=[1,5,31] (repeatable)
  --backend <name>         ${BACKEND_CHOICES.slice(0, -1).join(", ")} or ${BACKEND_CHOICES.at(-1)}
  --name <name>            the run's name in the report
  --out <dir>              where the report goes (default runs/eval/<student path, joined by ->, runs/compare)
  --verbose                stack traces for unexpected errors
  --help, -h               this text`;

const OPTIONS = {
  student: { type: "string" },
  compare: { type: "boolean" },
  teacher: { type: "string" },
  "teacher-arch": { type: "string" },
  data: { type: "string" },
  "data-dir": { type: "string" },
  subset: { type: "string" },
  k: { type: "string" },
  t: { type: "string" },
  "linear-epochs": { type: "string" },
  set: { type: "string", multiple: true },
  backend: { type: "string" },
  name: { type: "string" },
  out: { type: "string" },
  verbose: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[]
    : (typeof OPTIONS)[K] extends { type: "boolean" } ? boolean
    : string;
};

/** The flags as config overrides, in a fixed order (later --set wins). */
function overrides(v: Values): string[] {
  const o: string[] = [];
  if (v.teacher !== undefined) {
    const t = v.teacher;
    if (t.startsWith("bundled:")) o.push("teacher.source=bundled", `teacher.name=${t.slice(8)}`);
    else if (t.endsWith(".json")) o.push("teacher.source=tfjs", `teacher.path=${t}`);
    else if (/\.(pth|pt|ckpt)$/i.test(t)) {
      // (.bin aside: it is as likely a tfjs weights shard as a pickle.)
      throw new ConfigError(`--teacher ${t}: ${pickleProblem(t)}`);
    } else if (t.endsWith(".safetensors")) {
      if (!v["teacher-arch"]) {
        throw new ConfigError(
          `--teacher ${t}: a .safetensors teacher needs --teacher-arch <name> (e.g. resnet50)`,
        );
      }
      o.push("teacher.source=safetensors", `teacher.path=${t}`);
    } else {
      throw new ConfigError(
        `--teacher ${t}: expected bundled:<name>, a tfjs model.json or a .safetensors file`,
      );
    }
  }
  if (v["teacher-arch"] !== undefined) o.push(`teacher.architecture=${v["teacher-arch"]}`);
  if (v.data !== undefined || v["data-dir"] !== undefined) {
    const name = v.data ?? "fashion-mnist";
    const dir = v["data-dir"] ? `, dataDir: ${JSON.stringify(v["data-dir"])}` : "";
    o.push(`data.train={name: ${name}, split: train${dir}}`);
    o.push(`data.test={name: ${name}, split: test${dir}}`);
  }
  if (v.subset !== undefined) o.push(`data.subset=${v.subset}`);
  if (v.k !== undefined) o.push(`eval.k=${v.k}`);
  if (v.t !== undefined) o.push(`eval.t=${v.t}`);
  if (v["linear-epochs"] !== undefined) o.push(`eval.linear.epochs=${v["linear-epochs"]}`);
  if (v.backend !== undefined) o.push(`backend=${v.backend}`);
  return [...o, ...(v.set ?? [])];
}

/** The one-line error for a flag `parseArgs` refused in `argv`. */
function flagProblem(argv: string[], e: FlagError): Error | undefined {
  const flag = e.flag ?? "";
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return new ConfigError(`${flag}: unknown flag; see deno task eval --help`);
  }
  if (e.code !== "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return undefined;
  const name = flag.replace(/[= ].*$/, "");
  const next = argv[argv.indexOf(name) + 1];
  if (argv.includes(name) && next !== undefined && /^-[\d.]/.test(next)) {
    // parseArgs reads "-1" as a flag: the value is there, but must be attached.
    return new ConfigError(
      `${name} ${next}: a value starting with "-" must be attached: ${name}=${next}`,
    );
  }
  return new ConfigError(`${name}: missing value; see deno task eval --help`);
}

function parse(argv: string[]): { values: Values; positionals: string[]; help: boolean } {
  const { values, positionals, help } = parseFlags(argv, {
    options: OPTIONS,
    usage: USAGE,
    positionals: true,
    onError: (e) => flagProblem(argv, e),
  });
  return { values: values as Values, positionals, help };
}

async function main(): Promise<number> {
  const { values: v, positionals, help } = parse(Deno.args);
  if (help) return 0;
  const log = (line: string) => console.error(line);
  const sets = overrides(v);
  if (v.out !== undefined) await requireWrite(v.out, "--out");
  if (v.compare) {
    if (v.student !== undefined) {
      throw new ConfigError(
        "--student and --compare: give one (--compare takes the runs as arguments)",
      );
    }
    if (positionals.length < 2) {
      throw new ConfigError("--compare: give at least two run dirs or report.json files");
    }
    const runs: ReportRun[] = [];
    let classNames: string[] | undefined;
    for (const p of positionals) {
      const file = p.endsWith(".json") ? p : `${p.replace(/\/+$/, "")}/report.json`;
      const exists = await Deno.stat(file).then(() => true, () => false);
      if (exists) {
        const r = await readReport(file);
        runs.push(...r.runs);
        classNames ??= r.classNames;
      } else {
        log(`"${p}": no report.json; evaluating it`);
        const r = await evaluateSaved(p, { overrides: sets, log });
        runs.push(r.run);
        classNames ??= r.classNames;
      }
    }
    const out = v.out ?? "runs/compare";
    const files = await writeReport(out, {
      title: `CoSS evaluation: ${runs.map((r) => r.name).join(" vs ")}`,
      runs,
      classNames,
    });
    console.log(`wrote "${files.markdown}", "${files.json}" and ${files.plots.length} plots`);
    return 0;
  }
  if (positionals.length) {
    throw new ConfigError(
      `"${positionals[0]}": unexpected argument (give the student as --student <path>)`,
    );
  }
  if (!v.student) {
    throw new ConfigError("--student: required (a run dir, checkpoint or export dir)");
  }
  const result = await evaluateSaved(v.student, { overrides: sets, name: v.name, log });
  const out = v.out ?? defaultEvalOut(v.student);
  const files = await writeReport(out, {
    title: `CoSS evaluation: ${result.run.name}`,
    runs: [result.run],
    classNames: result.classNames,
  });
  console.log(result.table);
  console.log(`wrote "${files.markdown}", "${files.json}" and ${files.plots.length} plots`);
  return 0;
}

await runTask(main);
