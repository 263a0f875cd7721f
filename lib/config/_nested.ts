/**
 * Keys validated by other modules: augmentation steps (`lib/augment/augment.ts`)
 * and model arguments (`lib/models/registry.ts`), with their errors' data
 * turned into config paths.
 *
 * @module
 */
import {
  AUGMENT_OPS,
  AUGMENT_PRESETS,
  type AugmentStepFault,
  augmentStepFault,
  validateAugmentSteps,
} from "../augment/augment.ts";
import { listModels, modelArgNames, type ModelName } from "../models/registry.ts";
import type { LeafSpec, SectionSpec } from "./spec.ts";
import { show, suggestion } from "./spec.ts";

/**
 * A `validateAugmentSteps` error as a path suffix (`[2].p`, from the step
 * index and key its fault carries) and a problem; any other error (or text)
 * is the problem as it is.
 */
export function augmentProblem(error: unknown): { problem: string; at?: string } {
  const fault = augmentStepFault(error);
  if (fault === undefined) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
  return faultProblem(fault);
}

function faultProblem(fault: AugmentStepFault): { problem: string; at: string } {
  const at = fault.key === undefined ? `[${fault.index}]` : `[${fault.index}].${fault.key}`;
  const hint = fault.suggestion === undefined ? "" : `did you mean "${fault.suggestion}"?`;
  switch (fault.kind) {
    case "missing":
      return { at, problem: `missing (expected ${fault.expected})` };
    case "key":
      return { at, problem: `unknown key (${hint})` };
    case "op": {
      const ops = AUGMENT_OPS.map((o) => JSON.stringify(o)).join(", ");
      return { at, problem: `expected one of ${ops}, got ${fault.got}${hint && ` (${hint})`}` };
    }
    default:
      return { at, problem: `expected ${fault.expected}, got ${fault.got}` };
  }
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
        return augmentProblem(e);
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
