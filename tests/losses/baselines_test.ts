/**
 * Baseline losses against PyTorch golden values (tests/fixtures/losses,
 * made by make_loss_fixtures.py) on cpu, wasm and webgpu, plus the
 * properties every loss must have: a frozen teacher (and frozen queues and
 * banks), finite values and gradients on degenerate batches, the registry
 * agreeing with the pure functions, and clear errors for bad inputs.
 *
 * Tolerances: values and terms to 1e-5, gradients to 1e-4, both relative to
 * the largest reference magnitude (assertClose). Set LOSS_ERRORS=1 to print
 * the observed relative errors of every case.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import { getLoss, LOSSES, REGISTERED_LOSS_NAMES } from "../../lib/losses/mod.ts";
import { type LossCase, readFixture, relativeError, runLoss, toTensor } from "./_fixture.ts";

const VALUE_RTOL = 1e-5;
const GRAD_RTOL = 1e-4;
// Absolute floors for losses that are ~0 (RKD on two samples is 0 by
// construction; PKT on two samples is ~1e-5), where float32 rounding of
// O(1) intermediates dominates any relative measure.
const VALUE_ATOL = 1e-7;
const GRAD_ATOL = 1e-6;
const REPORT = Deno.env.get("LOSS_ERRORS") === "1";

const { cases } = await readFixture<LossCase>("loss_cases.json");
const STATEFUL = ["seed", "bingo", "compress"];

Deno.test("loss fixtures cover every baseline with at least 5 cases", () => {
  const names = [...REGISTERED_LOSS_NAMES.filter((n) => n !== "coss"), ...STATEFUL];
  for (const name of names) {
    const n = cases.filter((c) => c.loss === name).length;
    assert.ok(n >= 5, `${name}: only ${n} fixture cases`);
  }
});

function tensorsOf(c: LossCase): Record<string, tf.Tensor2D> {
  return Object.fromEntries(
    Object.entries(c.inputs).map(([k, v]) => [k, toTensor(v) as tf.Tensor2D]),
  );
}

for (const c of cases) {
  backendTest(`${c.loss} matches PyTorch: ${c.name}`, async (backend) => {
    const x = tensorsOf(c);
    const gradNames = Object.keys(c.grads);
    const f = tf.valueAndGrads((...args: tf.Tensor[]) => {
      const inputs = { ...x };
      gradNames.forEach((n, i) => inputs[n] = args[i] as tf.Tensor2D);
      const { value, terms } = runLoss(c.loss, c.options, inputs);
      tf.dispose(Object.values(terms));
      return value;
    });
    const { value, grads } = f(gradNames.map((n) => x[n]));
    const { value: again, terms } = runLoss(c.loss, c.options, x);
    tf.dispose(Object.values(x));

    const vtol = { rtol: VALUE_RTOL, atol: VALUE_ATOL };
    const gtol = { rtol: GRAD_RTOL, atol: GRAD_ATOL };
    const v = await readAndDispose(value);
    assertClose(v, c.value, { ...vtol, label: `${c.loss}/${c.name} value` });
    assertClose(await readAndDispose(again), c.value, { ...vtol, label: "value again" });
    const errors = [`value ${relativeError(v, [c.value]).toExponential(1)}`];
    assert.deepEqual(Object.keys(terms).sort(), Object.keys(c.terms).sort(), "term names");
    for (const [k, t] of Object.entries(terms)) {
      const tv = await readAndDispose(t);
      assertClose(tv, c.terms[k], { ...vtol, label: `${c.loss}/${c.name} term ${k}` });
      errors.push(`${k} ${relativeError(tv, [c.terms[k]]).toExponential(1)}`);
    }
    for (const [i, n] of gradNames.entries()) {
      const g = await readAndDispose(grads[i]);
      assert.ok(g.every(Number.isFinite), `${c.name}: gradient of ${n} has non-finite entries`);
      assertClose(g, c.grads[n], { ...gtol, label: `${c.loss}/${c.name} grad ${n}` });
      errors.push(`grad ${n} ${relativeError(g, c.grads[n]).toExponential(1)}`);
      if (c.row_check) {
        // A row with a ~1e12 gradient hides the others: judge each row on its own scale.
        const d = c.inputs[n].shape[1];
        for (let r = 0; r < c.inputs[n].shape[0]; r++) {
          const row = (a: ArrayLike<number>) => Array.from(a).slice(r * d, (r + 1) * d);
          assertClose(row(g), row(c.grads[n]), { rtol: GRAD_RTOL, label: `${c.name} row ${r}` });
        }
      }
    }
    if (REPORT) console.log(`ERRORS ${backend} ${c.loss} ${c.name}: ${errors.join(", ")}`);
  });
}

backendTest("registry losses agree with the fixtures", async () => {
  for (const c of cases.filter((c) => Object.hasOwn(LOSSES, c.loss) && !c.inputs.key)) {
    const x = tensorsOf(c);
    const { loss, terms } = getLoss(c.loss)(x.teacher, x.student, c.options);
    assertClose(await readAndDispose(loss), c.value, {
      rtol: VALUE_RTOL,
      atol: VALUE_ATOL,
      label: c.name,
    });
    tf.dispose([...Object.values(terms), ...Object.values(x)]);
  }
}, { backends: ["cpu"] });

backendTest("teacher, queues and banks get zero gradients", async () => {
  for (const loss of new Set(cases.map((c) => c.loss))) {
    const c = cases.find((k) => k.loss === loss && k.name === "gaussian")!;
    const x = tensorsOf(c);
    const names = Object.keys(x);
    const grads = tf.grads((...args: tf.Tensor[]) => {
      const inputs = Object.fromEntries(names.map((n, i) => [n, args[i] as tf.Tensor2D]));
      const { value, terms } = runLoss(loss, c.options, inputs);
      tf.dispose(Object.values(terms));
      return value;
    })(names.map((n) => x[n]));
    for (const [i, n] of names.entries()) {
      const g = await readAndDispose(grads[i]);
      if (n in c.grads) assert.ok(g.some((v) => v !== 0), `${loss}: ${n} gradient is all zero`);
      else assert.ok(g.every((v) => v === 0), `${loss}: ${n} gets a gradient`);
    }
    tf.dispose(Object.values(x));
  }
});

/** Degenerate batches: finite values and gradients (PyTorch's are finite for all of these). */
backendTest("degenerate batches give finite losses and gradients", async () => {
  const b = 6, d = 8;
  const make = (kind: string): { t: tf.Tensor2D; s: tf.Tensor2D } =>
    tf.tidy(() => {
      const t = tf.relu(tf.randomNormal([b, d], 0, 1, "float32", 11)) as tf.Tensor2D;
      const s = tf.randomNormal([b, d], 0, 1, "float32", 12) as tf.Tensor2D;
      const rowMask = tf.tensor2d([1, 1, 0, 1, 1, 1], [b, 1]);
      switch (kind) {
        case "zero student row":
          return { t, s: tf.mul(s, rowMask) as tf.Tensor2D };
        case "zero teacher row":
          return { t: tf.mul(t, rowMask) as tf.Tensor2D, s };
        case "all-zero teacher":
          return { t: tf.zerosLike(t), s };
        case "all-zero student":
          return { t, s: tf.zerosLike(s) };
        default: // duplicate student rows
          return { t, s: tf.tile(tf.slice(s, [0, 0], [1, d]), [b, 1]) as tf.Tensor2D };
      }
    });
  const kinds = [
    "zero student row",
    "zero teacher row",
    "all-zero teacher",
    "all-zero student",
    "duplicate student rows",
  ];
  const extra = tf.tidy(() => ({
    queue: tf.randomNormal([5, d], 0, 1, "float32", 13) as tf.Tensor2D,
    bank: tf.randomNormal([5, d], 0, 1, "float32", 14) as tf.Tensor2D,
  }));
  for (const kind of kinds) {
    const { t, s } = make(kind);
    for (const loss of new Set(cases.map((c) => c.loss))) {
      const inputs = {
        teacher: t,
        student: s,
        queue: extra.queue,
        teacherPositive: t,
        studentPositive: s,
        teacherBank: extra.bank,
        studentBank: extra.bank,
      };
      const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => {
        const r = runLoss(loss, {}, { ...inputs, student: v as tf.Tensor2D });
        tf.dispose(Object.values(r.terms));
        return r.value;
      })(s);
      const [lv] = await readAndDispose(value);
      assert.ok(Number.isFinite(lv), `${loss}, ${kind}: loss ${lv}`);
      const g = await readAndDispose(grad);
      assert.ok(g.every(Number.isFinite), `${loss}, ${kind}: non-finite gradient`);
    }
    tf.dispose([t, s]);
  }
  tf.dispose(Object.values(extra));
});

backendTest("bad inputs and options throw clear errors", () => {
  const t = tf.zeros([4, 6]) as tf.Tensor2D;
  const narrow = tf.zeros([4, 5]) as tf.Tensor2D;
  const short = tf.zeros([3, 6]) as tf.Tensor2D;
  const ints = tf.zeros([4, 6], "int32") as tf.Tensor2D;
  const q = tf.zeros([5, 6]) as tf.Tensor2D;
  const throwsLike = (f: () => unknown, name: string, message: RegExp) =>
    assert.throws(f, (e: unknown) => {
      assert.equal((e as Error).name, name, `${e}`);
      assert.match((e as Error).message, message);
      return true;
    });
  throwsLike(
    () => getLoss("smd")(t, narrow, {}),
    "RangeError",
    /^smdLoss: .*\[4,6\].*\[4,5\] differ/,
  );
  throwsLike(() => getLoss("rkd")(t, short, {}), "RangeError", /^rkdLoss: .*different batch sizes/);
  throwsLike(() => getLoss("sp")(t, ints, {}), "TypeError", /^spLoss: student dtype "int32"/);
  throwsLike(
    () => getLoss("sld")(t, t, { tauTeacher: 0 }),
    "RangeError",
    /tauTeacher is 0, must be > 0/,
  );
  throwsLike(() => getLoss("dist")(t, t, { interWeight: -1 }), "RangeError", /interWeight is -1/);
  throwsLike(() => getLoss("pkt")(t, t, { eps: "x" }), "TypeError", /eps must be a number/);
  throwsLike(() => getLoss("seed"), "RangeError", /use createMethod/);
  const one = tf.zeros([1, 6]) as tf.Tensor2D;
  throwsLike(() => getLoss("rkd")(one, one, {}), "RangeError", /batch size 1 is below 2/);
  throwsLike(
    () => runLoss("seed", {}, { teacher: t, student: t }),
    "TypeError",
    /queue is missing/,
  );
  throwsLike(
    () => runLoss("seed", {}, { teacher: t, student: t, queue: narrow }),
    "RangeError",
    /^seedLoss: queue shape \[4,5\] and teacher shape \[4,6\] differ in width/,
  );
  throwsLike(
    () =>
      runLoss("bingo", {}, {
        teacher: t,
        student: t,
        teacherPositive: short,
        studentPositive: t,
        queue: q,
      }),
    "RangeError",
    /teacherPositive shape \[3,6\] and teacher shape \[4,6\] differ in batch size/,
  );
  throwsLike(
    () => runLoss("compress", {}, { teacher: t, student: t, teacherBank: q, studentBank: t }),
    "RangeError",
    /teacherBank shape \[5,6\] and studentBank shape \[4,6\] differ in rows/,
  );
  tf.dispose([t, narrow, short, ints, q, one]);
}, { backends: ["cpu"] });
