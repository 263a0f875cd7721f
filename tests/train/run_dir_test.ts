/**
 * The run dir's two hashes: `config.yaml` records the config hash (training)
 * and the eval hash (`eval.*`) apart, so a run evaluated under other `eval.*`
 * settings resumes and is evaluated again, its old report removed first; a
 * run dir written by main before the split (one hash over both, no eval line:
 * tests/fixtures/run_dir/config-baafe4c.yaml, written by main's own code) is
 * read as the same run, or as the same training evaluated otherwise.
 */
import assert from "assert";
import { withTempDir } from "../_helpers.ts";
import { configHash, evalHash, parseConfig } from "../../lib/config/config.ts";
import { legacyConfigHash } from "../../lib/config/hash.ts";
import {
  checkpointConfigHash,
  checkRunDir,
  configFileText,
  prepareRunDir,
  runPaths,
  savedHashes,
} from "../../lib/train/run_dir.ts";
import { OVERRIDES } from "../fixtures/run_dir/make_main_config.ts";

const MAIN_FILE = new URL("../fixtures/run_dir/config-baafe4c.yaml", import.meta.url);
const config = (...more: string[]) => parseConfig("", { overrides: [...OVERRIDES, ...more] });

Deno.test("run dir hashes: config.yaml records the config hash and the eval hash apart", () => {
  const c = config();
  const text = configFileText(c);
  const [first, second] = text.split("\n");
  assert.equal(first, `# config hash: ${configHash(c)}`);
  assert.equal(second, `# eval hash: ${evalHash(c)}`);
  assert.deepEqual(parseConfig(text), c, "the YAML below the lines is the config");
  assert.deepEqual(savedHashes(text, c), {
    recorded: configHash(c),
    config: configHash(c),
    eval: evalHash(c),
  });
  // Other eval settings: the same training, another evaluation.
  const k7 = config("eval.k=7");
  assert.deepEqual(savedHashes(text, k7), {
    recorded: configHash(c),
    config: configHash(k7),
    eval: evalHash(c),
  });
  assert.notEqual(evalHash(k7), evalHash(c));
  assert.deepEqual(savedHashes("seed: 0\n", c), {}, "no hash line: no run recorded");
});

Deno.test("run dir hashes: main's config.yaml (one hash over training and eval) still reads", async () => {
  const text = await Deno.readTextFile(MAIN_FILE);
  assert.doesNotMatch(text, /^# eval hash:/m);
  const recorded = text.match(/^# config hash: ([0-9a-f]{64})$/m)![1];
  const same = config();
  // The hash main wrote is the legacy hash of the same config.
  assert.equal(legacyConfigHash(same), recorded);
  assert.deepEqual(savedHashes(text, same), {
    recorded,
    config: configHash(same),
    eval: evalHash(same),
  });
  // Other eval settings: its own config (below the line) tells training from evaluation.
  const k7 = config("eval.k=7");
  assert.deepEqual(savedHashes(text, k7), {
    recorded,
    config: configHash(k7),
    eval: evalHash(same),
  });
  // Other training: another run.
  const lr = config("optim.lr=0.5");
  assert.notEqual(savedHashes(text, lr).config, configHash(lr));
  // A file edited by hand (its config no longer hashes to its line) is no run of either.
  const edited = text.replace("seed: 0", "seed: 3");
  assert.deepEqual(savedHashes(edited, k7), { recorded });
});

Deno.test("run dir hashes: a checkpoint's recorded hash, old or new, in today's terms", () => {
  const c = JSON.parse(JSON.stringify(config("eval.k=7")));
  assert.equal(checkpointConfigHash(configHash(c), c), configHash(c));
  assert.equal(checkpointConfigHash(legacyConfigHash(c), c), configHash(c));
  assert.equal(checkpointConfigHash("ab".repeat(32), c), "ab".repeat(32));
  assert.equal(checkpointConfigHash(configHash(c), undefined), configHash(c));
});

Deno.test("run dir: a resume under other eval.* settings removes the old report, then records them", async () => {
  await withTempDir("run_dir", async (dir) => {
    const paths = runPaths(`${dir}/run`);
    const c = config(`runDir=${paths.dir}`);
    await prepareRunDir(paths, c, { resuming: false, evalChanged: false });
    await Deno.writeTextFile(paths.checkpoint, "checkpoint");
    for (const f of ["report.json", "report.md", "map.svg", "curves.svg"]) {
      await Deno.writeTextFile(`${paths.dir}/${f}`, "old");
    }
    const before = await Deno.readTextFile(paths.config);
    assert.equal(before, configFileText(c));

    // The same settings: resumed, nothing removed or rewritten.
    const same = await checkRunDir(paths, c, "auto");
    assert.deepEqual(same, { resuming: true, evalChanged: false });
    assert.deepEqual(await prepareRunDir(paths, c, same), []);
    assert.equal(await Deno.readTextFile(paths.config), before);
    await Deno.stat(`${paths.dir}/report.json`);

    // Other eval settings: resumed; the report goes, the config records the new settings.
    const k7 = config(`runDir=${paths.dir}`, "eval.k=7");
    const changed = await checkRunDir(paths, k7, "auto");
    assert.deepEqual(changed, { resuming: true, evalChanged: true });
    assert.deepEqual(
      (await prepareRunDir(paths, k7, changed)).sort(),
      ["curves.svg", "map.svg", "report.json", "report.md"],
    );
    assert.equal(await Deno.readTextFile(paths.config), configFileText(k7));
    assert.equal(await Deno.readTextFile(paths.checkpoint), "checkpoint");
    assert.deepEqual(await checkRunDir(paths, k7, "auto"), { resuming: true, evalChanged: false });

    // Other training: refused, naming both hashes.
    await assert.rejects(
      checkRunDir(paths, config(`runDir=${paths.dir}`, "optim.lr=0.5"), "auto"),
      /it was written by another config \(hash [0-9a-f]{12}, this one [0-9a-f]{12}\)/,
    );
  });
});

Deno.test("run dir: main's run dir resumes; under other eval.* settings it is re-evaluated", async () => {
  await withTempDir("run_dir_main", async (dir) => {
    const paths = runPaths(`${dir}/run`);
    await Deno.mkdir(paths.dir);
    // main's file for runDir runs/old-cell, moved here: runDir is not in either hash.
    await Deno.copyFile(MAIN_FILE, paths.config);
    await Deno.writeTextFile(paths.checkpoint, "checkpoint");
    const c = config(`runDir=${paths.dir}`);
    assert.deepEqual(await checkRunDir(paths, c, "auto"), { resuming: true, evalChanged: false });
    const k7 = config(`runDir=${paths.dir}`, "eval.k=7");
    assert.deepEqual(await checkRunDir(paths, k7, "auto"), { resuming: true, evalChanged: true });
    await assert.rejects(
      checkRunDir(paths, config(`runDir=${paths.dir}`, "seed=1"), "auto"),
      /written by another config \(hash 61f13d71d034, this one [0-9a-f]{12}\)/,
    );
  });
});
