/**
 * Learning-rate schedules as a pure function of the update number, matching
 * PyTorch's `torch.optim.lr_scheduler` (tests/fixtures/optim holds the
 * reference values).
 *
 * @module
 */

/** The schedule names {@linkcode learningRate} accepts. */
export const SCHEDULE_NAMES: readonly ScheduleConfig["name"][] = [
  "constant",
  "step",
  "cosine",
  "warmup-cosine",
];

/** How the learning rate changes over training (the `schedule` section of the config). */
export interface ScheduleConfig {
  /**
   * `"constant"`, `"step"` (StepLR), `"cosine"` (CosineAnnealingLR) or
   * `"warmup-cosine"` (linear warmup, then cosine).
   *
   * @default {"warmup-cosine"}
   */
  name: "constant" | "step" | "cosine" | "warmup-cosine";
  /**
   * Updates of linear warmup before the cosine (`"warmup-cosine"` only).
   * @default {0}
   */
  warmupSteps: number;
  /**
   * Updates between two decays (`"step"` only).
   * @default {1000}
   */
  stepSize: number;
  /**
   * Factor of each decay (`"step"` only).
   * @default {0.1}
   */
  gamma: number;
  /**
   * The cosine's floor, reached after the last update (`"cosine"`, `"warmup-cosine"`).
   * @default {0}
   */
  minLr: number;
}

function need(ok: boolean, key: string, what: string, value: unknown, numeric = true): void {
  if (ok) return;
  const Err = numeric && typeof value !== "number" ? TypeError : RangeError;
  throw new Err(
    `${key}: expected ${what}, got ${
      typeof value === "number" ? String(value) : JSON.stringify(value) ?? String(value)
    }`,
  );
}

const isCount = (v: unknown, min: number): boolean =>
  typeof v === "number" && Number.isInteger(v) && v >= min;
const isNonNegative = (v: unknown): boolean =>
  typeof v === "number" && Number.isFinite(v) && v >= 0;

/**
 * Check a schedule config, throwing an error that names the offending key
 * (`schedule.stepSize`, ...) and quotes its value.
 *
 * @example
 * ```ts
 * import { validateScheduleConfig } from "./schedule.ts";
 * try {
 *   validateScheduleConfig({ name: "step", warmupSteps: 0, stepSize: 0, gamma: 0.1, minLr: 0 });
 * } catch (e) {
 *   console.log(String(e)); // RangeError: schedule.stepSize: expected an integer >= 1, got 0
 * }
 * ```
 *
 * @param config The schedule section of the config.
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For an unknown name or an out-of-range value.
 */
export function validateScheduleConfig(config: ScheduleConfig): void {
  if (typeof config !== "object" || config === null) {
    throw new TypeError(`schedule: expected an object, got ${config}`);
  }
  const { name, warmupSteps, stepSize, gamma, minLr } = config;
  const names = SCHEDULE_NAMES.map((n) => `"${n}"`).join(", ");
  need(SCHEDULE_NAMES.includes(name), "schedule.name", `one of ${names}`, name, false);
  need(isCount(warmupSteps, 0), "schedule.warmupSteps", "an integer >= 0", warmupSteps);
  need(isCount(stepSize, 1), "schedule.stepSize", "an integer >= 1", stepSize);
  need(isNonNegative(gamma) && gamma > 0, "schedule.gamma", "a finite number > 0", gamma);
  need(isNonNegative(minLr), "schedule.minLr", "a finite number >= 0", minLr);
}

/**
 * The learning rate for update number `step` (0-based: the rate that update
 * uses) of a run of `totalSteps` updates. Pure: same arguments, same result.
 *
 * With `b` = `baseLr`, `s` = `step`, `T` = `totalSteps`, `W` = `warmupSteps`,
 * `m` = `minLr`:
 *
 * - `constant`: `b`.
 * - `step`: `b · gamma^⌊s / stepSize⌋` (PyTorch `StepLR(stepSize, gamma)`).
 * - `cosine`: `m + (b − m)(1 + cos(π · min(s, T) / T)) / 2` (PyTorch
 *   `CosineAnnealingLR(T_max = T, eta_min = m)`, held at `m` past the end
 *   instead of rising again).
 * - `warmup-cosine`: `b · (s + 1) / W` for `s < W` (linear warmup that reaches
 *   `b` on update `W − 1`), then `m + (b − m)(1 + cos(π · p)) / 2` with
 *   `p = min(1, (s − W) / (T − W))` (`p = 1` when `W ≥ T`): update `W` runs at
 *   `b` again and the cosine reaches `m` after the last update. In PyTorch:
 *   `SequentialLR([LinearLR(start_factor = 1/W, total_iters = W − 1),
 *   CosineAnnealingLR(T_max = T − W, eta_min = m)], milestones = [W])`.
 *   `W = 0` is the plain cosine. (The CoSS paper's recipe, a constant rate for
 *   5 epochs then cosine, is not one of these schedules.)
 *
 * @example Linear warmup for 2 updates, then cosine to 0 over the other 4
 * ```ts
 * import { learningRate } from "./schedule.ts";
 * const config = { name: "warmup-cosine", warmupSteps: 2, stepSize: 1, gamma: 1, minLr: 0 } as const;
 * const lrs = [0, 1, 2, 3, 4, 5].map((s) => learningRate(config, 0.1, s, 6));
 * console.log(lrs.map((x) => x.toFixed(3)).join(" ")); // 0.050 0.100 0.100 0.085 0.050 0.015
 * ```
 *
 * @param config Which schedule, and its parameters.
 * @param baseLr The peak learning rate (the config's `optim.lr`).
 * @param step The 0-based update number.
 * @param totalSteps The number of updates in the run.
 * @returns The learning rate.
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For an invalid config, a negative or fractional `step`,
 * `totalSteps` < 1, or a `baseLr` that is not a finite number >= 0.
 */
export function learningRate(
  config: ScheduleConfig,
  baseLr: number,
  step: number,
  totalSteps: number,
): number {
  validateScheduleConfig(config);
  need(isNonNegative(baseLr), "baseLr", "a finite number >= 0", baseLr);
  need(isCount(step, 0), "step", "an integer >= 0", step);
  need(isCount(totalSteps, 1), "totalSteps", "an integer >= 1", totalSteps);
  const cosine = (progress: number): number =>
    config.minLr + (baseLr - config.minLr) * (1 + Math.cos(Math.PI * progress)) / 2;
  switch (config.name) {
    case "constant":
      return baseLr;
    case "step":
      return baseLr * config.gamma ** Math.floor(step / config.stepSize);
    case "cosine":
      return cosine(Math.min(step, totalSteps) / totalSteps);
    case "warmup-cosine": {
      const w = config.warmupSteps;
      if (step < w) return baseLr * (step + 1) / w;
      return cosine(totalSteps > w ? Math.min(1, (step - w) / (totalSteps - w)) : 1);
    }
  }
}
