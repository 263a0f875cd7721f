/**
 * Least privilege: every task in deno.json runs with scoped grants, read
 * straight from deno.json so that this test cannot drift from it. The
 * grants are checked against the policy (read and write only the data,
 * cache and run folders; only the environment variables something reads;
 * the network only for the dataset hosts, and only on the tasks that can
 * download), then each task runs a tiny real job under exactly those grants
 * (`deno task <name>`), and a step outside them fails with one line that
 * says which grant to widen.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { CIFAR_LAYOUT } from "../../lib/data/cifar.ts";
import { IDX_DATASETS } from "../../lib/data/_resolve.ts";
import { ROOT, runTask, SMALL_PRETRAIN, smallDistill } from "../_cli.ts";

const TASKS: Record<string, string> = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;

/** The `--allow-x=a,b` flags of a task's `deno run` line: flag → list (empty: unscoped). */
function grants(task: string): Map<string, string[]> {
  const words = TASKS[task].split(/\s+/);
  assert.equal(words[0], "deno", task);
  assert.equal(words[1], "run", task);
  const out = new Map<string, string[]>();
  for (const w of words) {
    assert.ok(w !== "-A" && !w.startsWith("--allow-all"), `${task}: ${w}`);
    if (!w.startsWith("--allow-")) continue;
    const [flag, list] = w.split("=");
    out.set(flag, list ? list.split(",") : []);
  }
  return out;
}

/** bench's output folder in this test (bench/ is git-ignored output). */
const BENCH_OUT = "bench/test-permissions";

/** onnxruntime-node's native binaries: the only --allow-ffi, for ONNX teachers (and bench). */
const ORT_BIN = "node_modules/.deno/onnxruntime-node@1.30.0/node_modules/onnxruntime-node/bin";
const FFI_TASKS = ["distill", "eval", "compare", "bench", "prepare"];

/** Tasks that can download a dataset, and so may reach its host. */
const DOWNLOADERS = ["distill", "eval", "compare", "pretrain", "prepare"];
const HOSTS = [
  ...Object.values(IDX_DATASETS).map((d) => d.url),
  ...Object.values(CIFAR_LAYOUT).map((d) => d.url),
].map((u) => new URL(u).hostname);

/** Where each variable is read; a grant for a variable nobody reads is a failure. */
const ENV_READERS: Record<string, string> = {
  COSS_BACKEND: "lib/backend.ts",
  COSS_WASM_THREADS: "lib/backend.ts",
  XDG_RUNTIME_DIR: "lib/backend.ts",
  HOME: "lib/data/_resolve.ts",
  XDG_CACHE_HOME: "lib/data/_resolve.ts",
  LOG_TOKENS: "npm:yaml (parse/parser.js reads it on every parse)",
  LOG_STREAM: "npm:yaml (compose/composer.js reads it on every parse)",
};

/** prepare's and compare's shard index may come from the scheduler: these variables, read where named. */
const SHARD_ENV: Record<string, string> = {
  SLURM_ARRAY_TASK_ID: "tasks/_shard_env.ts",
  SLURM_ARRAY_TASK_COUNT: "tasks/_shard_env.ts",
  JOB_COMPLETION_INDEX: "tasks/_shard_env.ts",
};
/** The tasks that run as array jobs (their shard from SHARD_ENV). */
const SHARDED = ["prepare", "compare"];

async function yamlSource(): Promise<string> {
  const dir = `${ROOT}node_modules/.deno`;
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.startsWith("yaml@")) continue;
    const base = `${dir}/${e.name}/node_modules/yaml/dist`;
    return await Deno.readTextFile(`${base}/parse/parser.js`) +
      await Deno.readTextFile(`${base}/compose/composer.js`);
  }
  throw new Error("npm:yaml is not installed under node_modules/.deno");
}

Deno.test("deno.json: every task's grants are scoped, and net is only for dataset hosts", async () => {
  const all = [
    "distill",
    "eval",
    "compare",
    "pretrain",
    "prepare",
    "bench",
    "notebooks",
    "docs",
    "gpu-bundle",
  ];
  for (const task of all) {
    assert.ok(TASKS[task], `deno.json has no "${task}" task`);
    const g = grants(task);
    for (const [flag, list] of g) assert.ok(list.length > 0, `${task}: ${flag} is unscoped`);
    const ffi = FFI_TASKS.includes(task) ? [ORT_BIN] : undefined;
    assert.deepEqual(g.get("--allow-ffi"), ffi, `${task}: --allow-ffi`);
    const net = g.get("--allow-net");
    if (!DOWNLOADERS.includes(task)) {
      assert.equal(net, undefined, `${task} cannot download, so it must not reach the network`);
      continue;
    }
    assert.deepEqual(net?.toSorted(), [...new Set(HOSTS)].sort(), `${task}: --allow-net`);
    assert.deepEqual(g.get("--allow-read"), [".", "/usr/share/datasets", "$HOME/.cache/coss"]);
    const write = task === "pretrain"
      ? ["runs", "lib/teachers", "$HOME/.cache/coss"] // lib/teachers: regenerating the bundled one
      : ["runs", "$HOME/.cache/coss"];
    assert.deepEqual(g.get("--allow-write"), write, `${task}: --allow-write`);
    const env = [
      ...Object.keys(ENV_READERS),
      ...(SHARDED.includes(task) ? Object.keys(SHARD_ENV) : []),
    ];
    assert.deepEqual(g.get("--allow-env")?.toSorted(), env.sort(), task);
    // prepare --workers starts its shards as `deno task prepare` children, and nothing else.
    const run = task === "prepare" ? ["deno"] : undefined;
    assert.deepEqual(g.get("--allow-run"), run, `${task}: --allow-run`);
    // hostname: the run-dir lock records its holder's host (distill and compare write run dirs).
    const sys = ["distill", "compare"].includes(task) ? ["hostname"] : undefined;
    assert.deepEqual(g.get("--allow-sys"), sys, `${task}: --allow-sys`);
    assert.deepEqual([...g.keys()].sort(), [
      "--allow-env",
      ...(ffi ? ["--allow-ffi"] : []),
      "--allow-net",
      "--allow-read",
      ...(run ? ["--allow-run"] : []),
      ...(sys ? ["--allow-sys"] : []),
      "--allow-write",
    ]);
  }
  assert.deepEqual(
    grants("docs"),
    new Map([["--allow-read", ["."]], [
      "--allow-write",
      ["docs/configuration.md"],
    ]]),
  );
  // The granted folder is where onnxruntime-node's binding is.
  await Deno.stat(`${ROOT}${ORT_BIN}/napi-v6`);
  // Every granted variable is read where ENV_READERS says.
  const yaml = await yamlSource();
  for (const [v, where] of Object.entries({ ...ENV_READERS, ...SHARD_ENV })) {
    const text = where.startsWith("npm:yaml") ? yaml : await Deno.readTextFile(`${ROOT}${where}`);
    assert.ok(text.includes(v), `${v} is granted but not read in ${where}`);
  }
});

const task = runTask;

/** A refusal: non-zero, and the last line of stderr is the one error line naming the grant. */
function assertDenied(r: { code: number; err: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, r.err);
  const lines = r.err.trim().split("\n");
  assert.equal(lines.filter((l) => l.startsWith("error:")).length, 1, r.err);
  assert.match(lines.at(-1)!, pattern);
}

await testNeeding(["fashion-mnist"], {
  name: "each task does a tiny real job under exactly its deno.json grants, and nothing more",
  fn: async () => {
    const id = crypto.randomUUID().slice(0, 8);
    const started = Date.now() - 1000;
    const runs = `runs/test-perm-${id}`;
    const tmp = `tests/.tmp/perm-${id}`;
    await Deno.mkdir(`${ROOT}${tmp}`, { recursive: true });
    const small = smallDistill(`${runs}/cache`);
    const cmp = (runDir: string) =>
      "base: ../../../tasks/configs/default.yaml\n" +
      `runDir: ${runDir}\nseeds: [0]\nimages: 64\nmethods:\n  coss: {name: coss}\nset:\n` +
      [
        "backend=wasm",
        `teacher.cacheDir=${runs}/cache`,
        "data.subset=256",
        "data.sampler.kind=random",
        "data.sampler.batchSize=32",
        "student.args.width=0.125",
        "train.evalEvery=0",
        "eval.testSubset=100",
        "eval.linear.epochs=1",
        "eval.mapPoints=0",
        "eval.baselines=false",
      ].map((s) => `  - ${s}\n`).join("");
    await Deno.writeTextFile(`${ROOT}${tmp}/cmp.yaml`, cmp(`${runs}/cmp`));
    await Deno.writeTextFile(`${ROOT}${tmp}/cmp-outside.yaml`, cmp(`${tmp}/cmp`));
    const pretrain = SMALL_PRETRAIN;
    try {
      // Allowed: a tiny job of each task.
      const d = await task("distill", [...small, `--run-dir=${runs}/d`]);
      assert.equal(d.code, 0, d.err);
      const [e, c, p, b, n] = await Promise.all([
        task("eval", [
          "--student",
          `${runs}/d`,
          "--backend=wasm",
          "--data=fashion-mnist",
          "--subset=256",
          "--linear-epochs=1",
          "--set=eval.testSubset=100",
          "--set=eval.mapPoints=0",
          "--out",
          `${runs}/e`,
        ]),
        task("compare", [`--config=${tmp}/cmp.yaml`]),
        task("pretrain", [...pretrain, `--run-dir=${runs}/p`, `--out=${runs}/p/teacher`]),
        // bench may write only bench/, which this test may not clean: one fixed folder there.
        task("bench", ["--quick", "--no-torch", "--backends=wasm", `--out=${BENCH_OUT}`]),
        task("notebooks", ["--help"]), // CI runs every notebook under these grants
      ]);
      for (const [name, r] of Object.entries({ e, c, p, b, n })) {
        assert.equal(r.code, 0, name + r.err);
      }
      for (
        const f of [
          "d/student-tfjs/card.json",
          "e/report.json",
          "cmp/results.md",
          "p/teacher/card.json",
        ]
      ) await Deno.stat(`${ROOT}${runs}/${f}`);
      const benchResults = await Deno.stat(`${ROOT}${BENCH_OUT}/results.json`);
      assert.ok(benchResults.mtime!.getTime() >= started, "bench wrote no fresh results.json");

      // Denied: one line naming the grant of that task and how to widen it.
      const widen = (kind: string, task: string) =>
        new RegExp(
          `Requires ${kind} access to .*; deno task ${task} is granted only --allow-${kind}=.*` +
            `add .* to --allow-${kind} in the "${task}" task of deno\\.json$`,
        );
      const denied = await Promise.all([
        task("distill", [...small, `--run-dir=${tmp}/outside`]),
        task("distill", ["--config=/etc/hostname"]),
        task("distill", [
          ...small,
          `--run-dir=${runs}/net`,
          "--set=data.train={name: mnist, useSystemData: false, mirror: 'http://example.invalid/', " +
          `cacheDir: ${runs}/downloads}`,
        ]),
        task("eval", ["--student", `${runs}/d`, "--out", `${tmp}/eval`]),
        task("compare", [`--config=${tmp}/cmp-outside.yaml`]),
        task("pretrain", [...pretrain, `--run-dir=${tmp}/p`]),
      ]);
      assertDenied(denied[0], widen("write", "distill"));
      assertDenied(denied[1], widen("read", "distill"));
      assertDenied(
        denied[2],
        /Requires net access to "example\.invalid.*--allow-net=fashion-mnist/,
      );
      assertDenied(denied[3], widen("write", "eval"));
      assertDenied(denied[4], widen("write", "compare"));
      assertDenied(denied[5], widen("write", "pretrain"));
      for (const p of ["outside", "eval", "cmp", "p"]) {
        assert.ok(!(await Deno.stat(`${ROOT}${tmp}/${p}`).catch(() => false)), p);
      }
    } finally {
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
      await Deno.remove(`${ROOT}${tmp}`, { recursive: true }).catch(() => {});
    }
  },
});
