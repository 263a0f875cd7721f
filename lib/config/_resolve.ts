/**
 * Resolution of a config from layers (the file, then each override) over a
 * base: merge with unknown-key checks, then validation of every key against
 * the schema, then the checks that involve several keys. Every error names
 * the layer that set the offending key.
 *
 * @module
 */
import type { ConfigSystem } from "./system.ts";
import {
  checkLeaf,
  describe,
  isPlainObject,
  type SectionSpec,
  show,
  type Spec,
  suggestion,
} from "./spec.ts";

/** One source of values: a parsed YAML file, or one override. */
export interface Layer {
  /** What errors name: the file path, or `--set a.b=v`. */
  source: string;
  /** The parsed mapping (null: nothing). */
  value: unknown;
}

const join = (path: string, key: string) => path ? `${path}.${key}` : key;

/** Whether one path is the other or lies inside it. */
const related = (a: string, b: string) =>
  a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`) || b.startsWith(`${a}.`) ||
  b.startsWith(`${a}[`);

/** The value at a dotted path, or undefined. */
export function getAt(root: unknown, path: string): unknown {
  let v = root;
  for (const key of path ? path.split(".") : []) v = isPlainObject(v) ? v[key] : undefined;
  return v;
}

class Resolver<T> {
  /** Which layer last set each leaf path. */
  readonly setBy = new Map<string, number>();

  constructor(
    readonly system: ConfigSystem<T>,
    readonly base: T,
    readonly layers: readonly Layer[],
  ) {}

  get wording() {
    return this.system.wording;
  }

  /** The source that set any of `paths` (or what lies inside them) last. */
  sourceOf(paths: readonly string[]): string {
    let best = -1;
    for (const [p, layer] of this.setBy) {
      if (layer > best && paths.some((q) => related(p, q))) best = layer;
    }
    if (best >= 0) return this.layers[best].source;
    return this.layers.at(-1)?.source ?? "config";
  }

  fail(path: string, problem: string, also: readonly string[] = [], blameFile = false): never {
    const source = blameFile ? this.layers[0]?.source ?? "config" : this.sourceOf([path, ...also]);
    throw this.wording.error(`${source}: ${path}: ${problem}`);
  }

  merge(spec: Spec, cur: unknown, inc: unknown, path: string, layer: number): unknown {
    const src = this.layers[layer].source;
    if (spec.kind === "section") {
      if (inc === null) return cur; // `optim:` with nothing under it
      if (!isPlainObject(inc)) {
        throw this.wording.error(this.wording.notMapping(src, path, spec, inc));
      }
      const out: Record<string, unknown> = isPlainObject(cur) ? { ...cur } : {};
      for (const [key, value] of Object.entries(inc)) {
        const field = spec.fields[key];
        if (!field) {
          const keys = Object.keys(spec.fields);
          throw this.wording.error(this.wording.unknownKey(src, join(path, key), key, keys));
        }
        out[key] = this.merge(field, out[key], value, join(path, key), layer);
      }
      if (spec.oneOf) {
        for (const [a, b] of [spec.oneOf, [...spec.oneOf].reverse()]) {
          if (inc[a] !== undefined && inc[a] !== null && !(b in inc)) {
            out[b] = null;
            this.setBy.set(join(path, b), layer);
          }
        }
      }
      return out;
    }
    if (spec.kind === "dependent" && inc === null) { // `args:` with nothing under it
      this.setBy.set(path, layer);
      return {};
    }
    if ((spec.kind === "union" || spec.kind === "dependent") && isPlainObject(inc)) {
      const out: Record<string, unknown> = isPlainObject(cur) ? { ...cur } : {};
      // A layer that changes a union's kind (`--set data.train={name: folder, root: x}` over a
      // file's fashion-mnist) drops what earlier layers set that the new kind does not accept.
      const tag = spec.kind === "union" ? inc[spec.tag] : undefined;
      if (spec.kind === "union" && typeof tag === "string" && tag !== out[spec.tag]) {
        const fields = spec.variants[tag]?.fields ?? {};
        for (const key of Object.keys(out)) {
          if (key !== spec.tag && !(key in inc) && !(key in fields)) {
            delete out[key];
            this.setBy.delete(join(path, key));
          }
        }
      }
      for (const [key, value] of Object.entries(inc)) {
        out[key] = structuredClone(value);
        this.setBy.set(join(path, key), layer);
      }
      return out;
    }
    this.setBy.set(path, layer);
    return structuredClone(inc);
  }

  /** Validate `v` against `spec`; `parent` holds the already validated siblings. */
  build(spec: Spec, v: unknown, path: string, parent: Record<string, unknown>): unknown {
    switch (spec.kind) {
      case "section":
        return this.section(spec, isPlainObject(v) ? v : {}, path, "");
      case "union": {
        if (v === null && spec.nullable) return null;
        if (!isPlainObject(v)) return this.fail(path, `expected ${describe(spec)}, got ${show(v)}`);
        const tagPath = join(path, spec.tag);
        const names = Object.keys(spec.variants);
        const tag = v[spec.tag];
        if (tag === undefined) this.fail(tagPath, `missing (expected one of ${names.join(", ")})`);
        if (typeof tag !== "string" || !spec.variants[tag]) {
          const hint = typeof tag === "string" ? ` ${suggestion(tag, names, "names")}` : "";
          const all = names.map((n) => JSON.stringify(n)).join(", ");
          this.fail(tagPath, `expected one of ${all}, got ${show(tag)}${hint}`);
        }
        const baseTag = (getAt(this.base, path) as Record<string, unknown> | null)?.[spec.tag];
        const rest = this.dropInherited(v, path, spec.variants[tag], baseTag !== tag, spec.tag);
        const what = `for ${spec.tag} ${JSON.stringify(tag)}`;
        return { [spec.tag]: tag, ...this.section(spec.variants[tag], rest, path, what) };
      }
      case "dependent": {
        if (!isPlainObject(v)) return this.fail(path, `expected a mapping, got ${show(v)}`);
        const tag = parent[spec.on];
        const variant = typeof tag === "string" ? spec.variant(tag) : undefined;
        if (!variant) return structuredClone(v);
        const siblingPath = path.replace(/[^.]+$/, spec.on);
        const baseTag = getAt(this.base, siblingPath);
        const rest = this.dropInherited(v, path, variant, baseTag !== tag);
        return this.section(variant, rest, path, `for ${siblingPath} ${JSON.stringify(tag)}`);
      }
      case "custom": {
        const r = spec.check(v);
        if ("problem" in r) return this.fail(`${path}${r.at ?? ""}`, r.problem);
        return r.value;
      }
      default: {
        const expected = checkLeaf(spec, v);
        if (expected === undefined) return structuredClone(v);
        let hint = "";
        if (spec.kind === "enum" && typeof v === "string" && this.wording.enumHint) {
          const s = suggestion(v, spec.values.map(String), "values");
          hint = s.startsWith("(did") ? ` ${s}` : "";
        }
        return this.fail(path, `expected ${expected}, got ${this.wording.show(v)}${hint}`);
      }
    }
  }

  /**
   * When the kind a mapping depends on changed from the base's, keys the
   * base brought that the new kind does not accept are dropped (a dataset's
   * `split` survives `fashion-mnist` → `cifar10`, not → `folder`).
   */
  dropInherited(
    v: Record<string, unknown>,
    path: string,
    variant: SectionSpec,
    changed: boolean,
    tag?: string,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(v)) {
      if (key === tag) continue;
      const given = this.setBy.has(join(path, key));
      if (changed && !given && !(key in variant.fields)) continue;
      out[key] = value;
    }
    return out;
  }

  section(
    spec: SectionSpec,
    v: Record<string, unknown>,
    path: string,
    what: string,
  ): Record<string, unknown> {
    const keys = Object.keys(spec.fields);
    for (const key of Object.keys(v)) {
      if (!(key in spec.fields)) {
        const hint = keys.length ? suggestion(key, keys) : "(it takes none)";
        this.fail(join(path, key), `unknown key${what ? ` ${what}` : ""} ${hint}`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(spec.fields)) {
      let value = v[key];
      if (value === undefined) {
        if (field.optional) continue;
        if (field.required) {
          const why = what ? `required ${what}: ${field.doc}` : field.doc;
          this.fail(join(path, key), `missing key (${why})`, [path]);
        }
        value = field.kind === "section" ? {} : structuredClone(field.default);
      }
      out[key] = this.build(field, value, join(path, key), out);
    }
    return out;
  }
}

/**
 * Resolve layers over a base config, against a config system's schema.
 *
 * @throws {ConfigError} Naming the source, the path and the problem.
 */
export function resolveLayers<T>(
  system: ConfigSystem<T>,
  base: T,
  layers: readonly Layer[],
): T {
  const { schema, wording } = system;
  const r = new Resolver(system, base, layers);
  let merged: unknown = structuredClone(base);
  layers.forEach((layer, i) => {
    if (layer.value === null || layer.value === undefined) return;
    if (!isPlainObject(layer.value)) {
      throw wording.error(wording.topLevel(layer.source, schema, layer.value));
    }
    merged = r.merge(schema, merged, layer.value, "", i);
  });
  const config = r.build(schema, merged, "", {}) as T;
  for (const check of system.crossChecks) {
    const p = check(config);
    if (p) r.fail(p.path, p.problem, p.also, p.blameFile);
  }
  return config;
}
