/**
 * Checkpoints: exact round trip of variables, optimizer slots and training
 * state on every backend, resuming a tfjs Adam optimizer, restoreVariables'
 * all-at-once report, one-line errors for truncated and foreign files,
 * TypeErrors before anything is written, and atomicity: a failing save and a
 * writer process SIGKILLed mid-write both leave the previous checkpoint.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, scratch } from "../_helpers.ts";
import { initBackend } from "../../lib/backend.ts";
import { readSafetensors, serializeSafetensors, writeSafetensors } from "../../lib/io/mod.ts";
import {
  CHECKPOINT_FORMAT,
  loadCheckpoint,
  restoreVariables,
  saveCheckpoint,
} from "../../lib/io/checkpoint.ts";
import { GOOD, LARGE } from "../train/_checkpoint_writer.ts";

const ROOT = new URL("../../", import.meta.url);
const quiet = { sanitizeOps: false, sanitizeResources: false };

async function listDir(dir: string): Promise<string[]> {
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));
const disposeAll = (c: { variables: object; optimizer: object }) =>
  tf.dispose([
    ...Object.values(c.variables as Record<string, tf.Tensor>),
    ...Object.values(c.optimizer as Record<string, tf.Tensor>),
  ]);

backendTest(
  "checkpoint round trip: variables, BN stats, optimizer slots, state",
  async (backend) => {
    const { dir, cleanup } = await scratch(`ckpt-rt-${backend}`);
    try {
      const kernel = [0.1, -0.2, 3e-39, -0, 1e30, Infinity, NaN, 1 / 3];
      const variables = {
        "conv1/kernel": tf.tensor4d(kernel, [1, 2, 2, 2]),
        "bn1/moving_mean": tf.tensor1d([0.5, -0.25]),
        "bn1/moving_variance": tf.tensor1d([1, 2]),
        "head/counts": tf.tensor1d([-7, 2147483647], "int32"),
        "scale": tf.scalar(2.5),
      };
      const optimizer = {
        iter: tf.scalar(12, "int32"),
        "conv1/kernel/m": tf.fill([1, 2, 2, 2], 0.125),
        "bn1/gamma/v": tf.zeros([2]),
      };
      const state = {
        variables,
        optimizer,
        step: 1200,
        epoch: 3,
        rng: { seed: 42, state: [123456789, -1, 0] },
        config: {
          model: { name: "resnet18", width: 64 },
          lr: 0.05,
          aug: ["crop", "flip"],
          note: null,
        },
        extra: { bestKnn: 0.873, undefinedIsDropped: undefined },
      };
      const path = `${dir}/ckpt.safetensors`;
      await saveCheckpoint(path, state);
      assert.deepEqual(await listDir(dir), ["ckpt.safetensors"]);
      tf.dispose([...Object.values(variables), ...Object.values(optimizer)]);

      const c = await loadCheckpoint(path);
      assert.deepEqual(Object.keys(c.variables), Object.keys(variables));
      assert.deepEqual(Object.keys(c.optimizer), Object.keys(optimizer));
      assert.deepEqual(c.variables["conv1/kernel"].shape, [1, 2, 2, 2]);
      assert.deepEqual(c.variables.scale.shape, []);
      assert.equal(c.variables["head/counts"].dtype, "int32");
      assert.equal(c.optimizer.iter.dtype, "int32");
      assert.deepEqual(bits(await c.variables["conv1/kernel"].data()), bits(kernel));
      assert.deepEqual(Array.from(await c.variables["bn1/moving_mean"].data()), [0.5, -0.25]);
      assert.deepEqual(Array.from(await c.variables["bn1/moving_variance"].data()), [1, 2]);
      assert.deepEqual(Array.from(await c.variables["head/counts"].data()), [-7, 2147483647]);
      assert.deepEqual(Array.from(await c.variables.scale.data()), [2.5]);
      assert.deepEqual(Array.from(await c.optimizer.iter.data()), [12]);
      assert.deepEqual(
        Array.from(await c.optimizer["conv1/kernel/m"].data()),
        new Array(8).fill(0.125),
      );
      assert.equal(c.step, 1200);
      assert.equal(c.epoch, 3);
      assert.deepEqual(c.rng, state.rng);
      assert.deepEqual(c.config, state.config);
      assert.deepEqual(c.extra, { bestKnn: 0.873 });
      disposeAll(c);

      // The file is plain safetensors with the documented names and metadata.
      const st = await readSafetensors(path);
      assert.equal(st.metadata["coss.format"], CHECKPOINT_FORMAT);
      assert.equal(st.metadata["coss.version"], "1");
      assert.deepEqual(Object.keys(JSON.parse(st.metadata["coss.state"])).sort(), [
        "config",
        "epoch",
        "extra",
        "rng",
        "step",
      ]);
      assert.ok(st.tensors.has("variables/bn1/moving_mean"));
      assert.ok(st.tensors.has("optimizer/conv1/kernel/m"));
      assert.equal(st.tensors.get("variables/head/counts")!.dtype, "I32");

      // Without optimizer, rng, config or extra.
      const w = tf.tensor1d([1, 2]);
      await saveCheckpoint(path, { variables: { w }, step: 0, epoch: 0 });
      w.dispose();
      const bare = await loadCheckpoint(path);
      assert.deepEqual(Object.keys(bare.optimizer), []);
      assert.equal(bare.rng, undefined);
      assert.equal(bare.config, undefined);
      assert.deepEqual(bare.extra, {});
      disposeAll(bare);
    } finally {
      await cleanup();
    }
  },
);

let run = 0;
backendTest(
  "checkpoint resumes tfjs Adam (slot order survives the name-sorted file)",
  async (backend) => {
    const { dir, cleanup } = await scratch(`ckpt-adam-${backend}`);
    const tag = `adam${run++}`;
    // Two variables of one shape, listed out of name order: Adam's setWeights
    // takes [iter, m..., v...] by position, so a name-sorted order would
    // silently swap their moments.
    const make = (suffix: string) =>
      tf.tidy(() => ({
        [`${tag}/b`]: tf.variable(tf.tensor1d([0.5, -1]), true, `${tag}${suffix}/b`),
        [`${tag}/a`]: tf.variable(tf.tensor1d([2, -4]), true, `${tag}${suffix}/a`),
      }));
    const lossOf = (vars: Record<string, tf.Variable>) => () => {
      const [b, a] = Object.values(vars);
      return tf.add(tf.sum(tf.square(tf.sub(a, 1))), tf.sum(tf.mul(tf.mul(b, b), 3))) as tf.Scalar;
    };
    const step = (opt: tf.Optimizer, vars: Record<string, tf.Variable>) =>
      tf.dispose(opt.minimize(lossOf(vars), false, Object.values(vars)) ?? []);
    const varsA = make("A");
    const optA = tf.train.adam(0.1);
    try {
      step(optA, varsA);
      step(optA, varsA);
      const weights = await optA.getWeights();
      const path = `${dir}/adam.safetensors`;
      await saveCheckpoint(path, {
        variables: varsA,
        optimizer: Object.fromEntries(weights.map((w) => [w.name, w.tensor])),
        step: 2,
        epoch: 0,
      });
      weights[0].tensor.dispose(); // the iteration count is a fresh scalar
      step(optA, varsA);

      const varsB = make("B");
      const ckpt = await loadCheckpoint(path);
      assert.deepEqual(Object.keys(ckpt.optimizer), weights.map((w) => w.name));
      assert.deepEqual(restoreVariables(varsB, ckpt.variables).restored, Object.keys(varsB));
      const optB = tf.train.adam(0.1);
      await optB.setWeights(
        Object.entries(ckpt.optimizer).map(([name, tensor]) => ({ name, tensor })),
      );
      disposeAll(ckpt);
      step(optB, varsB);
      // Not bit for bit: tfjs's setWeights recomputes beta^t with pow() where
      // training multiplied it up step by step.
      for (const name of Object.keys(varsA)) {
        assertClose(await varsB[name].data(), await varsA[name].data(), {
          rtol: 1e-4,
          label: name,
        });
      }
      optB.dispose();
      tf.dispose(Object.values(varsB));
    } finally {
      optA.dispose();
      tf.dispose(Object.values(varsA));
      await cleanup();
    }
  },
);

backendTest("restoreVariables reports every problem at once; strict assigns nothing", async () => {
  const target = tf.tidy(() => ({
    same: tf.variable(tf.zeros([2]), true, `rv-same-${run}`),
    shape: tf.variable(tf.zeros([2, 3]), true, `rv-shape-${run}`),
    dtype: tf.variable(tf.zeros([2], "int32"), true, `rv-dtype-${run}`),
    gone: tf.variable(tf.zeros([1]), true, `rv-gone-${run}`),
    lost: tf.variable(tf.zeros([1]), true, `rv-lost-${run++}`),
  }));
  const loaded = {
    same: tf.tensor1d([1, 2]),
    shape: tf.zeros([3, 2]),
    dtype: tf.tensor1d([1, 2]),
    extra1: tf.zeros([1]),
    extra2: tf.zeros([1]),
  };
  try {
    assert.throws(
      () => restoreVariables(target, loaded),
      {
        message: "Cannot restore variables: 2 missing from the checkpoint (gone, lost); " +
          "2 not in the model (extra1, extra2); 2 with another shape or dtype " +
          "(shape: checkpoint [3,2] vs model [2,3]; dtype: checkpoint [2] float32 vs model [2] int32)",
      },
    );
    assert.deepEqual(Array.from(await target.same.data()), [0, 0], "strict assigned something");
    const report = restoreVariables(target, loaded, { strict: false });
    assert.deepEqual(report, {
      restored: ["same"],
      missing: ["gone", "lost"],
      unexpected: ["extra1", "extra2"],
      mismatched: [
        "shape: checkpoint [3,2] vs model [2,3]",
        "dtype: checkpoint [2] float32 vs model [2] int32",
      ],
    });
    tf.dispose(Object.values(loaded));
    // The variable keeps the values after the loaded tensor is disposed.
    assert.deepEqual(Array.from(await target.same.data()), [1, 2]);
    assert.throws(() => restoreVariables({ x: [1] as never }, {}), TypeError);
    assert.throws(() => restoreVariables({}, { x: "1" as never }), TypeError);
  } finally {
    tf.dispose(Object.values(target));
  }
});

Deno.test({
  name: "loadCheckpoint: truncated, foreign, missing and pickle files give one-line errors",
  ...quiet,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    const { dir, cleanup } = await scratch("ckpt-bad");
    try {
      const path = `${dir}/ckpt.safetensors`;
      const w = tf.tensor1d(new Float32Array(64).map((_, i) => i));
      await saveCheckpoint(path, { variables: { w }, step: 1, epoch: 0 });
      w.dispose();
      const bytes = await Deno.readFile(path);
      const expectError = async (
        p: string,
        pattern: RegExp,
        type: new (...args: never[]) => Error = SyntaxError,
      ) => {
        await assert.rejects(loadCheckpoint(p), (e: Error) => {
          assert.ok(e instanceof type, `${e}`);
          assert.ok(e.message.startsWith(`Cannot load checkpoint "${p}": `), e.message);
          assert.match(e.message, pattern);
          assert.ok(!e.message.includes("\n"), e.message);
          return true;
        });
      };
      const cut = `${dir}/cut.safetensors`;
      for (const len of [4, 8, 20, bytes.length - 200, bytes.length - 1]) {
        await Deno.writeFile(cut, bytes.subarray(0, len));
        await expectError(cut, /: file is truncated \(.+\)$/);
      }
      await Deno.writeFile(cut, new Uint8Array(0));
      await expectError(cut, /: file is empty$/);

      const weights = `${dir}/weights.safetensors`;
      await writeSafetensors(weights, { "fc.weight": { shape: [1], values: [1] } }, {
        format: "pt",
      });
      await expectError(
        weights,
        /: not a CoSS checkpoint \(no coss\.format metadata; is it a model weights file\?\)$/,
      );
      const json = `${dir}/config.json`;
      await Deno.writeTextFile(json, '{"model": "resnet18", "lr": 0.05, "epochs": 200}\n');
      await expectError(
        json,
        /: not a CoSS checkpoint \(not valid safetensors: header length \d+ is absurd/,
      );
      const meta = (m: Record<string, string>, name = "variables/w") =>
        serializeSafetensors({ [name]: { shape: [1], values: [1] } }, m);
      const ok = { "coss.format": CHECKPOINT_FORMAT, "coss.version": "1" };
      const cases: [Uint8Array, RegExp][] = [
        [meta({ "coss.format": "other" }), /coss\.format is "other", expected "coss-checkpoint"/],
        [
          meta({ ...ok, "coss.version": "2" }),
          /checkpoint version "2" is not supported \(this toolkit reads version 1\)$/,
        ],
        [meta(ok), /coss\.state metadata is missing or not valid JSON$/],
        [
          meta({ ...ok, "coss.state": '{"step":1}' }),
          /coss\.state\.epoch is missing, not a finite number$/,
        ],
        [
          meta({ ...ok, "coss.state": '{"step":1,"epoch":0}' }, "w"),
          /tensor "w" is neither variables\/… nor optimizer\/…$/,
        ],
        [
          serializeSafetensors({ "variables/n": { dtype: "I64", shape: [1], values: [2 ** 40] } }),
          /not a CoSS checkpoint \(tensor "variables\/n" I64 value 1099511627776 at index 0 does not fit in int32\)$/,
        ],
      ];
      const other = `${dir}/other.safetensors`;
      for (const [b, pattern] of cases) {
        await Deno.writeFile(other, b);
        await expectError(other, pattern);
      }
      await expectError(`${dir}/nope.safetensors`, /: no such file$/, Deno.errors.NotFound);
      await expectError(`${dir}/model.pth`, /: PyTorch pickle checkpoints are not supported/);
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "saveCheckpoint: bad state is a TypeError before anything is written",
  ...quiet,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    const { dir, cleanup } = await scratch("ckpt-type");
    const w = tf.tensor1d([1, 2]);
    const disposed = tf.scalar(1);
    disposed.dispose();
    const flags = tf.tensor1d([1, 0], "bool");
    try {
      const path = `${dir}/ckpt.safetensors`;
      await saveCheckpoint(path, { variables: { w }, step: 1, epoch: 0 });
      const before = await Deno.readFile(path);
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = cyclic;
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ step: NaN }, /state\.step must be a finite number, got NaN/],
        [{ epoch: Infinity }, /state\.epoch must be a finite number, got Infinity/],
        [{ step: "3" }, /state\.step must be a finite number, got the string "3"/],
        [
          { rng: new Uint32Array(4) },
          /state\.rng is a Uint32Array \(convert typed arrays with Array\.from\), which JSON/,
        ],
        [{ rng: { s: 1n } }, /state\.rng\.s is 1, which JSON cannot hold/],
        [{ config: { lr: NaN } }, /state\.config\.lr is NaN, which JSON cannot hold/],
        [{ config: { "a b": [1, () => 0] } }, /state\.config\["a b"\]\[1\] is a function/],
        [{ config: { list: [1, undefined] } }, /state\.config\.list\[1\] is undefined/],
        [
          { config: { when: new Date(0) } },
          /state\.config\.when is a Date, which JSON cannot hold/,
        ],
        [{ extra: cyclic }, /state\.extra\.self is a reference back to itself \(a cycle\)/],
        [{ extra: [1] }, /state\.extra must be an object, got an array/],
        [{ variables: { d: disposed } }, /state\.variables\["d"\] is a disposed tensor/],
        [{ optimizer: { f: flags } }, /state\.optimizer\["f"\] has dtype bool/],
        [{ variables: { x: [1, 2] } }, /state\.variables\["x"\] is an array, not a tf\.Tensor/],
        [{ variables: null }, /state\.variables must be an object of tensors, got null/],
      ];
      for (const [patch, pattern] of cases) {
        const state = { variables: { w }, step: 2, epoch: 1, ...patch };
        await assert.rejects(saveCheckpoint(path, state as never), (e: Error) => {
          assert.ok(e instanceof TypeError, `${e}`);
          assert.match(e.message, pattern);
          return true;
        });
      }
      await assert.rejects(
        saveCheckpoint(3 as never, { variables: { w }, step: 1, epoch: 0 }),
        TypeError,
      );
      assert.deepEqual(await Deno.readFile(path), before);
      assert.deepEqual(await listDir(dir), ["ckpt.safetensors"]);
    } finally {
      tf.dispose([w, flags]);
      await cleanup();
    }
  },
});

Deno.test({
  name: "saveCheckpoint: a failure just before the rename keeps the previous checkpoint",
  ...quiet,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    const { dir, cleanup } = await scratch("ckpt-abort");
    const first = tf.tensor1d([1, 2, 3]);
    const second = tf.tensor1d([4, 5, 6]);
    try {
      const path = `${dir}/ckpt.safetensors`;
      await saveCheckpoint(path, { variables: { w: first }, step: 1, epoch: 0 });
      let seen = "";
      await assert.rejects(
        saveCheckpoint(path, { variables: { w: second }, step: 2, epoch: 0 }, {
          beforeRename: async (temp) => {
            seen = temp;
            // The temporary file is complete and valid at this point.
            const st = await readSafetensors(temp);
            assert.deepEqual(Array.from(st.tensors.get("variables/w")!.values), [4, 5, 6]);
            throw new Error("disk on fire");
          },
        }),
        { message: `Cannot write "${path}": disk on fire` },
      );
      assert.match(seen, /\/\.ckpt\.safetensors\.tmp-/);
      assert.deepEqual(await listDir(dir), ["ckpt.safetensors"]);
      const c = await loadCheckpoint(path);
      assert.equal(c.step, 1);
      assert.deepEqual(Array.from(await c.variables.w.data()), [1, 2, 3]);
      disposeAll(c);
    } finally {
      tf.dispose([first, second]);
      await cleanup();
    }
  },
});

Deno.test({
  name: "saveCheckpoint: a writer SIGKILLed mid-write leaves the previous checkpoint intact",
  ...quiet,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    const { dir, cleanup } = await scratch("ckpt-kill");
    const started = performance.now();
    const child = new Deno.Command("deno", {
      args: [
        "run",
        "--allow-read",
        "--allow-write=tests/.tmp",
        "tests/train/_checkpoint_writer.ts",
        dir,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let exited = false;
    child.status.then(() => (exited = true));
    const lines: string[] = [];
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    const readLine = async (): Promise<string | undefined> => {
      while (!pending.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        pending += value;
      }
      const line = pending.slice(0, pending.indexOf("\n"));
      pending = pending.slice(line.length + 1);
      lines.push(line);
      return line;
    };
    try {
      const first = await readLine();
      if (first !== "good") assert.fail(`the writer said ${first}; stderr: ${await stderr}`);
      const large = await readLine();
      assert.equal(large, `large ${LARGE.tensors * LARGE.elements * 4}`);

      // The large save is under way: wait for its temporary file, then kill
      // once a few tensors are in it (or at once, if it is already complete).
      let temp: string | undefined;
      const deadline = performance.now() + 8000;
      while (!temp) {
        for await (const e of Deno.readDir(dir)) {
          if (e.name.startsWith(".ckpt.safetensors.tmp-")) temp = e.name;
        }
        if (temp) break;
        assert.ok(!exited, "the writer finished before its temporary file was seen");
        assert.ok(performance.now() < deadline, "no temporary file within 8 s");
      }
      const dataBytes = LARGE.tensors * LARGE.elements * 4;
      while (!exited && performance.now() < deadline) {
        const now = await Deno.stat(`${dir}/${temp}`).catch(() => undefined);
        if (!now || now.size >= 8 * LARGE.elements) break;
      }
      child.kill("SIGKILL");
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      while (await readLine() !== undefined);
      assert.ok(!lines.includes("done"), "the large save completed");

      // The kill landed mid-save: the temporary file is still there, unrenamed.
      const tempPath = `${dir}/${temp}`;
      const size = (await Deno.stat(tempPath)).size;
      assert.ok(size <= dataBytes + 4096, `temporary file is ${size} bytes`);
      if (size < dataBytes) {
        // Partial, and recognisably so.
        await assert.rejects(loadCheckpoint(tempPath), /: file is (truncated \(|empty$)/);
      }

      const c = await loadCheckpoint(`${dir}/ckpt.safetensors`);
      assert.equal(c.step, GOOD.step);
      assert.equal(c.epoch, GOOD.epoch);
      assert.deepEqual(c.rng, GOOD.rng);
      assert.deepEqual(c.config, GOOD.config);
      assert.deepEqual(Object.keys(c.variables), ["conv/a", "fc/b"]);
      assert.deepEqual(bits(await c.variables["conv/a"].data()), bits(GOOD.a));
      assert.deepEqual(Array.from(await c.variables["fc/b"].data()), GOOD.b.flat());
      assert.equal(c.variables["fc/b"].dtype, "int32");
      assert.deepEqual(Array.from(await c.optimizer["conv/a/m"].data()), GOOD.m);
      disposeAll(c);
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      console.log(
        `kill test: ${seconds} s; temporary file at kill: ${size} of ~${dataBytes} bytes ` +
          `(${size < dataBytes ? "partial" : "complete, not yet renamed"})`,
      );
    } finally {
      if (!exited) child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});
      await stderr;
      await cleanup();
    }
  },
});
