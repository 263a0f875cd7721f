/**
 * The config's defaults are data in the schema (lib/config/_schema.ts); the
 * `@default` tags of the DistillConfig type (lib/config/types.ts) repeat them
 * for readers of the API docs. This test holds the two together: every tag
 * must equal the schema's default at the same key.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { DEFAULT_CONFIG } from "../../lib/config/config.ts";

const TYPES = new URL("../../lib/config/types.ts", import.meta.url);

/** `key.path → tag text` for every field of DistillConfig that carries `@default {…}`. */
function documentedDefaults(source: string): Map<string, string> {
  const body = source.slice(source.indexOf("export interface DistillConfig {"));
  const lines = body.split("\n").slice(1);
  const stack: string[] = [];
  const out = new Map<string, string>();
  let tag: string | undefined;
  for (const line of lines) {
    const at = line.indexOf("@default {");
    if (at >= 0) {
      // The value runs to the brace that closes the tag's.
      let depth = 0, end = at + "@default ".length;
      for (; end < line.length; end++) {
        if (line[end] === "{") depth++;
        if (line[end] === "}" && --depth === 0) break;
      }
      tag = line.slice(at + "@default {".length, end);
      continue;
    }
    if (/^\s*(\/\*\*|\*)/.test(line)) continue;
    const open = line.match(/^\s*(\w+)\??: \{$/);
    if (open) {
      stack.push(open[1]);
      tag = undefined;
      continue;
    }
    if (/^\s*\};?$/.test(line)) {
      if (stack.length === 0) break; // the end of DistillConfig
      stack.pop();
      continue;
    }
    const field = line.match(/^\s*(\w+)\??: .*;$/);
    if (field) {
      if (tag !== undefined) out.set([...stack, field[1]].join("."), tag);
      tag = undefined;
    }
  }
  return out;
}

/** A tag's value: YAML, with arithmetic such as `1/(0.07*0.1)` worked out. */
function tagValue(text: string): unknown {
  const walk = (v: unknown): unknown => {
    if (typeof v === "string" && /^[\d.()*/+ -]+$/.test(v)) return new Function(`return ${v}`)();
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(parseYaml(text));
}

function at(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split(".")) v = (v as Record<string, unknown>)?.[key];
  return v;
}

Deno.test("config: every @default of DistillConfig equals the schema's default", async () => {
  const documented = documentedDefaults(await Deno.readTextFile(TYPES));
  assert(documented.size >= 40, `found only ${documented.size} @default tags: the parser is lost`);
  for (const [path, text] of documented) {
    assertEquals(
      tagValue(text),
      at(DEFAULT_CONFIG, path),
      `${path}: types.ts says @default {${text}}, the schema's default differs`,
    );
  }
});
