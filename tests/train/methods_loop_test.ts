/**
 * The baselines in the training loop: each method trains, its state (SEED's
 * queue, BINGO's queue and bags, CompRess's queues and bank) goes into the
 * checkpoint, and a run stopped after a checkpoint and resumed ends with the
 * same weights and state as one that was not.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { scratch } from "../_helpers.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { parseConfig } from "../../lib/config/config.ts";
import { distill } from "../../lib/train/loop.ts";

const TEACHER = new URL("../fixtures/models/resnet18_cifar_w0.125.safetensors", import.meta.url)
  .pathname;

function config(dir: string, loss: string) {
  return parseConfig(`seed: 3
backend: wasm
runDir: ${dir}
data:
  train: { name: fashion-mnist, split: train }
  test: null
  subset: 96
  augment: mocov2
  sampler: { kind: random, batchSize: 16, k: 7, pool: 7, neighbours: 5 }
teacher:
  source: safetensors
  path: ${TEACHER}
  architecture: resnet18
  args: { stem: cifar, width: 0.125, inChannels: 1 }
  cache: true
  cacheDir: ${dir}/../cache
student:
  architecture: resnet18
  args: { stem: cifar, width: 0.0625, inChannels: 1 }
  headHidden: 32
loss: ${loss}
optim: { name: sgd, lr: 0.01 }
train: { steps: 4, checkpointEvery: 2, logEvery: 1, evalEvery: 0 }
`);
}

const LOSSES: [string, string[]][] = [
  ["{ name: seed, options: { queueSize: 40 } }", ["variables/method/queue"]],
  ["{ name: bingo, options: { queueSize: 40 } }", ["variables/method/queue"]],
  ["{ name: compress, options: { queueSize: 40 } }", ["variables/method/bank"]],
  ["{ name: rkd }", []],
  ["{ name: sp }", []],
];

for (const [loss, stateNames] of LOSSES) {
  const name = /name: ([\w-]+)/.exec(loss)![1];
  await testNeeding(["fashion-mnist"], {
    name: `loop: ${name} trains, checkpoints its state and resumes exactly`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const { dir, cleanup } = await scratch(`methods_${name}`);
      try {
        const opts = { log: () => {}, tty: false, finish: false };
        await distill(config(`${dir}/whole`, loss), opts);
        await distill(config(`${dir}/split`, loss), { ...opts, stopAfter: 2 });
        const resumed = await distill(config(`${dir}/split`, loss), { ...opts, resume: true });
        assert.equal(resumed.startStep, 2);
        const a = await readSafetensors(`${dir}/whole/checkpoint.safetensors`);
        const b = await readSafetensors(`${dir}/split/checkpoint.safetensors`);
        const names = [...a.tensors.keys()].filter((n) => !n.startsWith("optimizer/"));
        for (const s of stateNames) {
          assert.ok(
            names.some((n) => n.startsWith(s)),
            `${name}: no ${s} among ${names.length} tensors`,
          );
        }
        for (const n of names) {
          const x = a.tensors.get(n)!.values as Float32Array, y = b.tensors.get(n)!.values;
          let diff = 0;
          for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(x[i] - y[i]));
          assert.ok(diff <= 1e-6, `${name}: ${n} differs by ${diff} after resume`);
        }
        const losses = (await Deno.readTextFile(`${dir}/whole/metrics.jsonl`)).trim().split("\n")
          .map((l) => JSON.parse(l).loss);
        assert.equal(losses.length, 4);
        assert.ok(losses.every(Number.isFinite), `${name}: ${losses}`);
      } finally {
        await cleanup();
      }
    },
  });
}
