/**
 * Resume checks through `deno task distill`: the checkpoint records its
 * config hash, its step and the training data's fingerprint, and a resume
 * from a checkpoint of another config, past the run's total, or over changed
 * data is refused with one line and the fix, leaving the checkpoint as it was;
 * a rerun with only `eval.*` changed resumes the finished run and evaluates it
 * again, its old report removed first.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { ROOT, runTask, smallDistill } from "../_cli.ts";
import { editState } from "./_checkpoint_state.ts";

function oneError(r: { code: number; err: string }): string {
  assert.notEqual(r.code, 0, r.err);
  const lines = r.err.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, r.err);
  return lines[0];
}

await testNeeding(["fashion-mnist"], {
  name:
    "deno task distill: a resume of another config, past the total, or over changed data is refused",
  fn: async () => {
    const runDir = `runs/test-resume-${crypto.randomUUID().slice(0, 8)}`;
    const ck = `${ROOT}${runDir}/checkpoint.safetensors`;
    const args = ["--run-dir", runDir, ...smallDistill(`${runDir}/cache`)];
    try {
      const first = await runTask("distill", args);
      assert.equal(first.code, 0, first.err);
      const original = await Deno.readFile(ck);
      let state: Record<string, unknown> = {};
      await editState(ck, (s) => (state = structuredClone(s)));
      const extra = state.extra as { configHash: string; dataset: { count: number } };
      assert.match(extra.configHash, /^[0-9a-f]{64}$/);
      assert.equal(extra.dataset.count, 256);
      assert.equal(state.step, 2);

      await Deno.writeFile(ck, original);
      await editState(ck, (s) => (s.step = 9));
      const past = oneError(await runTask("distill", args));
      assert.match(past, /step 9 is past this run's 2 steps; raise train\.steps/);

      await Deno.writeFile(ck, original);
      await editState(ck, (s) => ((s.extra as typeof extra).configHash = "ab".repeat(32)));
      const other = oneError(await runTask("distill", args));
      assert.match(other, /written by another config \(hash abababababab, .*--no-resume/);

      await Deno.writeFile(ck, original);
      await editState(ck, (s) => ((s.extra as typeof extra).dataset.count = 255));
      const edited = await Deno.readFile(ck);
      const data = oneError(await runTask("distill", args));
      assert.match(data, /training data changed since it was written \(255 images.*now 256 images/);
      // A refusal leaves the checkpoint as it found it.
      assert.deepEqual(await Deno.readFile(ck), edited);
      await Deno.writeFile(ck, original);
      const resumed = await runTask("distill", args);
      assert.equal(resumed.code, 0, resumed.err);
      assert.match(resumed.err, /resuming .* from its checkpoint at step 2\/2/);
    } finally {
      await Deno.remove(`${ROOT}${runDir}`, { recursive: true }).catch(() => {});
    }
  },
});

await testNeeding(["fashion-mnist"], {
  name:
    "deno task distill: a rerun with only eval.* changed resumes the finished run and evaluates it again",
  fn: async () => {
    const runDir = `runs/test-reeval-${crypto.randomUUID().slice(0, 8)}`;
    const dir = `${ROOT}${runDir}`;
    const args = [
      "--run-dir",
      runDir,
      ...smallDistill(`${runDir}/cache`),
      "--set=data.test={name: fashion-mnist, split: test}",
      "--set=train.evalEvery=0",
      "--set=eval.testSubset=100",
      "--set=eval.linear.epochs=1",
      "--set=eval.baselines=false",
      "--set=eval.cost=false",
      "--set=eval.mapPoints=50",
    ];
    const hashes = async () => {
      const text = await Deno.readTextFile(`${dir}/config.yaml`);
      return [/^# config hash: (\w+)$/m, /^# eval hash: (\w+)$/m].map((r) => text.match(r)?.[1]);
    };
    const knnK = async () =>
      JSON.parse(await Deno.readTextFile(`${dir}/report.json`)).runs[0].evaluation.knn[0].k;
    try {
      const first = await runTask("distill", args);
      assert.equal(first.code, 0, first.err);
      const [config, evaluation] = await hashes();
      assert.match(`${config} ${evaluation}`, /^[0-9a-f]{64} [0-9a-f]{64}$/);
      assert.equal(await knnK(), 10);
      await Deno.stat(`${dir}/map.svg`);
      const checkpoint = await Deno.readFile(`${dir}/checkpoint.safetensors`);

      // eval.k and the map changed: no refusal, no training, a new report without the old map.
      const again = await runTask("distill", [...args, "--set=eval.k=5", "--set=eval.mapPoints=0"]);
      assert.equal(again.code, 0, again.err);
      assert.match(again.err, /resuming .* from its checkpoint at step 2\/2/);
      assert.match(
        again.err,
        /eval\.\* differs from the settings ".*" recorded: removed its old report \(report\.json, report\.md, .*map\.svg.*\); the run is evaluated under the new ones once trained/,
      );
      assert.match(again.err, /trained steps 2→2 of 2/);
      assert.equal(await knnK(), 5);
      await assert.rejects(Deno.stat(`${dir}/map.svg`), Deno.errors.NotFound);
      const [config2, evaluation2] = await hashes();
      assert.equal(config2, config, "the training is the same run");
      assert.notEqual(evaluation2, evaluation);
      assert.match(await Deno.readTextFile(`${dir}/config.yaml`), /^ {2}k: 5$/m);
      assert.deepEqual(await Deno.readFile(`${dir}/checkpoint.safetensors`), checkpoint);

      // Back to the first settings: evaluated again under them; a training change is still refused.
      const back = await runTask("distill", args);
      assert.equal(back.code, 0, back.err);
      assert.equal(await knnK(), 10);
      assert.deepEqual(await hashes(), [config, evaluation]);
      const other = oneError(await runTask("distill", [...args, "--set=optim.lr=0.5"]));
      assert.match(other, /it was written by another config .*--no-resume/);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
