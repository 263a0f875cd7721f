/**
 * Learning-rate schedules against PyTorch's lr_scheduler (tests/fixtures/optim:
 * StepLR, CosineAnnealingLR, SequentialLR(LinearLR, CosineAnnealingLR)) to
 * 1e-9, the documented closed forms at their corners, and the errors.
 */
import assert from "assert";
import { assertClose } from "../_helpers.ts";
import {
  learningRate,
  type ScheduleConfig,
  validateScheduleConfig,
} from "../../lib/optim/schedule.ts";

interface ScheduleCase {
  name: string;
  torch: string;
  config: ScheduleConfig;
  base_lr: number;
  total_steps: number;
  lrs: number[];
}

const fixture: { schedules: ScheduleCase[] } = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/optim/optim_cases.json", import.meta.url)),
);

const LR_RTOL = 1e-9;

const config = (over: Partial<ScheduleConfig>): ScheduleConfig => ({
  name: "warmup-cosine",
  warmupSteps: 0,
  stepSize: 1000,
  gamma: 0.1,
  minLr: 0,
  ...over,
});

Deno.test("schedule fixtures cover every schedule", () => {
  const names = new Set(fixture.schedules.map((c) => c.config.name));
  assert.deepEqual([...names].sort(), ["constant", "cosine", "step", "warmup-cosine"]);
});

for (const c of fixture.schedules) {
  Deno.test(`schedule matches PyTorch: ${c.name} (${c.torch})`, () => {
    const lrs = c.lrs.map((_, k) => learningRate(c.config, c.base_lr, k, c.total_steps));
    assertClose(lrs, c.lrs, { rtol: LR_RTOL, label: c.name });
  });
}

Deno.test("warmup-cosine: linear warmup to the base, then cosine to minLr", () => {
  const cfg = config({ warmupSteps: 4, minLr: 0.01 });
  const lr = (s: number) => learningRate(cfg, 0.2, s, 10);
  assertClose([0, 1, 2, 3].map(lr), [0.05, 0.1, 0.15, 0.2], { rtol: 1e-15 });
  assert.equal(lr(4), 0.2); // the cosine starts at the base
  assertClose(lr(7), 0.01 + 0.19 * 0.5, { rtol: 1e-15 }); // halfway through the cosine
  assert.ok(lr(9) > 0.01 && lr(9) < lr(8));
  assertClose([10, 11, 1000].map(lr), [0.01, 0.01, 0.01], { rtol: 1e-15 }); // held past the end
});

Deno.test("warmup-cosine: warmup 0 is the plain cosine; warmup >= total is all warmup", () => {
  for (let s = 0; s < 12; s++) {
    assert.equal(
      learningRate(config({ warmupSteps: 0, minLr: 0.001 }), 0.1, s, 12),
      learningRate(config({ name: "cosine", minLr: 0.001 }), 0.1, s, 12),
    );
  }
  const long = config({ warmupSteps: 10 });
  assertClose([0, 4].map((s) => learningRate(long, 1, s, 5)), [0.1, 0.5], { rtol: 1e-15 });
  assert.equal(learningRate(long, 1, 10, 5), 0); // past the warmup and the end: the floor
});

Deno.test("cosine: base at step 0, floor at the end and after it", () => {
  const cfg = config({ name: "cosine", minLr: 0.002 });
  assert.equal(learningRate(cfg, 0.1, 0, 8), 0.1);
  assertClose(learningRate(cfg, 0.1, 4, 8), 0.051, { rtol: 1e-15 });
  assert.equal(learningRate(cfg, 0.1, 8, 8), 0.002);
  assert.equal(learningRate(cfg, 0.1, 50, 8), 0.002);
});

Deno.test("step and constant: gamma^floor(step / stepSize); constant ignores the rest", () => {
  const cfg = config({ name: "step", stepSize: 30, gamma: 0.1 });
  assert.deepEqual([0, 29, 30, 59, 60].map((s) => learningRate(cfg, 1, s, 100)), [
    1,
    1,
    0.1,
    0.1,
    0.1 ** 2,
  ]);
  const constant = config({ name: "constant", warmupSteps: 5, minLr: 0.5 });
  assert.deepEqual([0, 3, 99, 1e6].map((s) => learningRate(constant, 0.03, s, 100)), [
    0.03,
    0.03,
    0.03,
    0.03,
  ]);
});

Deno.test("learningRate is pure: the same arguments give the same value in any order", () => {
  const cfg = config({ warmupSteps: 3, minLr: 1e-4 });
  const forward = Array.from({ length: 20 }, (_, s) => learningRate(cfg, 0.3, s, 20));
  const backward = Array.from({ length: 20 }, (_, s) => learningRate(cfg, 0.3, 19 - s, 20));
  assert.deepEqual(forward, backward.reverse());
});

Deno.test("schedule config errors name the key and quote the value", () => {
  const cases: [Partial<ScheduleConfig>, ErrorConstructor, RegExp][] = [
    [{ name: "linear" as ScheduleConfig["name"] }, RangeError, /^schedule\.name: .*"linear"/],
    [{ warmupSteps: -1 }, RangeError, /^schedule\.warmupSteps: .*-1/],
    [{ warmupSteps: 2.5 }, RangeError, /^schedule\.warmupSteps: .*2\.5/],
    [{ stepSize: 0 }, RangeError, /^schedule\.stepSize: .*got 0/],
    [{ gamma: 0 }, RangeError, /^schedule\.gamma: /],
    [{ gamma: NaN }, RangeError, /^schedule\.gamma: /],
    [{ minLr: -0.1 }, RangeError, /^schedule\.minLr: .*-0\.1/],
    [{ minLr: "0" as unknown as number }, TypeError, /^schedule\.minLr: .*"0"/],
  ];
  for (const [over, type, message] of cases) {
    assert.throws(() => validateScheduleConfig(config(over)), { name: type.name, message });
    assert.throws(() => learningRate(config(over), 0.1, 0, 10), type);
  }
  assert.throws(() => validateScheduleConfig(null as unknown as ScheduleConfig), TypeError);
});

Deno.test("learningRate argument errors name the argument", () => {
  const cfg = config({});
  assert.throws(() => learningRate(cfg, 0.1, -1, 10), { name: "RangeError", message: /^step: / });
  assert.throws(() => learningRate(cfg, 0.1, 1.5, 10), { name: "RangeError", message: /^step: / });
  assert.throws(() => learningRate(cfg, 0.1, 0, 0), {
    name: "RangeError",
    message: /^totalSteps: .*got 0/,
  });
  assert.throws(() => learningRate(cfg, -0.1, 0, 10), {
    name: "RangeError",
    message: /^baseLr: /,
  });
  assert.throws(() => learningRate(cfg, Infinity, 0, 10), { name: "RangeError" });
});
