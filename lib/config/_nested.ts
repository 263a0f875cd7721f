/**
 * Keys validated by other modules: augmentation steps (`lib/augment/augment.ts`)
 * and model arguments (`lib/models/registry.ts`), with their errors turned
 * into config paths.
 *
 * @module
 */
import { AUGMENT_PRESETS, validateAugmentSteps } from "../augment/augment.ts";
import { listModels, modelArgNames, type ModelName } from "../models/registry.ts";
import type { LeafSpec, SectionSpec } from "./spec.ts";
import { show, suggestion } from "./spec.ts";

/**
 * Rewrite a `validateAugmentSteps` message (`augment step 2 (grayscale):
 * "p" must be …, got 3`) as a path suffix (`[2].p`) and a problem.
 */
export function augmentProblem(message: string): { problem: string; at?: string } {
  let m = /^augment step (\d+) \([^)]*\): "([^"]+)" must be given \((.*)\), got \S+$/.exec(message);
  if (m) return { at: `[${m[1]}].${m[2]}`, problem: `missing (expected ${m[3]})` };
  m = /^augment step (\d+) \([^)]*\): "([^"]+)" must be (.*)$/.exec(message);
  if (m) return { at: `[${m[1]}].${m[2]}`, problem: `expected ${m[3]}` };
  m = /^augment step (\d+) \([^)]*\): unknown key "([^"]+)"; (did you mean "[^"]+"\?)/.exec(
    message,
  );
  if (m) return { at: `[${m[1]}].${m[2]}`, problem: `unknown key (${m[3]})` };
  m = /^augment step (\d+): unknown op (.*?)(?:; (did you mean "[^"]+"\?))? Valid ops: (.*)$/
    .exec(message);
  if (m) {
    const ops = m[4].split(", ").map((o) => JSON.stringify(o)).join(", ");
    const hint = m[3] ? ` (${m[3]})` : "";
    return { at: `[${m[1]}].op`, problem: `expected one of ${ops}, got ${m[2]}${hint}` };
  }
  m = /^augment step (\d+) must be (.*)$/.exec(message);
  if (m) return { at: `[${m[1]}]`, problem: `expected ${m[2]}` };
  return { problem: message };
}

/** `data.augment`: a preset name, or a list of steps checked by `validateAugmentSteps`. */
export function augmentSpec(preset: string): LeafSpec {
  const presets = AUGMENT_PRESETS.map((p) => JSON.stringify(p)).join(", ");
  const allowed = `a preset (${presets}) or a list of augmentation steps`;
  return {
    kind: "custom",
    allowed,
    default: preset,
    doc: "preset name, or steps such as [{op: randomResizedCrop, size: 28}, …]",
    check(value) {
      if (typeof value === "string") {
        if ((AUGMENT_PRESETS as readonly string[]).includes(value)) return { value };
        const hint = suggestion(value, AUGMENT_PRESETS, "presets");
        return { problem: `expected ${allowed}, got ${show(value)} ${hint}` };
      }
      if (!Array.isArray(value)) return { problem: `expected ${allowed}, got ${show(value)}` };
      try {
        return { value: validateAugmentSteps(value) };
      } catch (e) {
        return augmentProblem((e as Error).message);
      }
    },
  };
}

/** The argument names a registry model accepts; undefined for an unknown architecture. */
function argNamesOf(name: string): readonly string[] | undefined {
  return listModels().includes(name as ModelName) ? modelArgNames(name) : undefined;
}

/** The keys `student.args` / `teacher.args` may hold for an architecture. */
export function modelArgsVariant(architecture: string): SectionSpec | undefined {
  const names = argNamesOf(architecture);
  if (!names) return undefined;
  const fields = Object.fromEntries(
    names.map((n) => [n, { kind: "any", optional: true, doc: `${architecture} argument` }]),
  );
  return { kind: "section", doc: `arguments of ${architecture}`, fields } as SectionSpec;
}
