/**
 * The registry of stateless losses configs name: each entry maps
 * `(teacher, student, options)` to the scalar to minimise plus named terms
 * for logging.
 *
 * The baselines that keep state between batches (`seed`, `bingo`,
 * `compress`: queues, memory banks, neighbour bags) are not here: their pure
 * losses take the state as extra tensors, and `lib/methods` (`createMethod`)
 * wraps every loss, stateful or not, behind one per-run interface.
 *
 * @module
 */
import { type CossOptions, cossTerms } from "./coss.ts";
import { cosineLoss, type CosineOptions, ssOnlyLoss } from "./cosine.ts";
import { discoTerms } from "./disco.ts";
import { type DistOptions, distTerms } from "./dist.ts";
import { pktLoss, type PktOptions } from "./pkt.ts";
import { type RkdOptions, rkdTerms } from "./rkd.ts";
import { sldLoss, type SldOptions } from "./sld.ts";
import { smdLoss, type SmdOptions } from "./smd.ts";
import { spLoss } from "./sp.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** A registered loss: the value to minimise and extra scalars to log (the caller disposes all). */
export type RegisteredLoss = (
  teacher: Tensor2D,
  student: Tensor2D,
  options: Record<string, unknown>,
) => { loss: Scalar; terms: Record<string, Scalar> };

/**
 * Stateless losses by config name:
 *
 * | name | loss | terms |
 * |---|---|---|
 * | `coss` | CoSS, `scale·(L_co + λ·L_ss)` | `co`, `ss` |
 * | `cosine` | `scale·L_co` (CoSS with λ = 0) | — |
 * | `ss-only` | `scale·L_ss` | — |
 * | `disco` | DisCo only-mse, `Σ‖ŝ − t̂‖²` | — |
 * | `smd` | hard-aware metric distillation | — |
 * | `sld` | DINO-style CE over the feature axis | — |
 * | `dist` | DIST, inter + intra Pearson | `inter`, `intra` |
 * | `rkd` | RKD, 25·distance + 50·angle | `distance`, `angle` |
 * | `sp` | similarity-preserving Gram matrices | — |
 * | `pkt` | probabilistic knowledge transfer | — |
 */
export const LOSSES: Readonly<Record<string, RegisteredLoss>> = {
  coss: (teacher, student, options) => {
    const { loss, co, ss } = cossTerms(teacher, student, options as CossOptions);
    return { loss, terms: { co, ss } };
  },
  cosine: (teacher, student, options) => ({
    loss: cosineLoss(teacher, student, options as CosineOptions),
    terms: {},
  }),
  "ss-only": (teacher, student, options) => ({
    loss: ssOnlyLoss(teacher, student, options as CosineOptions),
    terms: {},
  }),
  disco: (teacher, student) => {
    const { loss, mse } = discoTerms(teacher, student);
    mse.dispose();
    return { loss, terms: {} };
  },
  smd: (teacher, student, options) => ({
    loss: smdLoss(teacher, student, options as SmdOptions),
    terms: {},
  }),
  sld: (teacher, student, options) => ({
    loss: sldLoss(teacher, student, options as SldOptions),
    terms: {},
  }),
  dist: (teacher, student, options) => {
    const { loss, inter, intra } = distTerms(teacher, student, options as DistOptions);
    return { loss, terms: { inter, intra } };
  },
  rkd: (teacher, student, options) => {
    const { loss, distance, angle } = rkdTerms(teacher, student, options as RkdOptions);
    return { loss, terms: { distance, angle } };
  },
  sp: (teacher, student) => ({ loss: spLoss(teacher, student), terms: {} }),
  pkt: (teacher, student, options) => ({
    loss: pktLoss(teacher, student, options as PktOptions),
    terms: {},
  }),
};

/** Every name {@linkcode getLoss} accepts: the keys of {@linkcode LOSSES}. */
export const REGISTERED_LOSS_NAMES: readonly string[] = Object.keys(LOSSES);

/**
 * The loss registered as `name`.
 *
 * @example
 * ```ts
 * import { getLoss } from "./registry.ts";
 * console.log(typeof getLoss("coss"), typeof getLoss("rkd")); // "function" "function"
 * ```
 *
 * @throws {RangeError} For an unknown name, listing the known ones (and
 * pointing stateful baselines to `createMethod`).
 */
export function getLoss(name: string): RegisteredLoss {
  const fn = Object.hasOwn(LOSSES, name) ? LOSSES[name] : undefined;
  if (!fn) {
    const hint = ["seed", "bingo", "compress"].includes(name)
      ? ` ("${name}" keeps state between batches: use createMethod from lib/methods)`
      : "";
    throw new RangeError(
      `Unknown loss "${name}": expected one of ${REGISTERED_LOSS_NAMES.join(", ")}${hint}`,
    );
  }
  return fn;
}
