/**
 * Exact resume: a distillation run killed with SIGKILL after a checkpoint and
 * then resumed ends with the same student weights and the same metrics as an
 * uninterrupted run (wasm, fixed seed). Each run is a child `deno run` of the
 * real task.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { scratch } from "../_helpers.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TEACHER = `${ROOT}tests/fixtures/models/resnet18_cifar_w0.125.safetensors`;

function config(cacheDir: string, views = 0): string {
  return `seed: 3
backend: wasm
data:
  train: { name: fashion-mnist, split: train }
  test: null
  subset: 256
  augment: mocov2
  sampler: { kind: neighbour, anchors: 4, neighbours: 3, pool: 7, k: 7 }
teacher:
  source: safetensors
  path: ${TEACHER}
  architecture: resnet18
  args: { stem: cifar, width: 0.125, inChannels: 1 }
  cache: true
  views: ${views}
  cacheDir: ${cacheDir}
student:
  architecture: resnet18
  args: { stem: cifar, width: 0.0625, inChannels: 1 }
  headHidden: 32
optim: { name: sgd, lr: 0.05, momentum: 0.9, weightDecay: 0.0001 }
schedule: { name: cosine }
train: { steps: 12, checkpointEvery: 4, logEvery: 1, evalEvery: 0 }
`;
}

function command(configPath: string, runDir: string): Deno.Command {
  return new Deno.Command("deno", {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-env",
      `--allow-write=${ROOT}tests/.tmp`,
      `${ROOT}tasks/distill.ts`,
      "--config",
      configPath,
      "--run-dir",
      runDir,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function finish(child: Deno.ChildProcess): Promise<string> {
  const { code, stderr } = await child.output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, err);
  return err;
}

/** Start a run and SIGKILL it once it reports `step`. */
async function killAt(cmd: Deno.Command, step: number): Promise<string> {
  const child = cmd.spawn();
  let seen = "";
  const decoder = new TextDecoder();
  const reader = child.stderr.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value, { stream: true });
    if (new RegExp(`^step ${step}/12 `, "m").test(seen)) {
      child.kill("SIGKILL");
      break;
    }
  }
  reader.releaseLock();
  await child.stderr.cancel();
  await child.stdout.cancel();
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL", `the run ended before step ${step}:\n${seen}`);
  return seen;
}

async function metrics(runDir: string) {
  const lines = (await Deno.readTextFile(`${runDir}/metrics.jsonl`)).trim().split("\n");
  return lines.map((l) => {
    const { step, loss, co, ss, lr } = JSON.parse(l);
    return { step, loss, co, ss, lr };
  });
}

for (const views of [0, 3]) {
  await testNeeding(["fashion-mnist"], {
    name: "a run killed after a checkpoint resumes to the same weights and metrics" +
      (views ? ` (multi-view cache, ${views} views)` : ""),
    fn: async () => {
      const { dir, cleanup } = await scratch("resume");
      const configPath = `${dir}/small.yaml`;
      await Deno.writeTextFile(configPath, config(`${dir}/cache`, views));
      await finish(command(configPath, `${dir}/straight`).spawn());
      const log = await killAt(command(configPath, `${dir}/killed`), 6);
      assert.match(log, /^step 5\/12 /m, "the kill came after the step-4 checkpoint");
      const resumed = await finish(command(configPath, `${dir}/killed`).spawn());
      assert.match(resumed, /resuming ".*killed" from its checkpoint at step 4\/12/);

      const a = await readSafetensors(`${dir}/straight/checkpoint.safetensors`);
      const b = await readSafetensors(`${dir}/killed/checkpoint.safetensors`);
      let worst = 0;
      let count = 0;
      for (const [name, t] of a.tensors) {
        if (!name.startsWith("variables/")) continue;
        const u = b.tensors.get(name)!;
        for (let i = 0; i < t.values.length; i++) {
          worst = Math.max(worst, Math.abs(t.values[i] - u.values[i]));
        }
        count++;
      }
      assert.ok(count > 50, `only ${count} variables compared`);
      assert.ok(worst <= 1e-6, `weights differ by ${worst}`);
      const ma = await metrics(`${dir}/straight`);
      const mb = await metrics(`${dir}/killed`);
      assert.equal(ma.length, 12);
      assert.deepEqual(mb, ma);
      await cleanup();
    },
  });
}
