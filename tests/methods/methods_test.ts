/**
 * The stateful methods (lib/methods) against PyTorch reference runs
 * (tests/fixtures/losses/method_steps.json): a few steps of SEED, BINGO and
 * CompRess with FIFO wrap-around, EMA bank values and repeated indices, on
 * every backend. Also: exact resume from state(), BINGO's bag draws, the
 * stateless wrapper, and the errors.
 *
 * Tolerances as in baselines_test.ts: losses 1e-5, gradients 1e-4, state
 * tensors 1e-5, relative to the largest reference magnitude.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import {
  createMethod,
  type DistillMethod,
  METHOD_NAMES,
  type MethodSetup,
  type MethodState,
} from "../../lib/methods/mod.ts";
import { getLoss } from "../../lib/losses/mod.ts";
import { type FixtureTensor, readFixture, relativeError, toTensor } from "../losses/_fixture.ts";

interface Step {
  indices: number[];
  inputs: Record<string, FixtureTensor>;
  value: number;
  terms: Record<string, number>;
  grads: Record<string, number[]>;
  after: { tensors: Record<string, number[]>; meta: Record<string, number> };
}

interface MethodCase {
  name: string;
  method: string;
  options: Record<string, unknown>;
  setup: { teacherDim: number; datasetSize: number };
  initial: { tensors: Record<string, FixtureTensor>; meta: Record<string, number> };
  steps: Step[];
}

const { cases } = await readFixture<MethodCase>("method_steps.json");
const REPORT = Deno.env.get("LOSS_ERRORS") === "1";

/** Neighbour lists for `n` images: image i's neighbours are i+1, i+2, … (mod n). */
function ringNeighbours(n: number, k: number) {
  const indices = new Int32Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) indices[i * k + j] = (i + j + 1) % n;
  return { indices, k, n };
}

function setupOf(c: MethodCase): MethodSetup {
  return { ...c.setup, seed: 0, neighbours: ringNeighbours(c.setup.datasetSize, 6) };
}

/** Run one step through `method` with gradients; returns everything read back. */
async function runStep(method: DistillMethod, step: Step, stepIndex: number) {
  const x = Object.fromEntries(
    Object.entries(step.inputs).map(([k, v]) => [k, toTensor(v) as tf.Tensor2D]),
  );
  const names = Object.keys(step.grads);
  let terms: Record<string, tf.Scalar> = {};
  const f = tf.valueAndGrads((...args: tf.Tensor[]) => {
    const v = { ...x };
    names.forEach((n, i) => v[n] = args[i] as tf.Tensor2D);
    const positive = v.teacherPositive
      ? { teacher: v.teacherPositive, student: v.studentPositive }
      : undefined;
    const r = method.loss(v.teacher, v.student, {
      indices: step.indices,
      step: stepIndex,
      positive,
    });
    terms = Object.fromEntries(Object.entries(r.terms).map(([k, t]) => [k, tf.keep(t)]));
    return r.loss;
  });
  const { value, grads } = f(names.map((n) => x[n]));
  tf.dispose(Object.values(x));
  const termValues: Record<string, number> = {};
  for (const [k, t] of Object.entries(terms)) termValues[k] = (await readAndDispose(t))[0];
  const gradValues: Record<string, Float32Array> = {};
  for (const [i, n] of names.entries()) gradValues[n] = await readAndDispose(grads[i]);
  return { value: (await readAndDispose(value))[0], terms: termValues, grads: gradValues };
}

/** Read a state back (disposing its tensors). */
async function readState(state: MethodState) {
  const tensors: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(state.tensors)) tensors[k] = await readAndDispose(t);
  return { tensors, meta: state.meta };
}

function initialState(c: MethodCase): MethodState {
  const tensors = Object.fromEntries(
    Object.entries(c.initial.tensors).map(([k, v]) => [k, toTensor(v)]),
  );
  return { tensors, meta: c.initial.meta };
}

for (const c of cases) {
  backendTest(`${c.method} steps match PyTorch: ${c.name}`, async (backend) => {
    let worst = { value: 0, grad: 0, state: 0 };
    const method = createMethod(c.method, c.options, setupOf(c));
    const init = initialState(c);
    method.setState(init);
    tf.dispose(Object.values(init.tensors));
    for (const [i, step] of c.steps.entries()) {
      const label = `${c.name} step ${i + 1}`;
      const r = await runStep(method, step, i);
      assertClose(r.value, step.value, { rtol: 1e-5, label: `${label} loss` });
      for (const [k, v] of Object.entries(step.terms)) {
        assertClose(r.terms[k], v, { rtol: 1e-5, label: `${label} ${k}` });
      }
      for (const [k, g] of Object.entries(step.grads)) {
        assertClose(r.grads[k], g, { rtol: 1e-4, label: `${label} grad ${k}` });
        worst.grad = Math.max(worst.grad, relativeError(r.grads[k], g));
      }
      worst.value = Math.max(worst.value, relativeError([r.value], [step.value]));
      method.update();
      const s = await readState(method.state());
      assert.deepEqual(s.meta, step.after.meta, `${label} pointers`);
      assert.deepEqual(Object.keys(s.tensors).sort(), Object.keys(step.after.tensors).sort());
      for (const [k, v] of Object.entries(step.after.tensors)) {
        assertClose(s.tensors[k], v, { rtol: 1e-5, label: `${label} state ${k}` });
        worst.state = Math.max(worst.state, relativeError(s.tensors[k], v));
      }
    }
    method.dispose();
    worst = Object.fromEntries(
      Object.entries(worst).map(([k, v]) => [k, +v.toExponential(1)]),
    ) as typeof worst;
    if (REPORT) console.log(`ERRORS ${backend} ${c.name}: ${JSON.stringify(worst)}`);
  });
}

backendTest("a method restored from state() resumes exactly", async () => {
  for (const c of cases) {
    const a = createMethod(c.method, c.options, setupOf(c));
    const init = initialState(c);
    a.setState(init);
    tf.dispose(Object.values(init.tensors));
    await runStep(a, c.steps[0], 0);
    a.update();
    const saved = a.state();
    const b = createMethod(c.method, c.options, { ...setupOf(c), seed: 99 });
    b.setState(saved);
    tf.dispose(Object.values(saved.tensors));
    for (const m of [a, b]) {
      await runStep(m, c.steps[1], 1);
      m.update();
    }
    const [sa, sb] = [await readState(a.state()), await readState(b.state())];
    assert.deepEqual(sb.meta, sa.meta, c.name);
    for (const k of Object.keys(sa.tensors)) {
      assert.deepEqual(Array.from(sb.tensors[k]), Array.from(sa.tensors[k]), `${c.name} ${k}`);
    }
    a.dispose();
    b.dispose();
  }
}, { backends: ["cpu"] });

backendTest("loss() stages, update() commits, and only the last loss counts", async () => {
  const c = cases.find((k) => k.method === "seed")!;
  const method = createMethod("seed", c.options, setupOf(c));
  const before = await readState(method.state());
  const step = c.steps[0];
  await runStep(method, step, 0);
  await runStep(method, step, 0); // a retried step stages again, it does not push twice
  const staged = await readState(method.state());
  assert.deepEqual(Array.from(staged.tensors.queue), Array.from(before.tensors.queue));
  method.update();
  method.update(); // nothing left to commit
  const after = await readState(method.state());
  assert.equal(after.meta.queuePtr, step.indices.length);
  method.dispose();
}, { backends: ["cpu"] });

backendTest("BINGO draws bag members from the top bagSize neighbours, per (seed, step)", () => {
  const n = 50;
  const neighbours = ringNeighbours(n, 8);
  const setup = { teacherDim: 4, datasetSize: n, seed: 7, neighbours };
  const a = createMethod("bingo", { queueSize: 64, bagSize: 3 }, setup);
  const b = createMethod("bingo", { queueSize: 64, bagSize: 3 }, setup);
  const c = createMethod("bingo", { queueSize: 64, bagSize: 3 }, { ...setup, seed: 8 });
  const rows = Array.from({ length: n }, (_, i) => i);
  const seen = new Set<number>();
  for (let step = 0; step < 20; step++) {
    const p = a.positives!(rows, step);
    assert.deepEqual(Array.from(b.positives!(rows, step)), Array.from(p), "same seed, same draw");
    p.forEach((v, i) => {
      const offset = (v - i + n) % n;
      assert.ok(offset >= 1 && offset <= 3, `row ${i} drew ${v}, outside its top-3 bag`);
      seen.add(offset);
    });
    if (step > 0) {
      assert.notDeepEqual(Array.from(a.positives!(rows, step - 1)), Array.from(p), "steps differ");
    }
  }
  assert.deepEqual([...seen].sort(), [1, 2, 3], "every bag position gets drawn");
  assert.notDeepEqual(Array.from(c.positives!(rows, 0)), Array.from(a.positives!(rows, 0)));
  for (const m of [a, b, c]) m.dispose();
}, { backends: ["cpu"] });

backendTest("createMethod builds every method, and stateless ones match getLoss", async () => {
  const setup = { teacherDim: 6, datasetSize: 20, seed: 3, neighbours: ringNeighbours(20, 6) };
  const t = tf.randomNormal([4, 6], 0, 1, "float32", 1) as tf.Tensor2D;
  const s = tf.randomNormal([4, 6], 0, 1, "float32", 2) as tf.Tensor2D;
  for (const name of METHOD_NAMES) {
    const m = createMethod(name, {}, setup);
    assert.equal(m.name, name);
    assert.equal(typeof m.positives === "function", name === "bingo", `${name} positives`);
    if (!["seed", "bingo", "compress"].includes(name)) {
      const r = m.loss(t, s, { indices: [0, 1, 2, 3], step: 0 });
      const ref = getLoss(name)(t, s, {});
      assertClose(await readAndDispose(r.loss), await readAndDispose(ref.loss), { rtol: 1e-6 });
      tf.dispose([...Object.values(r.terms), ...Object.values(ref.terms)]);
    }
    m.dispose();
  }
  tf.dispose([t, s]);
}, { backends: ["cpu"] });

backendTest("methods reject bad setups, options, batches and states", () => {
  const setup = { teacherDim: 4, datasetSize: 10, seed: 0 };
  const throwsLike = (f: () => unknown, name: string, message: RegExp) =>
    assert.throws(f, (e: unknown) => {
      assert.equal((e as Error).name, name, `${e}`);
      assert.match((e as Error).message, message);
      return true;
    });
  throwsLike(() => createMethod("nope", {}, setup), "RangeError", /Unknown method "nope"/);
  throwsLike(
    () => createMethod("seed", { queSize: 4 }, setup),
    "RangeError",
    /unknown option queSize/,
  );
  throwsLike(() => createMethod("bingo", {}, setup), "TypeError", /setup.neighbours/);
  throwsLike(
    () => createMethod("bingo", { bagSize: 9 }, { ...setup, neighbours: ringNeighbours(10, 4) }),
    "RangeError",
    /bagSize 9 exceeds the 4 neighbours/,
  );
  throwsLike(
    () => createMethod("compress", { studentKeys: "x" }, setup),
    "RangeError",
    /studentKeys/,
  );
  throwsLike(
    () => createMethod("sp", {}, { ...setup, datasetSize: 0 }),
    "RangeError",
    /datasetSize/,
  );
  const seed = createMethod("seed", { queueSize: 2 }, setup);
  const compress = createMethod("compress", { queueSize: 8 }, setup);
  const t = tf.zeros([3, 4]) as tf.Tensor2D;
  throwsLike(
    () => seed.loss(t, t, { indices: [0, 1, 2], step: 0 }),
    "RangeError",
    /batch of 3 rows exceeds queue size 2/,
  );
  throwsLike(
    () => compress.loss(t, t, { indices: [0, 1], step: 0 }),
    "RangeError",
    /2 entries for 3 batch rows/,
  );
  throwsLike(
    () => compress.loss(t, t, { indices: [0, 1, 10], step: 0 }),
    "RangeError",
    /indices\[2\] is 10/,
  );
  const wrong = { tensors: { queue: tf.zeros([3, 4]) }, meta: { queuePtr: 0 } };
  throwsLike(
    () => seed.setState(wrong),
    "RangeError",
    /"queue" has shape \[3,4\], expected \[2,4\]/,
  );
  const bingo = createMethod("bingo", {}, { ...setup, neighbours: ringNeighbours(10, 5) });
  throwsLike(() => bingo.loss(t, t, { indices: [0, 1, 2], step: 0 }), "TypeError", /ctx.positive/);
  tf.dispose([t, ...Object.values(wrong.tensors)]);
  for (const m of [seed, compress, bingo]) m.dispose();
}, { backends: ["cpu"] });
