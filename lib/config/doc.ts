/**
 * The configuration reference (docs/configuration.md) as Markdown, rendered
 * from the schema so that it cannot drift from what the config accepts.
 *
 * @module
 */
import { AUGMENT_OPS, AUGMENT_PRESETS } from "../augment/augment.ts";
import { listModels, modelArgNames } from "../models/registry.ts";
import { DATASET_VARIANTS, LOSS_OPTIONS, SCHEMA } from "./_schema.ts";
import { CLI_FLAGS } from "./_cli.ts";
import { HASH_EXCLUDED_KEYS } from "./hash.ts";
import { describe, isPlainObject, type SectionSpec } from "./spec.ts";

/** A value as YAML flow text: `0.03`, `null`, `"wasm"`, `[0.9, 0.999]`, `{name: coss}`. */
function flow(v: unknown): string {
  if (v === undefined) return "";
  if (Array.isArray(v)) return `[${v.map(flow).join(", ")}]`;
  if (isPlainObject(v)) {
    return `{${Object.entries(v).map(([k, x]) => `${k}: ${flow(x)}`).join(", ")}}`;
  }
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

const cell = (s: string) => s.replaceAll("|", "\\|");
const code = (s: string) => s === "" ? "" : `\`${s}\``;

/** Table rows `| key | allowed | default | what |` of a section's leaves, nested sections aside. */
function rows(section: SectionSpec, path: string, withDefault = true): string[] {
  const out: string[] = [];
  for (const [key, spec] of Object.entries(section.fields)) {
    if (spec.kind === "section") continue;
    const name = path ? `${path}.${key}` : key;
    const def = spec.optional ? "(the reader's)" : code(flow(spec.default));
    const allowed = spec.required ? `${describe(spec)} (required)` : describe(spec);
    out.push(
      `| ${code(name)} | ${cell(allowed)} | ${withDefault ? cell(def) : ""} | ${cell(spec.doc)} |`,
    );
  }
  return out;
}

/** `text` in lines of at most `width` characters, broken at spaces (as the intro above is). */
function wrap(text: string, width = 95): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

const HEAD = ["| key | allowed | default | what |", "| --- | --- | --- | --- |"];

/** A section and, below it, each nested section under its own heading. */
function section(spec: SectionSpec, path: string, depth: number, out: string[]): void {
  const leaves = rows(spec, path);
  const doc = spec.doc[0].toUpperCase() + spec.doc.slice(1);
  out.push(`${"#".repeat(depth)} ${path ? code(path) : "Top level"}`, "", `${doc}.`, "");
  if (leaves.length) out.push(...HEAD, ...leaves, "");
  if (spec.oneOf) {
    const [a, b] = spec.oneOf.map((k) => code(`${path}.${k}`));
    out.push(
      `Exactly one of ${a} and ${b} is non-null; a layer that sets one clears the other.`,
      "",
    );
  }
  for (const [key, f] of Object.entries(spec.fields)) {
    if (f.kind === "section") section(f, path ? `${path}.${key}` : key, depth + 1, out);
  }
}

/** The variants of a union or dependent mapping, one table each (identical ones grouped). */
function variants(title: string, intro: string, specs: Record<string, SectionSpec>): string[] {
  const out = [`### ${title}`, "", intro, ""];
  const groups = new Map<SectionSpec, string[]>();
  for (const [name, spec] of Object.entries(specs)) {
    groups.set(spec, [...(groups.get(spec) ?? []), name]);
  }
  for (const [spec, names] of groups) {
    out.push(`${names.map(code).join(", ")}: ${spec.doc.replace(/^CoSS: /, "")}.`, "");
    const leaves = rows(spec, "");
    out.push(...(leaves.length ? [...HEAD, ...leaves] : ["(no options)"]), "");
  }
  return out;
}

/** The Markdown of docs/configuration.md. */
export function renderConfigReference(): string {
  const fields = SCHEMA.fields;
  const top: SectionSpec = {
    ...SCHEMA,
    fields: Object.fromEntries(Object.entries(fields).filter(([, f]) => f.kind !== "section")),
  };
  const out = [
    "# Configuration reference",
    "",
    "<!-- Generated from lib/config/_schema.ts by `deno task docs`; do not edit by hand. -->",
    "",
    "The config of `deno task distill` (and of every run of `deno task compare`, and of",
    "`deno task eval`'s overrides) is YAML. Keys left out keep the defaults below. It is resolved",
    "in layers: the defaults, then the `--config` file, then each `--set key=value` (or",
    "`--key value`) in command-line order; a later layer wins. A section merges key by key; lists",
    "and plain values are replaced. `deno task distill --help` prints the same keys. Errors name",
    "the file or flag, the dotted key and what is allowed, on one line.",
    "",
    ...wrap(
      "A run dir's `config.yaml` starts with two hashes: the config hash (what trains the " +
        "student) and the eval hash (`eval.*`). Rerunning `deno task distill` on a run dir that " +
        "holds a checkpoint resumes it when the config hash is the same, and refuses another config " +
        "(`--no-resume` starts it over). The config hash leaves out where things are written or " +
        "found and how often progress is reported (" +
        HASH_EXCLUDED_KEYS.filter((k) => k !== "eval").map(code).join(", ") +
        "), and `eval.*`: a finished run rerun with other `eval.*` values resumes at its last step " +
        "and is evaluated again, its old report removed first. `deno task compare` evaluates such a " +
        "cell again too, and `deno task compare --merge` counts it as missing until then. Run dirs " +
        "written before the eval hash existed (one hash over both) are read as they were meant.",
    ),
    "",
    "## Flags",
    "",
    "| flag | what |",
    "| --- | --- |",
    ...CLI_FLAGS.map(([f, d]) => `| ${code(f)} | ${cell(d)} |`),
    "",
  ];
  section(top, "", 2, out);
  for (const [key, f] of Object.entries(fields)) {
    if (f.kind === "section") section(f, key, 2, out);
  }
  out.push("## Mappings by kind", "");
  out.push(
    ...variants(
      "Datasets: `data.train`, `data.test`",
      "Chosen by `name`; keys marked (the reader's) take the dataset reader's default " +
        "(lib/data/datasets.ts).",
      DATASET_VARIANTS,
    ),
  );
  out.push(
    "### Model arguments: `student.args`, `teacher.args`",
    "",
    "Chosen by the sibling `architecture`; the seed comes from `seed`. " +
      "What each argument means is in lib/models/registry.ts (`ModelArgsMap`).",
    "",
    "| architecture | arguments |",
    "| --- | --- |",
    ...listModels().map((m) =>
      `| ${code(m)} | ${modelArgNames(m).filter((n) => n !== "seed").map(code).join(", ")} |`
    ),
    "",
  );
  out.push(
    ...variants(
      "Loss options: `loss.options`",
      "Chosen by `loss.name`; a new name drops the options the old one does not take.",
      LOSS_OPTIONS,
    ),
  );
  out.push(
    "### Augmentation: `data.augment`",
    "",
    `A preset (${AUGMENT_PRESETS.map(code).join(", ")}) built from \`data.size\`, ` +
      "`data.mean` and `data.std`, or a list of steps `{op: …, …}` with ops " +
      `${AUGMENT_OPS.map(code).join(", ")}; each op's keys and defaults are in ` +
      "lib/augment/types.ts.",
    "",
    "`data.size`, `data.mean` and `data.std` are the one record of the student's input: the " +
      "teacher cache, the evaluation and the exported `card.json` use them. A list must agree " +
      "with them, or the config is refused with one line naming both keys: its last " +
      "`randomResizedCrop`, `resize` or `centerCrop` (else the dataset's own size, 28 px for " +
      "Fashion-MNIST) must give `data.size` × `data.size`, and its last `normalize` step must " +
      "carry `data.mean` and `data.std` (a one-value list stands for every channel). So " +
      "`--set data.size=32` on `tasks/configs/default.yaml` is refused; change the list too, or " +
      "use the `mocov2` or `eval` preset, which follow `data.size` (every preset follows " +
      "`data.mean` and `data.std`; `none` keeps the dataset's size).",
    "",
  );
  return out.join("\n");
}
