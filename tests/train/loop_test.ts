/**
 * The distillation loop in-process: memory stays flat over many steps, and a
 * divergent learning rate stops the run with a message naming the step and
 * the last good checkpoint, which keeps its finite weights; the test split is
 * opened once for the checks before training and the periodic kNN.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { scratch, withTempDir } from "../_helpers.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { parseConfig } from "../../lib/config/config.ts";
import { distill } from "../../lib/train/loop.ts";
import { openDataset } from "../../lib/data/datasets.ts";

const TEACHER = new URL("../fixtures/models/resnet18_cifar_w0.125.safetensors", import.meta.url)
  .pathname;

function small(dir: string, extra: string): string {
  return `seed: 1
backend: wasm
runDir: ${dir}/run
data:
  train: { name: fashion-mnist, split: train }
  test: null
  subset: 128
  augment: mocov2
  sampler: { kind: random, batchSize: 16 }
teacher:
  source: safetensors
  path: ${TEACHER}
  architecture: resnet18
  args: { stem: cifar, width: 0.125, inChannels: 1 }
  cache: false
  cacheDir: ${dir}/cache
student:
  architecture: resnet18
  args: { stem: cifar, width: 0.0625, inChannels: 1 }
  headHidden: 32
${extra}`;
}

const quiet = { sanitizeOps: false, sanitizeResources: false };

await testNeeding(["fashion-mnist"], {
  name: "memory stays flat: live tensors at step 10 equal those at step 60",
  ...quiet,
  fn: async () => {
    const { dir, cleanup } = await scratch("loop_memory");
    const config = parseConfig(
      small(dir, "train: { steps: 60, checkpointEvery: 0, logEvery: 10, evalEvery: 0 }\n"),
    );
    await distill(config, { log: () => {}, tty: false });
    const records = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.step), [10, 20, 30, 40, 50, 60]);
    const tensors = records.map((r) => r.tensors);
    assert.ok(tensors.every((t) => typeof t === "number" && t > 0), `no tensor counts: ${tensors}`);
    assert.ok(tensors.every((t) => t === tensors[0]), `live tensors changed: ${tensors}`);
    await cleanup();
  },
});

await testNeeding(["fashion-mnist"], {
  name: "a divergent learning rate stops the run and keeps the last good checkpoint",
  ...quiet,
  fn: async () => {
    const { dir, cleanup } = await scratch("loop_nan");
    // lr 1e30: the first update leaves huge but finite weights (checkpointed at
    // step 1); the next forward pass overflows.
    const config = parseConfig(small(
      dir,
      "optim: { name: sgd, lr: 1e30 }\nschedule: { name: constant }\n" +
        "train: { steps: 40, checkpointEvery: 1, logEvery: 1, evalEvery: 0 }\n",
    ));
    let message = "";
    await assert.rejects(distill(config, { log: () => {}, tty: false }), (e: Error) => {
      message = e.message;
      return true;
    });
    assert.match(
      message,
      /^(loss is (NaN|-?Infinity) at step \d+; stopping\. The last good checkpoint is ".*checkpoint\.safetensors" \(step \d+\)|non-finite weights at step \d+; not overwriting the last good checkpoint ".*" \(step \d+\))/,
    );
    const ck = await readSafetensors(`${dir}/run/checkpoint.safetensors`);
    const saved = Number(message.match(/\(step (\d+)\)/)![1]);
    assert.equal(JSON.parse(ck.metadata["coss.state"]).step, saved);
    for (const [name, t] of ck.tensors) {
      assert.ok(t.values.every(Number.isFinite), `checkpoint tensor ${name} is not finite`);
    }
    await cleanup();
  },
});

await testNeeding(["fashion-mnist"], {
  name: "the test split is opened once for the early checks and the periodic kNN, and closed",
  ...quiet,
  fn: () =>
    withTempDir("loop_opens", async (dir) => {
      const config = parseConfig(
        small(dir, "train: { steps: 2, checkpointEvery: 0, logEvery: 1, evalEvery: 1 }\n"),
        {
          overrides: [
            "data.test={name: fashion-mnist, split: test}",
            "eval.subset=10",
            "eval.k=5",
          ],
        },
      );
      const opens: string[] = [];
      const closes: string[] = [];
      const open: typeof openDataset = async (spec, options) => {
        const d = await openDataset(spec, options);
        const key = options?.key ?? "?";
        opens.push(key);
        const close = d.images.close.bind(d.images);
        d.images.close = () => {
          closes.push(key);
          close();
        };
        return d;
      };
      await distill(config, { log: () => {}, tty: false, finish: false, openDataset: open });
      assert.deepEqual(opens, ["data.train", "data.test"]);
      assert.deepEqual(closes.sort(), ["data.test", "data.train"]);
      // The periodic kNN ran on the one opening, after each step.
      const knn = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l)).filter((r) => r.knn).map((r) => [r.step, r.knn.test]);
      assert.deepEqual(knn, [[1, 10], [2, 10]]);
    }),
});
