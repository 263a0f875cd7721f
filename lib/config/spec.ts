/**
 * The vocabulary of the config schema: one spec per key (type, range, enum
 * values, default, a one-line doc), how each is described in an error, and
 * the "did you mean" suggestion worded for a key or value (`lib/util/suggest.ts`).
 *
 * @module
 */
import { closest } from "../util/suggest.ts";

/** A numeric range; `min`/`max` are inclusive unless `minOpen`/`maxOpen`. */
export interface Range {
  min?: number;
  max?: number;
  minOpen?: boolean;
  maxOpen?: boolean;
}

interface SpecBase {
  /** One line for `--help` and the reference. */
  doc: string;
  /** `null` is allowed. */
  nullable?: boolean;
  /** The key may be absent (nested dataset specs; the reader has the default). */
  optional?: boolean;
  /** The key must be given (nested dataset specs). */
  required?: boolean;
  /** What errors say is expected, in place of the text derived from the kind. */
  expect?: string;
}

/** A leaf value. */
export type LeafSpec =
  & SpecBase
  & { default?: unknown }
  & (
    | { kind: "number" | "integer"; range?: Range }
    | { kind: "boolean" | "strings" | "any" }
    | { kind: "string"; nonEmpty?: boolean }
    | { kind: "enum"; values: readonly (string | number)[] }
    | { kind: "pair"; integer?: boolean; range?: Range }
    | { kind: "numbers"; range?: Range; integer?: boolean }
    | {
      /** Validated by `check`, which returns the value or a problem text. */
      kind: "custom";
      /** What is allowed, for the help text. */
      allowed: string;
      check: (value: unknown) => { value: unknown } | { problem: string; at?: string };
    }
  );

/** A fixed set of keys. */
export interface SectionSpec extends SpecBase {
  kind: "section";
  fields: Record<string, Spec>;
  /**
   * Two nullable keys of which exactly one is non-null; a layer (the file, or
   * one override) that sets one to a non-null value clears the other, unless
   * it sets both.
   */
  oneOf?: [string, string];
}

/** A mapping whose keys depend on its `tag` key (`data.train` by `name`). */
export interface UnionSpec extends SpecBase {
  kind: "union";
  tag: string;
  variants: Record<string, SectionSpec>;
  default?: Record<string, unknown> | null;
}

/**
 * A mapping whose keys depend on a sibling key (`student.args` by
 * `student.architecture`). `variant` returns the allowed keys' specs, or
 * undefined when the sibling is null.
 */
export interface DependentSpec extends SpecBase {
  kind: "dependent";
  on: string;
  variant: (tag: string) => SectionSpec | undefined;
  default?: Record<string, unknown>;
}

/** Any key's spec. */
export type Spec = LeafSpec | SectionSpec | UnionSpec | DependentSpec;

/** Whether a spec holds a mapping that merges key by key. */
export function isMapping(spec: Spec): spec is SectionSpec | UnionSpec | DependentSpec {
  return spec.kind === "section" || spec.kind === "union" || spec.kind === "dependent";
}

/** A plain object (a YAML mapping). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A value as it appears in an error: strings quoted, numbers as written. */
export function show(v: unknown): string {
  if (typeof v === "number") return Number.isNaN(v) ? ".nan" : String(v);
  if (v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  if (isPlainObject(v)) {
    return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(", ")}}`;
  }
  return String(v);
}

/** `> 0`, `in [0, 1)`, or "" for no bounds. */
export function describeRange(r: Range | undefined): string {
  if (!r || (r.min === undefined && r.max === undefined)) return "";
  const { min, max } = r;
  if (min !== undefined && max !== undefined) {
    return `in ${r.minOpen ? "(" : "["}${min}, ${max}${r.maxOpen ? ")" : "]"}`;
  }
  return min !== undefined ? `${r.minOpen ? ">" : "≥"} ${min}` : `${r.maxOpen ? "<" : "≤"} ${max}`;
}

/** Whether `v` lies in the range. */
export function inRange(v: number, r: Range | undefined): boolean {
  if (!r) return true;
  if (r.min !== undefined && (r.minOpen ? v <= r.min : v < r.min)) return false;
  if (r.max !== undefined && (r.maxOpen ? v >= r.max : v > r.max)) return false;
  return true;
}

const withRange = (noun: string, r?: Range) => {
  const text = describeRange(r);
  return text ? `${noun} ${text}` : noun;
};

/** What a spec allows, as it reads after "expected". */
export function describe(spec: Spec): string {
  if (spec.expect !== undefined) return spec.expect;
  const text = describeBare(spec);
  return spec.nullable ? `null or ${text}` : text;
}

function describeBare(spec: Spec): string {
  switch (spec.kind) {
    case "number":
      return withRange("a number", spec.range);
    case "integer":
      return withRange("an integer", spec.range);
    case "boolean":
      return "true or false";
    case "string":
      return spec.nonEmpty ? "a non-empty string" : "a string";
    case "strings":
      return "a list of strings";
    case "any":
      return "any value";
    case "enum":
      return `one of ${spec.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "pair": {
      const range = describeRange(spec.range);
      const each = range ? ` (each ${range})` : "";
      return `a [${spec.integer ? "integer" : "number"}, ${spec.integer ? "integer" : "number"}]` +
        ` pair${each}`;
    }
    case "numbers":
      return withRange(`a non-empty list of ${spec.integer ? "integers" : "numbers"}`, spec.range);
    case "custom":
      return spec.allowed;
    case "section":
      return `a mapping with keys ${Object.keys(spec.fields).join(", ")}`;
    case "union":
      return `a mapping with "${spec.tag}" (${Object.keys(spec.variants).join(", ")})`;
    case "dependent":
      return "a mapping";
  }
}

/**
 * Check a leaf value.
 *
 * @returns A problem text (after "expected"), or undefined when valid.
 */
export function checkLeaf(spec: LeafSpec, v: unknown): string | undefined {
  if (v === null && spec.nullable) return undefined;
  const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
  let ok: boolean;
  switch (spec.kind) {
    case "number":
      ok = isNum(v) && inRange(v, spec.range);
      break;
    case "integer":
      ok = Number.isSafeInteger(v) && inRange(v as number, spec.range);
      break;
    case "boolean":
      ok = typeof v === "boolean";
      break;
    case "string":
      ok = typeof v === "string" && !(spec.nonEmpty && v === "");
      break;
    case "strings":
      ok = Array.isArray(v) && v.every((x) => typeof x === "string");
      break;
    case "any":
      ok = v !== undefined;
      break;
    case "enum":
      ok = spec.values.includes(v as string);
      break;
    case "pair":
      ok = Array.isArray(v) && v.length === 2 &&
        v.every((x) =>
          (spec.integer ? Number.isSafeInteger(x) : isNum(x)) && inRange(x, spec.range)
        );
      break;
    case "numbers":
      ok = Array.isArray(v) && v.length > 0 &&
        v.every((x) =>
          (spec.integer ? Number.isSafeInteger(x) : isNum(x)) && inRange(x, spec.range)
        );
      break;
    case "custom":
      return undefined; // checked by its own function
  }
  return ok ? undefined : describe(spec);
}

/** `(did you mean "lr"?)`, or the list of valid names when nothing is close. */
export function suggestion(word: string, candidates: readonly string[], noun = "keys"): string {
  const c = closest(word, candidates);
  return c !== undefined
    ? `(did you mean ${JSON.stringify(c)}?)`
    : `(valid ${noun}: ${candidates.join(", ")})`;
}

/** The defaults a schema declares, as a config object (keys in schema order). */
export function defaultsOf(spec: Spec): unknown {
  if (spec.kind === "section") {
    return Object.fromEntries(
      Object.entries(spec.fields).filter(([, f]) => !f.optional && !f.required).map((
        [k, f],
      ) => [k, defaultsOf(f)]),
    );
  }
  return structuredClone(spec.default);
}
