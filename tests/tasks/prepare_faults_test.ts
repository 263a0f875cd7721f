/**
 * A prepare task killed mid-write, as a Slurm requeue or a Kubernetes retry
 * meets it: embed shard 1 of 3 is SIGKILLed while its output is being
 * written (its temporary file exists, the rename has not happened), and the
 * whole array is run again. Only shard 1 is rebuilt (the others exit at
 * once, their files untouched), the killed writer's temporary file is
 * swept, and the shards and the merged cache are the bytes of an
 * uninterrupted run. And a dataset changed under finished shards: one
 * edited image changes the key (the manifest hashes every image), so the
 * old shards are refused as foreign and rebuilt; touched files do not.
 */
import assert from "assert";
import { PNG } from "pngjs";
import { IGNORE_DEBIAN_FASHION_MNIST } from "../_helpers.ts";
import { ROOT, runTask } from "../_cli.ts";
import { assertSameFile, preparedFlags, refusal, taskRunArgs } from "../_prepare_cache.ts";

/** Merge without mining: a random sampler needs no neighbour lists. */
const flags = (dir: string) => [...preparedFlags(dir), "--set=data.sampler.kind=random"];

async function prepare(dir: string, args: string[]) {
  const r = await runTask("prepare", [...flags(dir), ...args]);
  assert.equal(r.code, 0, `prepare ${args.join(" ")}: ${r.err}`);
  return r;
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

/**
 * Run embed shard `shard` as the task's own process and SIGKILL it as soon as its temporary
 * output file appears (inotify, via Deno.watchFs). A writer that renames before the kill
 * lands is not a kill mid-write: its output is removed and the run tried again.
 *
 * @returns The temporary file the killed writer left, relative to the repository root.
 */
async function killWhileWriting(dir: string, shard: string, tries = 5): Promise<string> {
  const folder = `${ROOT}${dir}/prepare`;
  const name = `embed-${shard.replace("/", "of")}.safetensors`;
  const temp = new RegExp(`/\\.${name.replaceAll(".", "\\.")}\\.tmp-(\\d+)-[0-9a-f]{8}$`);
  const run = await taskRunArgs("prepare");
  const lost: string[] = [];
  for (let attempt = 0; attempt < tries; attempt++) {
    const watcher = Deno.watchFs(folder, { recursive: false });
    const child = new Deno.Command("deno", {
      args: [...run, ...flags(dir), "--stage", "embed", "--shard", shard],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let seen: string | undefined;
    for await (const event of watcher) {
      const m = event.paths.map((p) => temp.exec(p)).find((x) => x);
      if (event.kind === "create" && m) {
        child.kill("SIGKILL");
        assert.equal(Number(m[1]), child.pid, "the temporary file is the child's");
        seen = m[0].slice(1);
        break;
      }
    }
    const { signal, stderr } = await output.finally(() => watcher.close());
    if (seen && signal === "SIGKILL" && !(await exists(`${folder}/${name}`))) {
      const size = (await Deno.stat(`${folder}/${seen}`)).size;
      console.log(`killed embed ${shard} mid-write on try ${attempt + 1}: ${seen}, ${size} bytes`);
      return `${dir}/prepare/${seen}`;
    }
    lost.push(`try ${attempt + 1}: ${signal ?? "exit"}: ${new TextDecoder().decode(stderr)}`);
    await Deno.remove(`${folder}/${name}`).catch(() => {});
  }
  throw new Error(`no kill landed mid-write in ${tries} tries:\n${lost.join("\n")}`);
}

Deno.test({
  name: "deno task prepare: an embed shard killed mid-write is the only one rebuilt, same bytes",
  ignore: IGNORE_DEBIAN_FASHION_MNIST,
  fn: async () => {
    const runs = `runs/test-prepare-faults-${crypto.randomUUID().slice(0, 8)}`;
    const dir = `${runs}/cache`;
    const shard = (i: number) => `${dir}/prepare/embed-${i}of3.safetensors`;
    try {
      // The uninterrupted run: 3 shards and the merge; kept aside to compare with.
      for (const i of [0, 1, 2]) await prepare(dir, ["--stage", "embed", "--shard", `${i}/3`]);
      const merged = (await prepare(dir, ["--stage", "merge"])).err;
      const teacher = /"([^"]*\/teacher-[0-9a-f]{16}\.safetensors)"/.exec(merged)?.[1];
      assert.ok(teacher, merged);
      await Deno.mkdir(`${ROOT}${runs}/clean`);
      for (const p of [shard(1), teacher]) {
        await Deno.copyFile(`${ROOT}${p}`, `${ROOT}${runs}/clean/${p.split("/").pop()}`);
      }
      const mtimes = async () =>
        await Promise.all([0, 2].map(async (i) => (await Deno.stat(`${ROOT}${shard(i)}`)).mtime));
      const before = await mtimes();

      // Shard 1 lost (a node died), then its rerun killed while writing.
      await Deno.remove(`${ROOT}${shard(1)}`);
      await Deno.remove(`${ROOT}${teacher}`);
      const temp = await killWhileWriting(dir, "1/3");
      // The sweeper spares temporary files younger than a minute (a writer between
      // creating and locking its file); a requeue comes later than that.
      const old = new Date(Date.now() - 5 * 60_000);
      await Deno.utime(`${ROOT}${temp}`, old, old);

      // The whole array again.
      const again = await prepare(dir, ["--stage", "embed", "--workers", "3"]);
      for (const i of [0, 2]) {
        assert.match(again.err, new RegExp(`prepare embed ${i}/3: done already, `), again.err);
      }
      assert.match(again.err, /prepare embed 1\/3: 96 images in /, again.err);
      const removed = again.err.split("\n").filter((l) =>
        /: removed ".*", left by a killed/.test(l)
      );
      assert.equal(removed.length, 1, again.err);
      assert.ok(removed[0].includes(`"${temp}"`), removed[0]);
      assert.equal(await exists(`${ROOT}${temp}`), false, `${temp} was not swept`);
      assert.deepEqual(await mtimes(), before, "a finished shard was rewritten");

      await prepare(dir, ["--stage", "merge"]);
      // Shards carry no timestamp: the very bytes.
      const [a, b] = await Promise.all(
        [shard(1), `${runs}/clean/embed-1of3.safetensors`].map((p) => Deno.readFile(`${ROOT}${p}`)),
      );
      assert.ok(a.length === b.length && a.every((x, i) => x === b[i]), "shard 1 differs");
      await assertSameFile(teacher, `${runs}/clean/${teacher.split("/").pop()}`);
    } finally {
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
    }
  },
});

/** A 28×28 grey PNG whose pixels are a function of `i` (and `edit`, for an edited copy). */
function png(i: number, edit = 0): Uint8Array {
  const img = new PNG({ width: 28, height: 28 });
  for (let p = 0; p < 28 * 28; p++) {
    const v = (p * 7 + i * 31 + (p === 100 ? edit : 0)) % 256;
    img.data.set([v, v, v, 255], p * 4);
  }
  return new Uint8Array(PNG.sync.write(img));
}

Deno.test({
  name:
    "deno task prepare: an edited image changes the key, its old shards are refused and rebuilt",
  ignore: IGNORE_DEBIAN_FASHION_MNIST,
  fn: async () => {
    const runs = `runs/test-prepare-edit-${crypto.randomUUID().slice(0, 8)}`;
    const root = `${runs}/images`;
    const dir = `${runs}/cache`;
    const data = [
      `--set=data.train={name: folder, root: ${root}, channels: 1}`,
      "--set=data.subset=null",
    ];
    const run = (args: string[]) => runTask("prepare", [...flags(dir), ...data, ...args]);
    const ok = async (args: string[]) => {
      const r = await run(args);
      assert.equal(r.code, 0, r.err);
      return r.err;
    };
    try {
      for (const [c, name] of ["a", "b"].entries()) {
        await Deno.mkdir(`${ROOT}${root}/${name}`, { recursive: true });
        for (let i = 0; i < 32; i++) {
          await Deno.writeFile(`${ROOT}${root}/${name}/${i}.png`, png(32 * c + i));
        }
      }
      const first = await ok(["--stage", "embed", "--workers", "2"]);
      assert.match(first, /dataset manifest: hashed 64 images in /);
      assert.match(first, /prepare embed 1\/2: 32 images in /);

      // Every file touched, no pixel changed: a new fingerprint, the same manifest key.
      const later = new Date(Date.now() + 60_000);
      for (const name of ["a", "b"]) {
        for (let i = 0; i < 32; i++) {
          await Deno.utime(`${ROOT}${root}/${name}/${i}.png`, later, later);
        }
      }
      const touched = await ok(["--stage", "embed", "--shard", "1/2"]);
      assert.match(touched, /dataset manifest: hashed 64 images in /);
      assert.match(touched, /prepare embed 1\/2: done already/);

      // One pixel of one image in shard 0's block: every key changes.
      await Deno.writeFile(`${ROOT}${root}/a/5.png`, png(5, 1));
      const line = refusal(await run(["--stage", "mine", "--shard", "0/1"]));
      assert.match(line, /foreign embed shard 0\/2 ".*embed-0of2\.safetensors": key [0-9a-f]{16}…/);
      for (const i of [0, 1]) {
        const again = await ok(["--stage", "embed", "--shard", `${i}/2`]);
        assert.match(again, new RegExp(`prepare embed ${i}/2: 32 images in `), again);
      }
      await ok(["--stage", "mine", "--shard", "0/1"]);
    } finally {
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
    }
  },
});
