/**
 * The skip summary `deno task test` ends with: one line naming what was
 * skipped and the command that installs it, the same in any test order, and
 * nothing when nothing was skipped; and how a test that needs a missing tool
 * registers (skipped and recorded outside CI, failing under CI=true); and the
 * exit path the summary script shares with the notebooks runner.
 */
import assert from "assert";
import { parseSkips, recordSkip, type SkipRecord, skipSummary } from "../../tasks/_skips.ts";
import { skipFor } from "../_optional.ts";
import { withTempDir } from "../_helpers.ts";
import { type CommandResult, ROOT, runCommand } from "../_cli.ts";

const RECORDS: SkipRecord[] = [
  { test: "export loads into PyTorch", needs: ["pytorch"] },
  { test: "tfjs export in Chromium", needs: ["chromium"] },
  { test: "docs/distil-your-own-teacher.md", needs: ["fashion-mnist", "pytorch"] },
  { test: "export loads into PyTorch", needs: ["pytorch"] }, // registered twice: counts once
];

Deno.test("skipSummary: one line, tests counted once, pieces and packages in a fixed order", () => {
  assert.equal(
    skipSummary(RECORDS),
    "skipped: 3 tests need PyTorch, Chromium, Fashion-MNIST (install: sudo apt-get install " +
      "python3-torch python3-torchvision chromium dataset-fashion-mnist)",
  );
  // A shuffled suite records in another order; the line is the same.
  for (const order of [[3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]]) {
    assert.equal(skipSummary(order.map((i) => RECORDS[i])), skipSummary(RECORDS));
  }
  assert.equal(
    skipSummary([{ test: "a notebook", needs: ["jupyter"] }]),
    "skipped: 1 test needs Jupyter (install: sudo apt-get install jupyter-nbconvert " +
      "jupyter-client python3-nbclient; deno jupyter --install)",
  );
  assert.equal(skipSummary([]), undefined);
});

Deno.test("parseSkips: drops torn lines, unknown pieces and records that need nothing", () => {
  const text = [
    JSON.stringify(RECORDS[0]),
    '{"test": "torn',
    JSON.stringify({ test: "x", needs: ["a-gpu-we-never-heard-of"] }),
    "",
    JSON.stringify({ test: "y", needs: ["vulkan", "nope"] }),
  ].join("\n");
  assert.deepEqual(parseSkips(text), [RECORDS[0], { test: "y", needs: ["vulkan"] }]);
});

Deno.test("skipFor: skipped and recorded outside CI, a failure naming the packages under CI", async () => {
  await withTempDir("skips", async (dir) => {
    const log = `${dir}/skipped.jsonl`;
    const saved = Deno.env.get("CI");
    try {
      Deno.env.delete("CI");
      const fn = () => {};
      assert.equal(skipFor({ name: "t", fn }, [], log).ignore, undefined);
      const skipped = skipFor({ name: "t", fn }, ["pytorch", "chromium"], log);
      assert.equal(skipped.ignore, true);
      assert.equal(skipped.name, "t (skipped: needs PyTorch, Chromium)");
      assert.deepEqual(parseSkips(await Deno.readTextFile(log)), [
        { test: "t", needs: ["pytorch", "chromium"] },
      ]);
      Deno.env.set("CI", "true");
      const failing = skipFor({ name: "t", fn }, ["pytorch"], log);
      assert.equal(failing.ignore, undefined);
      assert.equal(failing.name, "t");
      assert.throws(
        () => (failing.fn as () => void)(),
        /this test needs PyTorch \(sudo apt-get install python3-torch python3-torchvision\), which CI installs/,
      );
    } finally {
      if (saved === undefined) Deno.env.delete("CI");
      else Deno.env.set("CI", saved);
    }
  });
});

Deno.test("Slurm: its hint is the script .ci/run starts the cluster with, before the suite", async () => {
  assert.equal(
    skipSummary([{ test: "a Slurm chain", needs: ["slurm"] }]),
    "skipped: 1 test needs Slurm (install: sudo bash .ci/slurm-up)",
  );
  assert.equal(
    skipSummary([{ test: "t", needs: ["slurm", "fashion-mnist"] }]),
    "skipped: 1 test needs Fashion-MNIST, Slurm (install: sudo apt-get install " +
      "dataset-fashion-mnist; sudo bash .ci/slurm-up)",
  );
  const saved = Deno.env.get("CI");
  try {
    Deno.env.set("CI", "true");
    const failing = skipFor({ name: "t", fn: () => {} }, ["slurm"]);
    assert.throws(
      () => (failing.fn as () => void)(),
      /this test needs Slurm \(sudo bash \.ci\/slurm-up\), which CI installs/,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("CI");
    else Deno.env.set("CI", saved);
  }
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  const up = ci.indexOf("bash .ci/slurm-up");
  assert.ok(
    up > 0 && up < ci.indexOf("deno task test 2>&1"),
    ".ci/run starts Slurm before the suite",
  );
  assert.match(await Deno.readTextFile(`${ROOT}.ci/slurm-up`), /^#!\/usr\/bin\/env bash\n/);
});

Deno.test("tasks/test_skips.ts prints the one line and clears the log; prints nothing when empty", async () => {
  await withTempDir("skips-cli", async (dir) => {
    const log = `${dir}/skipped.jsonl`;
    const cli = (...args: string[]) =>
      runCommand("deno", [
        "run",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        "tasks/test_skips.ts",
        `--log=${log}`,
        ...args,
      ]);
    for (const r of RECORDS) recordSkip(r, log);
    let r = await cli();
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, skipSummary(RECORDS) + "\n");
    await assert.rejects(Deno.stat(log), Deno.errors.NotFound);
    r = await cli(); // no log at all
    assert.deepEqual([r.code, r.out], [0, ""]);
    for (const r of RECORDS) recordSkip(r, log);
    r = await cli("--reset"); // before a suite: a stale log is cleared, nothing printed
    assert.deepEqual([r.code, r.out], [0, ""]);
    await assert.rejects(Deno.stat(log), Deno.errors.NotFound);
  });
});

Deno.test("tasks/test_skips.ts and tasks/notebooks.ts share one exit path: 2 and one line on an error", async () => {
  await withTempDir("skips-exit", async (dir) => {
    const run = (script: string, ...args: string[]) =>
      runCommand("deno", ["run", `--allow-read=${dir}`, `--allow-write=${dir}`, script, ...args]);
    const cases: [CommandResult, RegExp][] = [
      [await run("tasks/test_skips.ts", "--bogus"), /^test_skips: Unknown option '--bogus'/],
      [await run("tasks/test_skips.ts", `--log=${dir}`), /^test_skips: Is a directory/],
      [
        await run("tasks/notebooks.ts", "--budget=0"),
        /^notebooks: --budget must be a positive number, got "0"$/,
      ],
      [await run("tasks/notebooks.ts", "--bogus"), /^notebooks: Unknown option '--bogus'/],
    ];
    for (const [r, line] of cases) {
      assert.equal(r.code, 2, r.err);
      assert.equal(r.out, "");
      const lines = r.err.trim().split("\n");
      assert.equal(lines.length, 1, r.err);
      assert.match(lines[0], line);
    }
    const help = await run("tasks/notebooks.ts", "--help");
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /Exits 0 when all pass \(or are skipped\), 1 when one fails, 2/);
  });
});
