/**
 * `deno task distill` as a user runs it, with its declared permissions: a
 * short run from the bundled teacher on Fashion-MNIST writes its exports,
 * and bad input gives one line on stderr naming the key and the fix.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { ROOT, runTask } from "../_cli.ts";

const task = (args: string[]) => runTask("distill", args);

await testNeeding(["fashion-mnist"], {
  name: "deno task distill: a short run from the bundled teacher exports the student",
  fn: async () => {
    const runDir = `runs/test-task-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const { code, err } = await task([
        "--run-dir",
        runDir,
        "--set",
        `teacher.cacheDir=${runDir}/cache`,
        "--set",
        "data.subset=512",
        "--set",
        "data.test=null",
        "--set",
        "train.steps=3",
        "--set",
        "train.logEvery=1",
      ]);
      assert.equal(code, 0, err);
      assert.match(err, /^coss backend: \w+ \(/m);
      assert.match(err, /teacher cache: miss \(no file\)/);
      assert.match(err, /^step 3\/3 /m);
      for (const f of ["config.yaml", "checkpoint.safetensors", "metrics.jsonl"]) {
        await Deno.stat(`${ROOT}${runDir}/${f}`);
      }
      const card = JSON.parse(await Deno.readTextFile(`${ROOT}${runDir}/student-tfjs/card.json`));
      assert.equal(card.format, "tfjs-graph-model");
      assert.equal(card.teacher.source, "bundled");
      await Deno.stat(`${ROOT}${runDir}/student-safetensors/model.safetensors`);
      await Deno.stat(`${ROOT}${runDir}/student-onnx/onnx/model.onnx`);
    } finally {
      await Deno.remove(`${ROOT}${runDir}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("deno task distill: bad input is one line naming the key", async () => {
  const cases: [string[], RegExp][] = [
    [["--optim.lr", "fast"], /^error: --set optim\.lr=fast: optim\.lr: expected .*got "fast"$/],
    [["--set", "optim.learning_rate=1"], /unknown key.*did you mean "lr"/],
    [["--bogus"], /^error: .*--bogus/],
    [["--config", "no/such.yaml"], /^error: .*no\/such\.yaml/],
  ];
  for (const [args, pattern] of cases) {
    const { code, err } = await task(args);
    assert.notEqual(code, 0, args.join(" "));
    const lines = err.trim().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${err}`);
    assert.match(lines[0], pattern);
  }
});
