/**
 * YAML in and out: file parsing with one-line syntax errors, override
 * parsing (`a.b=value`, the value read as YAML), and the compact and full
 * renderings of a resolved config.
 *
 * @module
 */
import { Document, isMap, parse, visit, type YAMLError } from "yaml";
import type { DistillConfig } from "./types.ts";
import type { Layer } from "./_resolve.ts";
import { describe, type SectionSpec, type Spec } from "./spec.ts";
import { DISTILL_WORDING, type Wording } from "./system.ts";

/** The first line of a yaml error, without its ` at line L, column C:` tail. */
function yamlProblem(e: YAMLError): string {
  return e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

/**
 * Parse YAML text.
 *
 * @throws {ConfigError} `<source>:<line>:<col>: invalid YAML: <problem>` (as
 *   `wording` words it).
 */
export function parseYaml(text: string, source: string, wording = DISTILL_WORDING): unknown {
  try {
    return parse(text);
  } catch (e) {
    if ((e as Error).name !== "YAMLParseError") throw e;
    const err = e as YAMLError;
    const at = err.linePos ? `:${err.linePos[0].line}:${err.linePos[0].col}` : "";
    throw wording.error(`${source}${at}: ${wording.invalidYaml}: ${yamlProblem(err)}`);
  }
}

/**
 * The spec at a dotted path (undefined inside free-form mappings).
 *
 * @throws {ConfigError} For an unknown key, or a key below a plain value.
 */
export function specAt(
  path: string,
  source: string,
  schema: SectionSpec,
  wording: Wording = DISTILL_WORDING,
): Spec | undefined {
  let spec: Spec = schema;
  let at = "";
  for (const key of path.split(".")) {
    const here = at ? `${at}.${key}` : key;
    if (spec.kind === "section") {
      const next: Spec | undefined = spec.fields[key];
      if (!next) {
        throw wording.error(wording.unknownKey(source, here, key, Object.keys(spec.fields)));
      }
      spec = next;
    } else if (spec.kind === "union") {
      const variant: SectionSpec | undefined = Object.values(
        spec.variants as Record<string, SectionSpec>,
      )
        .find((v: SectionSpec) => key in v.fields);
      if (!variant) return undefined;
      spec = variant.fields[key];
    } else if (spec.kind === "dependent" || wording.belowLeaf === "replace") {
      return undefined;
    } else {
      throw wording.error(
        `${source}: ${here}: unknown key (${at} is ${describe(spec)}, not a mapping)`,
      );
    }
    at = here;
  }
  return spec;
}

/**
 * One override `a.b=value` as a layer. The value is read as YAML (`0.01`,
 * `null`, `[0.5]`, `{name: cifar10}`), except that a string key takes the
 * text as typed (`null` aside where allowed; quote to force YAML), and an
 * empty value is the empty string.
 *
 * @throws {ConfigError} For a missing `=`, a bad key, or unreadable YAML.
 */
export function overrideLayer(
  override: string,
  schema: SectionSpec,
  wording: Wording = DISTILL_WORDING,
): Layer {
  const source = `--set ${override}`;
  const eq = override.indexOf("=");
  if (eq < 0) throw wording.error(wording.noEquals(override));
  const path = override.slice(0, eq).trim();
  const text = override.slice(eq + 1);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(path)) {
    throw wording.error(
      `${source}: ${JSON.stringify(path)} is not a dotted key such as optim.lr`,
    );
  }
  const spec = specAt(path, source, schema, wording);
  const raw = text.trim();
  let value: unknown = raw;
  if (wording.overrideValues === "yaml") {
    value = parseYaml(text, source, wording);
  } else if (spec?.kind === "string" && !/^["']/.test(raw)) {
    // Paths and names: the text as typed, so `runs/#1` or `@x` need no quoting.
    if (spec.nullable && (raw === "null" || raw === "~")) value = null;
  } else if (raw !== "") {
    try {
      value = parse(text);
    } catch (e) {
      const problem = yamlProblem(e as YAMLError);
      throw wording.error(
        `${source}: ${path}: cannot read ${JSON.stringify(text)} as a YAML value (${problem})`,
      );
    }
  }
  const nested = path.split(".").reduceRight<unknown>((v, key) => ({ [key]: v }), value);
  return { source, value: nested };
}

/** The full config as block YAML: what `runDir/config.yaml` holds. */
export function stringifyBlock(c: DistillConfig): string {
  const doc = new Document(c);
  return "# Resolved config of a CoSS distillation run (lib/config/config.ts).\n" +
    doc.toString({ lineWidth: 0 });
}

const WIDTH = 120;

/** `{key: value}` as YAML, with every mapping from `depth` down in flow style. */
function render(key: string, value: unknown, depth: number): string {
  const doc = new Document({ [key]: value });
  visit(doc, {
    Map(_, node, path) {
      if (path.length >= depth) node.flow = true;
    },
    Seq(_, node) {
      // A list of steps stays one per line.
      node.flow = !node.items.some((item) => isMap(item));
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/**
 * Compact YAML: a section on one line when it fits in 120 columns, else one
 * line per key with anything deeper in flow style.
 */
export function stringifyCompact(c: DistillConfig): string {
  return Object.entries(c).map(([key, value]) => {
    const line = render(key, value, 3);
    return line.trimEnd().includes("\n") || line.length > WIDTH + 1 ? render(key, value, 5) : line;
  }).join("");
}
