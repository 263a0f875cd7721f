/**
 * `deno task compare` and `eval.*`: a finished cell written by main before
 * `eval.*` left the config hash (config.yaml with one hash over training and
 * evaluation, no eval line; the checkpoint recording the same hash) is taken
 * as finished under the same settings. Under other `eval.*` settings it is
 * neither refused nor taken as finished: `--merge` counts it missing, and
 * `compare` resumes it at its last step and evaluates it again.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { comparisonRoot, ROOT, runTask, tinyComparison } from "../_cli.ts";
import { configHash, evalHash, parseConfig, stringifyConfig } from "../../lib/config/config.ts";
import { legacyConfigHash } from "../../lib/config/hash.ts";
import { editState } from "./_checkpoint_state.ts";

const compare = (args: string[]) => runTask("compare", args);

await testNeeding(["fashion-mnist"], {
  name:
    "deno task compare: main's finished cell is kept; other eval.* settings re-evaluate it, and --merge counts it missing until then",
  fn: async () => {
    const dir = await comparisonRoot("test-compare-eval");
    try {
      await Deno.writeTextFile(`${ROOT}${dir}/compare.yaml`, tinyComparison(dir, "runs"));
      const one = ["--config", `${dir}/compare.yaml`, "--seeds", "0", "--only", "coss"];
      const first = await compare(one);
      assert.equal(first.code, 0, first.err);

      // The cell as main writes it: one hash over training and eval, in config.yaml and checkpoint.
      const cell = `${ROOT}${dir}/runs/coss-s0`;
      const config = parseConfig(await Deno.readTextFile(`${cell}/config.yaml`));
      const legacy = legacyConfigHash(config);
      await Deno.writeTextFile(
        `${cell}/config.yaml`,
        `# config hash: ${legacy}\n${stringifyConfig(config)}`,
      );
      await editState(`${cell}/checkpoint.safetensors`, (s) => {
        (s.extra as Record<string, unknown>).configHash = legacy;
      });
      const report = await Deno.readFile(`${cell}/report.json`);

      const kept = await compare(one);
      assert.equal(kept.code, 0, kept.err);
      assert.match(kept.err, /\[1\/1\] coss seed 0: finished earlier, skipped/);
      const merged = await compare([...one, "--merge"]);
      assert.equal(merged.code, 0, merged.err);
      assert.match(await Deno.readTextFile(`${ROOT}${dir}/runs/results.md`), /kNN-10 top-1/);
      assert.deepEqual(await Deno.readFile(`${cell}/report.json`), report);

      // Other eval settings: missing for --merge, evaluated again by compare.
      const k5 = [...one, "--set", "eval.k=5"];
      const stale = await compare([...k5, "--merge"]);
      assert.notEqual(stale.code, 0);
      assert.match(
        stale.err.trim().split("\n").at(-1)!,
        /^error: .*compare\.yaml: 1 of 1 cells have no report\.json for these settings: \[1\] coss seed 0 \(evaluated under other eval\.\* settings\); run them/,
      );
      const again = await compare(k5);
      assert.equal(again.code, 0, again.err);
      assert.match(
        again.err,
        /\[1\/1\] coss seed 0: evaluated under other eval\.\* settings; evaluating it again/,
      );
      assert.match(again.err, /resuming .* from its checkpoint at step 4\/4/);
      assert.match(await Deno.readTextFile(`${ROOT}${dir}/runs/results.md`), /kNN-5 top-1/);
      const text = await Deno.readTextFile(`${cell}/config.yaml`);
      const k5Config = parseConfig(text);
      assert.equal(k5Config.eval.k, 5);
      assert.match(text, new RegExp(`^# config hash: ${configHash(config)}$`, "m"));
      assert.match(text, new RegExp(`^# eval hash: ${evalHash(k5Config)}$`, "m"));
      const done = await compare(k5);
      assert.equal(done.code, 0, done.err);
      assert.match(done.err, /\[1\/1\] coss seed 0: finished earlier, skipped/);
    } finally {
      await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
    }
  },
});
