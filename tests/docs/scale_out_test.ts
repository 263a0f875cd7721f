/**
 * docs/scale-out.md and the scripts and manifests of docs/scale-out/: each
 * file is included verbatim in the guide; the Kubernetes manifests hold only
 * fields of the batch/v1 Job API, with the Indexed-Job rules (the compare
 * Job with one index per cell of its comparison); the sbatch arrays are
 * 0-(N-1) so that the task's shard count is N, and every script passes its
 * arguments on to the task; the submit script chains afterok; and every
 * `deno task` command names a real task and flags its `--help` lists.
 */
import assert from "assert";
import { parse } from "yaml";
import { ROOT, runTask } from "../_cli.ts";
import { loadComparison } from "../../lib/train/compare.ts";

const DIR = `${ROOT}docs/scale-out`;
const GUIDE = `${ROOT}docs/scale-out.md`;

async function files(ext: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(DIR)) if (e.name.endsWith(ext)) names.push(e.name);
  return names.sort();
}

/**
 * Each Job: its task, its prepare stage or compare --merge, and its shard count (Indexed
 * Jobs); the manifest and the merges are plain Jobs. compare-job.yaml has one index per cell (24: 8 methods ×
 * 3 seeds of compare-fmnist.yaml, checked against the file).
 */
const JOBS: Record<
  string,
  { task: "prepare" | "compare"; stage?: string; merge?: boolean; shards?: number }
> = {
  "manifest-job.yaml": { task: "prepare", stage: "manifest" },
  "embed-job.yaml": { task: "prepare", stage: "embed", shards: 8 },
  "mine-job.yaml": { task: "prepare", stage: "mine", shards: 4 },
  "merge-job.yaml": { task: "prepare", stage: "merge" },
  "compare-job.yaml": { task: "compare", merge: false, shards: 24 },
  "compare-merge-job.yaml": { task: "compare", merge: true },
};

// The fields the Kubernetes batch/v1 Job API (and the core/v1 PodSpec and Container it holds)
// defines, of those a manifest may set; anything else is a typo the API server would reject.
const JOB_KEYS = ["apiVersion", "kind", "metadata", "spec"];
const JOB_SPEC_KEYS = [
  "activeDeadlineSeconds",
  "backoffLimit",
  "backoffLimitPerIndex",
  "completionMode",
  "completions",
  "managedBy",
  "manualSelector",
  "maxFailedIndexes",
  "parallelism",
  "podFailurePolicy",
  "podReplacementPolicy",
  "selector",
  "successPolicy",
  "suspend",
  "template",
  "ttlSecondsAfterFinished",
];
const POD_SPEC_KEYS = [
  "affinity",
  "containers",
  "initContainers",
  "nodeSelector",
  "restartPolicy",
  "securityContext",
  "serviceAccountName",
  "tolerations",
  "volumes",
  "imagePullSecrets",
  "priorityClassName",
  "terminationGracePeriodSeconds",
];
const CONTAINER_KEYS = [
  "name",
  "image",
  "imagePullPolicy",
  "command",
  "args",
  "workingDir",
  "env",
  "envFrom",
  "resources",
  "volumeMounts",
  "securityContext",
];

function onlyKeys(obj: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(obj)) {
    assert.ok(allowed.includes(k), `${where}: "${k}" is not a field of the Job API here`);
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

Deno.test("docs/scale-out: the Kubernetes manifests are batch/v1 Jobs, Indexed where sharded", async () => {
  assert.deepEqual(await files(".yaml"), Object.keys(JOBS).sort());
  for (const [file, { task, stage, merge, shards }] of Object.entries(JOBS)) {
    // deno-lint-ignore no-explicit-any
    const job = parse(await Deno.readTextFile(`${DIR}/${file}`)) as any;
    onlyKeys(job, JOB_KEYS, file);
    assert.equal(job.apiVersion, "batch/v1", file);
    assert.equal(job.kind, "Job", file);
    assert.match(job.metadata.name, DNS_LABEL, `${file}: metadata.name`);
    const spec = job.spec;
    onlyKeys(spec, JOB_SPEC_KEYS, `${file}: spec`);
    for (const k of ["completions", "parallelism", "backoffLimit", "backoffLimitPerIndex"]) {
      if (spec[k] !== undefined) {
        assert.ok(Number.isInteger(spec[k]) && spec[k] >= 0, `${file}: spec.${k} = ${spec[k]}`);
      }
    }
    assert.ok(spec.completions >= 1, `${file}: spec.completions`);
    assert.ok(spec.parallelism <= spec.completions, `${file}: parallelism ≤ completions`);
    const pod = spec.template.spec;
    onlyKeys(spec.template, ["metadata", "spec"], `${file}: spec.template`);
    onlyKeys(pod, POD_SPEC_KEYS, `${file}: spec.template.spec`);
    // A Job's pods may not restart Always.
    assert.ok(["Never", "OnFailure"].includes(pod.restartPolicy), `${file}: restartPolicy`);
    if (spec.backoffLimitPerIndex !== undefined) {
      // The API accepts a per-index limit only for Indexed Jobs whose pods never restart.
      assert.equal(spec.completionMode, "Indexed", `${file}: backoffLimitPerIndex`);
      assert.equal(pod.restartPolicy, "Never", `${file}: backoffLimitPerIndex`);
    }
    assert.ok(pod.containers.length >= 1, `${file}: containers`);
    const volumes = new Set((pod.volumes ?? []).map((v: { name: string }) => v.name));
    for (const c of pod.containers) {
      onlyKeys(c, CONTAINER_KEYS, `${file}: container ${c.name}`);
      assert.match(c.name, DNS_LABEL, `${file}: container name`);
      assert.equal(typeof c.image, "string", `${file}: image`);
      for (const k of ["command", "args"]) {
        assert.ok(c[k].every((a: unknown) => typeof a === "string"), `${file}: ${k} are strings`);
      }
      for (const e of c.env ?? []) assert.equal(typeof e.value, "string", `${file}: env ${e.name}`);
      for (const m of c.volumeMounts ?? []) {
        assert.ok(volumes.has(m.name), `${file}: volumeMount "${m.name}" has no volume`);
      }
      const line = [...c.command, ...c.args];
      assert.deepEqual(c.command.slice(0, 2), ["deno", "task"], file);
      assert.equal(line.filter((w) => w !== "--quiet")[2], task, `${file}: the task`);
      if (stage) assert.equal(line[line.indexOf("--stage") + 1], stage, `${file}: --stage`);
      if (merge !== undefined) assert.equal(line.includes("--merge"), merge, `${file}: --merge`);
      assert.ok(!line.includes("--shard"), `${file}: the shard comes from JOB_COMPLETION_INDEX`);
      if (shards === undefined) {
        assert.ok(
          spec.completionMode === undefined || spec.completionMode === "NonIndexed",
          `${file}: the manifest or a merge is one plain pod`,
        );
        assert.equal(spec.completions, 1, file);
        assert.ok(!line.includes("--shards"), file);
      } else {
        assert.equal(spec.completionMode, "Indexed", `${file}: completionMode`);
        assert.equal(spec.completions, shards, `${file}: completions`);
        // JOB_COMPLETION_INDEX runs 0..completions-1: the count the task needs is --shards.
        assert.equal(Number(line[line.indexOf("--shards") + 1]), spec.completions, file);
        if (task === "compare") {
          // One index per cell: every pod runs exactly one (method, seed).
          const config = line[line.indexOf("--config") + 1];
          const cells = (await loadComparison(`${ROOT}${config}`)).runs.length;
          assert.equal(spec.completions, cells, `${file}: completions = the ${cells} cells`);
        }
      }
    }
  }
});

/** `#SBATCH` directives, as sbatch reads them: before the first line that is not a comment. */
function directives(script: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = script.split("\n");
  assert.ok(lines[0].startsWith("#!"), "an sbatch script starts with #!");
  for (const line of lines.slice(1)) {
    if (line.trim() === "") continue;
    if (!line.startsWith("#")) break;
    const m = /^#SBATCH\s+(--[\w-]+)(?:[= ](.*))?$/.exec(line);
    if (m) out.set(m[1], m[2] ?? "");
  }
  return out;
}

/** The words of each `deno task` command of a text (shell `\` continuations joined). */
function taskCommands(text: string): string[][] {
  return text.replace(/\\\n\s*/g, " ").split("\n").filter((l) =>
    /^\s*(\S+=\S+\s+)*deno task /.test(l)
  )
    .map((l) => l.trim().replace(/^(\S+=\S+\s+)*/, "").split(/\s+/));
}

const STAGE: Record<string, { task: string; stage?: string; array: boolean; merge?: boolean }> = {
  "manifest.sbatch": { task: "prepare", stage: "manifest", array: false },
  "embed.sbatch": { task: "prepare", stage: "embed", array: true },
  "mine.sbatch": { task: "prepare", stage: "mine", array: true },
  "merge.sbatch": { task: "prepare", stage: "merge", array: false },
  "distill.sbatch": { task: "distill", array: false },
  "compare.sbatch": { task: "compare", array: true, merge: false },
  "compare-merge.sbatch": { task: "compare", array: false, merge: true },
};

Deno.test("docs/scale-out: sbatch arrays are 0-(N-1) and take their shard from Slurm", async () => {
  assert.deepEqual(await files(".sbatch"), Object.keys(STAGE).sort());
  for (const [file, want] of Object.entries(STAGE)) {
    const text = await Deno.readTextFile(`${DIR}/${file}`);
    const d = directives(text);
    assert.ok(d.has("--job-name"), `${file}: --job-name`);
    const commands = taskCommands(text);
    assert.equal(commands.length, 1, `${file}: one deno task command`);
    const words = commands[0];
    assert.equal(words[words.indexOf("task") + (words.includes("--quiet") ? 2 : 1)], want.task);
    // `sbatch script.sbatch --set=...` reaches the task (tests/scale/slurm_test.ts relies on it).
    assert.equal(words.at(-1), '"$@"', `${file}: arguments after the script go to the task`);
    if (want.stage) assert.equal(words[words.indexOf("--stage") + 1], want.stage, file);
    if (want.merge !== undefined) assert.equal(words.includes("--merge"), want.merge, file);
    const shard = words.indexOf("--shard");
    if (!want.array) {
      assert.equal(d.get("--array"), undefined, `${file}: one task, not an array`);
      assert.equal(shard, -1, file);
      continue;
    }
    // SLURM_ARRAY_TASK_COUNT is the number of tasks: ids must run 0..N-1 for i < N to hold.
    const m = /^0-(\d+)(%\d+)?$/.exec(d.get("--array") ?? "");
    assert.ok(m, `${file}: --array=${d.get("--array")} is not 0-(N-1)[%max]`);
    const n = Number(m[1]) + 1;
    if (shard === -1) {
      // The task reads SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT itself.
      assert.ok(!words.includes("--shards"), `${file}: --shards is for Indexed Jobs`);
    } else {
      assert.equal(words[shard + 1], `"$SLURM_ARRAY_TASK_ID/${n}"`, `${file}: --shard i/${n}`);
    }
    assert.ok(d.has("--requeue"), `${file}: shards are idempotent, so a requeue is safe`);
  }
});

Deno.test("docs/scale-out: submit.sh chains each stage with afterok on the one before", async () => {
  const text = await Deno.readTextFile(`${DIR}/submit.sh`);
  const jobs = new Map<string, { file: string; after?: string }>();
  const after = new Map<string, string | undefined>();
  for (const line of text.split("\n")) {
    const m = /^(?:(\w+)=\$\()?sbatch --parsable (?:--dependency=(\S+) )?(\S+?)\)?$/.exec(line);
    if (!m) continue;
    const [, name, dep, path] = m;
    const file = path.replace("docs/scale-out/", "");
    await Deno.stat(`${DIR}/${file}`);
    let on: string | undefined;
    if (dep) {
      const d = /^afterok:"?\$(\w+)"?$/.exec(dep);
      assert.ok(d, `submit.sh: ${file} depends by "${dep}", not afterok on one job`);
      on = jobs.get(d[1])?.file;
      assert.ok(on, `submit.sh: ${file} depends on $${d[1]}, submitted nowhere before`);
    }
    if (name) jobs.set(name, { file, after: on });
    after.set(file, on);
  }
  assert.deepEqual(
    Object.fromEntries(after),
    {
      "manifest.sbatch": undefined,
      "embed.sbatch": "manifest.sbatch",
      "mine.sbatch": "embed.sbatch",
      "merge.sbatch": "mine.sbatch",
      "distill.sbatch": "merge.sbatch",
      "compare.sbatch": undefined,
      "compare-merge.sbatch": "compare.sbatch",
    },
  );
});

Deno.test("docs/scale-out.md: includes every script and manifest verbatim; links resolve", async () => {
  const guide = await Deno.readTextFile(GUIDE);
  const blocks = [...guide.matchAll(/```(?:bash|yaml)\n([\s\S]*?)```/g)].map((m) => m[1]);
  for (const file of [...await files(".sbatch"), ...await files(".yaml"), "submit.sh"]) {
    const text = await Deno.readTextFile(`${DIR}/${file}`);
    assert.ok(blocks.includes(text), `docs/scale-out.md does not include scale-out/${file} as is`);
    assert.ok(
      guide.includes(`](scale-out/${file})`),
      `docs/scale-out.md links no scale-out/${file}`,
    );
  }
  for (const [, target] of guide.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
    if (/^[a-z]+:/.test(target)) continue;
    await Deno.stat(`${ROOT}docs/${target}`).catch(() =>
      assert.fail(`docs/scale-out.md links to docs/${target}, which does not exist`)
    );
  }
  for (const phrase of ["measured on a loaded 2-core machine", "tfjs has no multi-device"]) {
    assert.ok(guide.toLowerCase().includes(phrase.toLowerCase()), phrase);
  }
});

Deno.test("docs/scale-out: every deno task command names a real task and flags its --help lists", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
  const texts = [await Deno.readTextFile(GUIDE)];
  for (const f of [...await files(".sbatch"), "submit.sh"]) {
    texts.push(await Deno.readTextFile(`${DIR}/${f}`));
  }
  const commands = texts.flatMap(taskCommands);
  // The Kubernetes containers' command + args, as one line.
  for (const f of await files(".yaml")) {
    // deno-lint-ignore no-explicit-any
    const job = parse(await Deno.readTextFile(`${DIR}/${f}`)) as any;
    for (const c of job.spec.template.spec.containers) commands.push([...c.command, ...c.args]);
  }
  assert.ok(commands.length >= 10, `found only ${commands.length} deno task commands`);
  const help = new Map<string, string>();
  for (const words of commands) {
    const rest = words.slice(words.indexOf("task") + 1).filter((w) => w !== "--quiet");
    const [name, ...args] = rest;
    assert.ok(tasks[name], `"${words.join(" ")}": deno.json has no task "${name}"`);
    if (!help.has(name)) {
      const r = await runTask(name, ["--help"]);
      assert.equal(r.code, 0, r.err);
      help.set(name, r.out);
    }
    for (const a of args.filter((a) => a.startsWith("--"))) {
      const flag = a.split("=")[0];
      assert.ok(
        new RegExp(`${flag}(?![\\w-])`).test(help.get(name)!),
        `"${words.join(" ")}": ${flag} is not in deno task ${name} --help`,
      );
    }
    // A config path, or the default of a "${VAR:-path}", exists.
    const i = args.indexOf("--config");
    if (i >= 0) {
      const path = args[i + 1].replace(/^"?\$\{\w+:-(.*)\}"?$/, "$1").replace(/^"|"$/g, "");
      await Deno.stat(`${ROOT}${path}`);
    }
  }
});
