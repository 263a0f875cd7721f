/**
 * SGD and AdamW against torch.optim (tests/fixtures/optim) on every backend,
 * float64-accurate AdamW bias corrections at any step, exact resume through
 * state()/setState() (bitwise on cpu and wasm), slot bookkeeping and errors,
 * and global-norm clipping like clip_grad_norm_.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import {
  clipByGlobalNorm,
  createOptimizer,
  type Optimizer,
  type OptimizerConfig,
  validateOptimizerConfig,
} from "../../lib/optim/optim.ts";
import { learningRate, type ScheduleConfig } from "../../lib/optim/schedule.ts";

type Named = Record<string, number[]>;
interface OptimCase {
  name: string;
  description: string;
  config: OptimizerConfig;
  shapes: Record<string, number[]>;
  init: Named;
  grads: Named[];
  lrs: number[];
  params: Named[];
  norms?: number[];
  schedule?: ScheduleConfig;
  total_steps?: number;
}

const fixture: { optim: OptimCase[] } = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/optim/optim_cases.json", import.meta.url)),
);
const byName = (name: string) => fixture.optim.find((c) => c.name === name)!;

// Parameters after every step, relative to the tensor's largest reference
// value; the reference is float64 torch on the same float32 inputs.
const PARAM_RTOL = 1e-5;

const SGD: OptimizerConfig = {
  name: "sgd",
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 0,
  betas: [0.9, 0.999],
  eps: 1e-8,
  clipNorm: null,
};

let unique = 0;
/** Fresh variables (`<prefix>/<key>`) holding a case's initial values. */
function makeVars(c: OptimCase, prefix = `optim${unique++}`): Record<string, tf.Variable> {
  return Object.fromEntries(
    Object.keys(c.shapes).map((k) => [
      k,
      tf.tidy(() => tf.variable(tf.tensor(c.init[k], c.shapes[k]), true, `${prefix}/${k}`)),
    ]),
  );
}

/** Step `k`'s gradients keyed by variable name; the caller disposes them. */
function gradsAt(c: OptimCase, vars: Record<string, tf.Variable>, k: number) {
  return Object.fromEntries(
    Object.keys(c.shapes).map((n) => [vars[n].name, tf.tensor(c.grads[k][n], c.shapes[n])]),
  );
}

async function runSteps(
  c: OptimCase,
  opt: Optimizer,
  vars: Record<string, tf.Variable>,
  from: number,
  to: number,
) {
  for (let k = from; k < to; k++) {
    const grads = gradsAt(c, vars, k);
    opt.apply(grads, c.lrs[k]);
    tf.dispose(Object.values(grads));
  }
  const out: Record<string, Float32Array> = {};
  for (const [n, v] of Object.entries(vars)) out[n] = await v.data() as Float32Array;
  return out;
}

async function readState(opt: Optimizer) {
  const state = opt.state();
  const out: Record<string, { values: Float32Array; shape: number[] }> = {};
  for (const [k, t] of Object.entries(state)) {
    out[k] = { values: await t.data() as Float32Array, shape: t.shape };
  }
  tf.dispose(Object.values(state));
  return out;
}

async function stepOf(opt: Optimizer): Promise<number> {
  const state = opt.state();
  const [step] = await state.step.data();
  tf.dispose(Object.values(state));
  return step;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

Deno.test("optim fixtures cover SGD (momentum, Nesterov, decay), AdamW and clipping", () => {
  const configs = fixture.optim.map((c) => c.config);
  assert.ok(configs.some((c) => c.name === "sgd" && c.nesterov && c.weightDecay > 0));
  assert.ok(configs.some((c) => c.name === "sgd" && !c.nesterov && c.momentum > 0));
  assert.ok(configs.some((c) => c.name === "adamw" && c.weightDecay > 0));
  assert.ok(configs.filter((c) => c.clipNorm !== null).length >= 2);
  for (const c of configs) validateOptimizerConfig(c);
});

for (const c of fixture.optim) {
  backendTest(`optim matches PyTorch: ${c.name}`, async () => {
    const vars = makeVars(c);
    const opt = createOptimizer(c.config, Object.values(vars));
    try {
      for (let k = 0; k < c.grads.length; k++) {
        let lr = c.lrs[k];
        if (c.schedule) {
          lr = learningRate(c.schedule, c.config.lr, k, c.total_steps!);
          assertClose(lr, c.lrs[k], { rtol: 1e-9, label: `${c.name} lr ${k}` });
        }
        const grads = gradsAt(c, vars, k);
        if (c.norms) {
          const clipped = clipByGlobalNorm(grads, c.config.clipNorm!);
          tf.dispose(Object.values(clipped.grads));
          const norm = await readAndDispose(clipped.norm);
          assertClose(norm, c.norms[k], { rtol: 1e-6, label: `${c.name} norm ${k}` });
        }
        opt.apply(grads, lr);
        tf.dispose(Object.values(grads));
        for (const [n, v] of Object.entries(vars)) {
          assertClose(await v.data(), c.params[k][n], {
            rtol: PARAM_RTOL,
            label: `${c.name} step ${k + 1} ${n}`,
          });
        }
      }
    } finally {
      opt.dispose();
      tf.dispose(Object.values(vars));
    }
  });
}

for (const name of ["sgd_nesterov_clip", "adamw_clip", "sgd_plain"]) {
  backendTest(`killed and resumed run ends where an uninterrupted one does: ${name}`, async (
    backend,
  ) => {
    const c = byName(name);
    const steps = c.grads.length;
    const prefix = `resume${unique++}`;
    let vars = makeVars(c, prefix);
    let opt = createOptimizer(c.config, Object.values(vars));
    const straight = await runSteps(c, opt, vars, 0, steps);
    const straightState = await readState(opt);
    opt.dispose();
    tf.dispose(Object.values(vars));

    // Run 2 steps, "checkpoint" to plain arrays, drop everything, rebuild
    // under the same names (as a fresh process would), restore, finish.
    vars = makeVars(c, prefix);
    opt = createOptimizer(c.config, Object.values(vars));
    const params = await runSteps(c, opt, vars, 0, 2);
    const saved = await readState(opt);
    opt.dispose();
    tf.dispose(Object.values(vars));
    vars = Object.fromEntries(
      Object.entries(params).map(([n, a]) => [
        n,
        tf.tidy(() => tf.variable(tf.tensor(a, c.shapes[n]), true, `${prefix}/${n}`)),
      ]),
    );
    opt = createOptimizer(c.config, Object.values(vars));
    const loaded = Object.fromEntries(
      Object.entries(saved).map(([k, s]) => [k, tf.tensor(s.values, s.shape)]),
    );
    opt.setState(loaded);
    tf.dispose(Object.values(loaded)); // the optimizer keeps its own reference
    const resumed = await runSteps(c, opt, vars, 2, steps);
    const resumedState = await readState(opt);
    opt.dispose();
    tf.dispose(Object.values(vars));

    assert.deepEqual(Object.keys(resumedState), Object.keys(straightState));
    assert.deepEqual(Array.from(straightState.step.values), [steps]);
    const exact = backend !== "webgpu";
    for (
      const [label, a, b] of [
        ...Object.keys(straight).map((n) => [`param ${n}`, resumed[n], straight[n]] as const),
        ...Object.keys(straightState).map((k) =>
          [`slot ${k}`, resumedState[k].values, straightState[k].values] as const
        ),
      ]
    ) {
      if (exact) assert.deepEqual(bits(a), bits(b), `${name} ${label} differs after resume`);
      else assertClose(a, b, { rtol: 1e-6, label: `${name} ${label}` });
    }
  });
}

backendTest("AdamW bias corrections are float64-accurate at any step", async () => {
  // With m and v restored to the values a constant gradient g gives after
  // t−1 steps, step t moves p by exactly lr · sign(g) (eps 0): m̂ = g, v̂ = g².
  const [b1, b2] = [0.9, 0.999];
  const w = tf.tidy(() => tf.variable(tf.zeros([2]), true, `bias${unique++}/w`));
  const config: OptimizerConfig = { ...SGD, name: "adamw", betas: [b1, b2], eps: 0 };
  const opt = createOptimizer(config, [w]);
  const g = [0.3, -2];
  try {
    for (const t of [1, 2, 10, 500, 501, 700, 5000, 1_000_000]) {
      const state = {
        step: tf.scalar(t - 1),
        [`adam_m/${w.name}`]: tf.tensor1d(g.map((x) => (1 - b1 ** (t - 1)) * x)),
        [`adam_v/${w.name}`]: tf.tensor1d(g.map((x) => (1 - b2 ** (t - 1)) * x * x)),
      };
      opt.setState(state);
      tf.dispose(Object.values(state));
      tf.tidy(() => w.assign(tf.zeros([2])));
      const grads = { [w.name]: tf.tensor1d(g) };
      opt.apply(grads, 1);
      tf.dispose(grads[w.name]);
      // 1 − β₂ᵗ in float32 would be off by 1.3e-5 relative at small t.
      assertClose(await w.data(), [-1, 1], { rtol: 1e-6, label: `step ${t}` });
    }
  } finally {
    opt.dispose();
    w.dispose();
  }
});

backendTest("slots: created up front, snapshots, freed by dispose", async () => {
  const c = byName("adamw_default");
  const before = tf.memory().numTensors;
  const vars = makeVars(c);
  const n = Object.keys(vars).length;
  const list = Object.values(vars);
  const counts: [OptimizerConfig, string[]][] = [
    [{ ...SGD, momentum: 0 }, ["step"]],
    [SGD, ["step", ...list.map((v) => `momentum/${v.name}`)]],
    [c.config, [
      "step",
      ...list.map((v) => `adam_m/${v.name}`),
      ...list.map((v) => `adam_v/${v.name}`),
    ]],
  ];
  for (const [config, keys] of counts) {
    const opt = createOptimizer(config, list);
    assert.equal(tf.memory().numTensors, before + n + keys.length);
    const s0 = opt.state();
    assert.deepEqual(Object.keys(s0), keys);
    for (const t of Object.values(s0)) assert.ok((await t.data()).every((x) => x === 0));
    const grads = gradsAt(c, vars, 0);
    opt.apply(grads, 0.01);
    tf.dispose(Object.values(grads));
    assert.equal(tf.memory().numTensors, before + n + 2 * keys.length, "apply leaked");
    const s1 = opt.state();
    assert.deepEqual(await s0.step.data(), new Float32Array([0]), "snapshot changed");
    assert.deepEqual(await s1.step.data(), new Float32Array([1]));
    tf.dispose([...Object.values(s0), ...Object.values(s1)]);
    opt.dispose();
    opt.dispose();
    assert.equal(tf.memory().numTensors, before + n, "dispose left slots");
    assert.throws(() => opt.apply({}, 0.1), /disposed/);
    assert.throws(() => opt.state(), /disposed/);
    assert.throws(() => opt.setState({}), /disposed/);
  }
  tf.dispose(list);
});

backendTest("setState names every missing, unexpected, mis-shaped or mistyped slot", async () => {
  const c = byName("sgd_momentum");
  const vars = makeVars(c);
  const opt = createOptimizer(c.config, Object.values(vars));
  const [w, b] = [vars.w.name, vars.b.name];
  const good = opt.state();
  const bad = {
    ...good,
    [`momentum/${b}`]: tf.zeros([5]),
    [`adam_m/${w}`]: tf.zeros([3, 4]),
    step: tf.scalar(1, "bool"),
  };
  delete bad[`momentum/${vars.s.name}`];
  assert.throws(() => opt.setState(bad), (e: Error) => {
    assert.match(e.message, new RegExp(`missing "momentum/${vars.s.name}"`));
    assert.match(e.message, new RegExp(`unexpected "adam_m/${w}"`));
    assert.match(e.message, new RegExp(`"momentum/${b}" has shape \\[5\\], expected \\[4\\]`));
    assert.match(e.message, /"step" is bool, expected float32 or int32/);
    return true;
  });
  // Nothing was assigned: the step is still 0. An int32 step is accepted.
  assert.equal(await stepOf(opt), 0);
  tf.dispose([bad[`momentum/${b}`], bad[`adam_m/${w}`], bad.step]);
  const step = good.step;
  good.step = tf.scalar(7, "int32");
  opt.setState(good);
  assert.equal(await stepOf(opt), 7);
  tf.dispose([...Object.values(good), step]);
  opt.dispose();
  tf.dispose(Object.values(vars));
});

backendTest("apply checks the gradients and the rate before changing anything", async () => {
  const c = byName("sgd_momentum");
  const vars = makeVars(c);
  const opt = createOptimizer(c.config, Object.values(vars));
  const grads = gradsAt(c, vars, 0);
  const { [vars.s.name]: gs, ...noS } = grads;
  const extra = { ...grads, other: gs };
  const misShaped = { ...grads, [vars.b.name]: tf.zeros([2, 2]) };
  assert.throws(() => opt.apply(noS, 0.1), new RegExp(`no gradient for "${vars.s.name}"`));
  assert.throws(() => opt.apply(extra, 0.1), /does not optimize: "other"/);
  assert.throws(() => opt.apply(misShaped, 0.1), {
    name: "RangeError",
    message: new RegExp(`"${vars.b.name}" has shape \\[2,2\\], the variable \\[4\\]`),
  });
  for (const lr of [-1, NaN, Infinity]) {
    assert.throws(() => opt.apply(grads, lr), { name: "RangeError", message: /^lr: / });
  }
  assert.equal(await stepOf(opt), 0);
  assert.deepEqual(await vars.w.data(), Float32Array.from(c.init.w));
  tf.dispose([...Object.values(grads), misShaped[vars.b.name]]);
  opt.dispose();
  tf.dispose(Object.values(vars));
});

backendTest("clipByGlobalNorm: new tensors, scaled only above the limit", async () => {
  const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) };
  const over = clipByGlobalNorm(grads, 1);
  const under = clipByGlobalNorm(grads, 10);
  assertClose(await readAndDispose(over.norm), 5, { rtol: 1e-7 });
  assertClose(await readAndDispose(over.grads.a), [3 / (5 + 1e-6), 0], { rtol: 1e-7 });
  assertClose(await readAndDispose(over.grads.b), [0, 4 / (5 + 1e-6)], { rtol: 1e-7 });
  assert.deepEqual(over.grads.b.shape, [1, 2]);
  assert.notEqual(under.grads.a, grads.a);
  assert.deepEqual(await readAndDispose(under.grads.a), new Float32Array([3, 0]));
  assert.deepEqual(await readAndDispose(under.grads.b), new Float32Array([0, 4]));
  under.norm.dispose();
  assert.ok(!grads.a.isDisposed && !grads.b.isDisposed);
  tf.dispose(Object.values(grads));
  const empty = clipByGlobalNorm({}, 1);
  assert.deepEqual(empty.grads, {});
  assert.deepEqual(await readAndDispose(empty.norm), new Float32Array([0]));
  for (const maxNorm of [0, -1, NaN]) {
    assert.throws(() => clipByGlobalNorm({}, maxNorm), { name: "RangeError", message: /^maxNorm/ });
  }
});

backendTest("createOptimizer checks its variables", () => {
  const v = tf.tidy(() => tf.variable(tf.zeros([2]), true, `vars${unique++}`));
  const i = tf.tidy(() => tf.variable(tf.zeros([2], "int32"), true, `vars${unique++}`));
  assert.throws(() => createOptimizer(SGD, []), { name: "RangeError", message: /no variables/ });
  assert.throws(() => createOptimizer(SGD, [v, v]), {
    name: "RangeError",
    message: new RegExp(`"${v.name}" given twice`),
  });
  assert.throws(() => createOptimizer(SGD, [i]), { name: "TypeError", message: /int32/ });
  const plain = tf.zeros([1]);
  assert.throws(() => createOptimizer(SGD, [plain as tf.Variable]), TypeError);
  tf.dispose([v, i, plain]);
}, { backends: ["cpu"] });

Deno.test("optimizer config errors name the key and quote the value", () => {
  const cases: [Partial<OptimizerConfig>, ErrorConstructor, RegExp][] = [
    [{ name: "adam" as "sgd" }, RangeError, /^optim\.name: .*"adam"/],
    [{ lr: -0.1 }, RangeError, /^optim\.lr: .*-0\.1/],
    [{ lr: NaN }, RangeError, /^optim\.lr: /],
    [{ lr: "fast" as unknown as number }, TypeError, /^optim\.lr: .*"fast"/],
    [{ momentum: -0.5 }, RangeError, /^optim\.momentum: .*-0\.5/],
    [{ nesterov: "yes" as unknown as boolean }, TypeError, /^optim\.nesterov: .*"yes"/],
    [{ nesterov: true, momentum: 0 }, RangeError, /^optim\.nesterov: .*optim\.momentum > 0/],
    [{ weightDecay: -1e-4 }, RangeError, /^optim\.weightDecay: /],
    [{ betas: [0.9, 1] }, RangeError, /^optim\.betas\[1\]: .*got 1/],
    [{ betas: [-0.1, 0.999] }, RangeError, /^optim\.betas\[0\]: /],
    [{ betas: [0.9] as unknown as [number, number] }, TypeError, /^optim\.betas: /],
    [{ eps: -1 }, RangeError, /^optim\.eps: /],
    [{ clipNorm: 0 }, RangeError, /^optim\.clipNorm: .*got 0/],
    [{ clipNorm: Infinity }, RangeError, /^optim\.clipNorm: /],
  ];
  for (const [over, type, message] of cases) {
    assert.throws(() => validateOptimizerConfig({ ...SGD, ...over }), { name: type.name, message });
    assert.throws(() => createOptimizer({ ...SGD, ...over }, []), type);
  }
  assert.throws(() => validateOptimizerConfig(null as unknown as OptimizerConfig), TypeError);
});
