/**
 * The guides in docs/ work as written: each ```sh block's commands run, in
 * order, against scratch folders (every `runs/…` path, and `docs/web`, is
 * redirected there), with small overrides appended so that CI trains on a
 * few hundred images. Commands too long for CI (`deno task compare`,
 * `bench`, `notebooks`, `test`) are checked against their `--help` instead.
 * A command the runner does not know fails the test, so a guide cannot
 * quietly gain an untested step. Also: docs/configuration.md is what the
 * config schema renders, and the guides' relative links resolve.
 */
import assert from "assert";
import { configReference, loadConfig } from "../lib/config/config.ts";
import { loadPretrainConfig } from "../lib/pretrain/pretrain.ts";
import { testNeeding } from "./_optional.ts";
import { ROOT, runCommand, SMALL_PRETRAIN } from "./_cli.ts";

const GUIDES = ["distil-your-own-teacher.md", "deploy-to-web.md", "reproduce.md"];
/** Linked from the guides, written by other issues still in progress: skipped while missing. */
const PENDING_LINKS: string[] = [];

Deno.test("docs/configuration.md is the reference the config schema renders", async () => {
  const committed = await Deno.readTextFile(`${ROOT}docs/configuration.md`).catch(() => "");
  assert.ok(
    committed === configReference(),
    "docs/configuration.md is stale: run `deno task docs` to regenerate it from the schema",
  );
});

Deno.test("docs: every relative link of the guides resolves", async () => {
  for (const guide of GUIDES) {
    const text = await Deno.readTextFile(`${ROOT}docs/${guide}`);
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const found = await Deno.stat(`${ROOT}docs/${target}`).then(() => true, () => false);
      if (!found && PENDING_LINKS.includes(target)) {
        console.warn(`docs/${guide}: docs/${target} does not exist yet (pending)`);
        continue;
      }
      assert.ok(found, `docs/${guide} links to docs/${target}, which does not exist`);
    }
  }
});

Deno.test("docs: the guide's Python block is docs/examples/torch_teacher.py", async () => {
  const guide = await Deno.readTextFile(`${ROOT}docs/distil-your-own-teacher.md`);
  const block = /```python\n([\s\S]*?)```/.exec(guide)?.[1];
  assert.equal(block, await Deno.readTextFile(`${ROOT}docs/examples/torch_teacher.py`));
});

Deno.test("docs: the guide's transformers.js block is docs/examples/transformers_embed.js", async () => {
  const guide = await Deno.readTextFile(`${ROOT}docs/deploy-to-web.md`);
  const block = /```js\n(import \{ env, pipeline[\s\S]*?)```/.exec(guide)?.[1];
  assert.equal(block, await Deno.readTextFile(`${ROOT}docs/examples/transformers_embed.js`));
});

/** The commands of a guide's ```sh blocks, as argument lists (quotes, `\` continuations, comments). */
function shellCommands(markdown: string): string[][] {
  const commands: string[][] = [];
  for (const [, block] of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block.replace(/\\\n\s*/g, " ").split("\n")) {
      const words: string[] = [];
      let word: string | undefined;
      let quote: string | undefined;
      for (const ch of line) {
        if (quote) {
          if (ch === quote) quote = undefined;
          else word += ch;
        } else if (ch === '"' || ch === "'") {
          quote = ch;
          word ??= "";
        } else if (ch === "#" && word === undefined) {
          break;
        } else if (/\s/.test(ch)) {
          if (word !== undefined) words.push(word);
          word = undefined;
        } else {
          word = (word ?? "") + ch;
        }
      }
      if (word !== undefined) words.push(word);
      if (words.length) commands.push(words);
    }
  }
  return commands;
}

/** The value of `--name v` or `--name=v` in `args`. */
function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

const run = runCommand;

const SMALL_DISTILL = [
  "--backend=wasm",
  "--set=data.subset=256",
  "--set=train.steps=2",
  "--set=train.evalEvery=0",
  "--set=eval.testSubset=100",
  "--set=eval.linear.epochs=1",
  "--set=eval.mapPoints=50",
];
const SMALL_EVAL = [
  "--backend=wasm",
  "--subset=256",
  "--linear-epochs=1",
  "--set=eval.testSubset=100",
  "--set=eval.mapPoints=50",
];
/** Tasks too long for CI, and the reason: their flags are checked against `--help`. */
const CHECKED_ONLY: Record<string, string> = {
  compare: "24 distillation runs",
  bench: "minutes of timing",
  notebooks: "run on their own by deno task test",
  test: "the whole suite",
};

/** Runs a guide's commands in scratch folders; see the module doc. */
class GuideRunner {
  readonly log: string[] = [];
  #outs = 0;

  constructor(readonly runs: string, readonly tmp: string) {}

  /** `runs/x` → the scratch runs folder, `docs/web` → a scratch copy of the page. */
  map(arg: string): string {
    return arg.replace(/(^|[=:\s])runs\//g, `$1${this.runs}/`)
      .replace(/(^|[=:\s])docs\/web(-onnx)?(?=\/|$)/g, `$1${this.tmp}/web$2`);
  }

  async exec(words: string[]): Promise<void> {
    const [cmd, ...rest] = words;
    const args = rest.map((a) => this.map(a));
    this.log.push(`$ ${words.join(" ")}`);
    if (cmd === "deno" && args[0] === "task") return await this.task(args[1], args.slice(2));
    if (cmd === "python3" && args[0] === "-m" && args[1] === "http.server") {
      return await this.serve(args.slice(2));
    }
    if (cmd === "python3") {
      const r = await run("/usr/bin/python3", args);
      assert.equal(r.code, 0, `${words.join(" ")}\n${r.err}`);
      return;
    }
    if (cmd === "cp") return await this.copy(args);
    assert.fail(`the guide runs "${words.join(" ")}", which docs_test.ts cannot run or check`);
  }

  async task(name: string, args: string[]): Promise<void> {
    const line = `deno task ${name} ${args.join(" ")}`;
    if (name in CHECKED_ONLY) return await this.checkFlags(name, args);
    let extra: string[];
    if (name === "distill") {
      const config = await loadConfig(flag(args, "--config") ?? "tasks/configs/default.yaml");
      extra = [
        ...SMALL_DISTILL,
        `--set=teacher.cacheDir=${this.runs}/cache`,
        ...(flag(args, "--run-dir") ? [] : [`--run-dir=${this.map(config.runDir)}`]),
      ];
    } else if (name === "eval") {
      const student = flag(args, "--student") ?? "";
      const out = `${this.runs}/eval/${student.split("/").filter(Boolean).pop()}`;
      extra = [...SMALL_EVAL, ...(flag(args, "--out") ? [] : [`--out=${out}`])];
    } else if (name === "pretrain") {
      const c = await loadPretrainConfig(flag(args, "--config"));
      // Never the shipped teacher: an out outside runs/ goes to the scratch folder too.
      const out = c.out.startsWith("runs/") ? this.map(c.out) : `${this.runs}/out-${++this.#outs}`;
      extra = [
        ...SMALL_PRETRAIN,
        ...(flag(args, "--run-dir") ? [] : [`--run-dir=${this.map(c.runDir)}`]),
        ...(flag(args, "--out") ? [] : [`--out=${out}`]),
      ];
    } else {
      return assert.fail(`${line}: docs_test.ts does not know the task "${name}"`);
    }
    const r = await run("deno", ["task", "--quiet", name, ...args, ...extra]);
    assert.equal(r.code, 0, `${line} ${extra.join(" ")}\n${r.err}`);
  }

  /** Every flag of the command appears in the task's --help; a --config file exists. */
  async checkFlags(name: string, args: string[]): Promise<void> {
    const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
    assert.ok(tasks[name], `deno.json has no task "${name}"`);
    if (name === "test") return assert.deepEqual(args, [], "deno task test takes no arguments");
    const help = await run("deno", ["task", "--quiet", name, "--help"]);
    assert.equal(help.code, 0, help.err);
    for (const a of args.filter((a) => a.startsWith("--"))) {
      const f = a.split("=")[0];
      assert.ok(help.out.includes(f), `deno task ${name}: ${f} is not in its --help`);
    }
    const config = flag(args, "--config");
    if (config) await Deno.stat(`${ROOT}${config}`);
  }

  /** `cp [-r] src dest`, as POSIX cp does it (into `dest` when it is a folder). */
  async copy(args: string[]): Promise<void> {
    const recursive = args[0] === "-r";
    const [src, dest] = recursive ? args.slice(1) : args;
    const isDir = async (p: string) =>
      (await Deno.stat(`${ROOT}${p}`).catch(() => null))?.isDirectory;
    const target = await isDir(dest) ? `${dest}/${src.split("/").filter(Boolean).pop()}` : dest;
    const walk = async (from: string, to: string) => {
      if (!(await isDir(from))) return await Deno.copyFile(`${ROOT}${from}`, `${ROOT}${to}`);
      assert.ok(recursive, `cp ${from}: a folder needs -r`);
      await Deno.mkdir(`${ROOT}${to}`, { recursive: true });
      for await (const e of Deno.readDir(`${ROOT}${from}`)) {
        await walk(`${from}/${e.name}`, `${to}/${e.name}`);
      }
    };
    await walk(src.replace(/\/$/, ""), target.replace(/\/$/, ""));
  }

  /** `python3 -m http.server --directory dir`: the page and the export are served. */
  async serve(args: string[]): Promise<void> {
    const child = new Deno.Command("/usr/bin/python3", {
      args: ["-m", "http.server", ...args, "--bind", "127.0.0.1", "0"],
      cwd: ROOT,
      env: { PYTHONUNBUFFERED: "1" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let text = "";
      while (!/port (\d+)/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const port = /port (\d+)/.exec(text)?.[1];
      assert.ok(port, `http.server did not start: ${text}`);
      const onnx = args.some((a) => a.endsWith("/web-onnx"));
      const runtime = onnx ? ["ort.wasm.min.js", "ort-wasm-simd-threaded.wasm"] : ["tf.min.js"];
      for (const f of ["index.html", "student.js", ...runtime, "student/card.json"]) {
        const res = await fetch(`http://127.0.0.1:${port}/${f}`);
        const body = await res.text();
        assert.equal(res.status, 200, `GET /${f}`);
        if (f === "student/card.json") {
          const card = JSON.parse(body);
          assert.equal(card.format, onnx ? "onnx" : "tfjs-graph-model");
          for (const w of card.files) {
            const r = await fetch(`http://127.0.0.1:${port}/student/${w}`);
            assert.equal(r.status, 200, `GET /student/${w}`);
            await r.body?.cancel();
          }
        }
      }
    } finally {
      child.kill();
      await child.status;
      await reader.cancel().catch(() => {});
    }
  }
}

for (const guide of GUIDES) {
  // A guide that runs a Python script (not python3 -m http.server) needs PyTorch.
  const python = shellCommands(await Deno.readTextFile(`${ROOT}docs/${guide}`))
    .some(([cmd, ...args]) => cmd === "python3" && args[0] !== "-m");
  await testNeeding(python ? ["fashion-mnist", "pytorch"] : ["fashion-mnist"], {
    name: `docs/${guide}: its commands run as written`,
    sanitizeResources: false,
    fn: async () => {
      const id = crypto.randomUUID().slice(0, 8);
      const runner = new GuideRunner(`runs/test-docs-${id}`, `tests/.tmp/docs-${id}`);
      // The page's own files, as a checkout has them (the export and bundle are added by the guide).
      for (const page of ["web", "web-onnx"]) {
        await Deno.mkdir(`${ROOT}${runner.tmp}/${page}`, { recursive: true });
        for (const f of ["index.html", "student.js"]) {
          await Deno.copyFile(`${ROOT}docs/${page}/${f}`, `${ROOT}${runner.tmp}/${page}/${f}`);
        }
      }
      try {
        const commands = shellCommands(await Deno.readTextFile(`${ROOT}docs/${guide}`));
        assert.ok(commands.length > 0, `docs/${guide} has no sh commands`);
        for (const c of commands) await runner.exec(c);
        console.log(runner.log.join("\n"));
      } finally {
        await Deno.remove(`${ROOT}${runner.runs}`, { recursive: true }).catch(() => {});
        await Deno.remove(`${ROOT}${runner.tmp}`, { recursive: true }).catch(() => {});
      }
    },
  });
}
