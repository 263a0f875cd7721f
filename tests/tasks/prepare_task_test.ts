/**
 * `deno task prepare` as a scheduler runs it, under its deno.json grants, on
 * 256 Fashion-MNIST images and the small bundled teacher (64-d), with an embed
 * batch of 32 and mining blocks of 64 so that every shard count here splits
 * the work: sharded embed, mine and merge write the very cache files of a
 * single-process distill (same bytes; only the `created` timestamp differs),
 * whatever the shard count; distill afterwards is a cache hit; a finished
 * shard is not redone; a missing or foreign shard is one line naming it and
 * the command that rebuilds it.
 */
import assert from "assert";
import { IGNORE_DEBIAN_FASHION_MNIST } from "../_helpers.ts";
import { ROOT, runTask } from "../_cli.ts";
import {
  assertSameCache,
  cacheFiles,
  preparedFlags,
  refusal,
  shortDistillFlags,
} from "../_prepare_cache.ts";

/** The config flags of every run here; `dir` is teacher.cacheDir. */
const small = (dir: string, teacher = "fashion-mnist") => preparedFlags(dir, { teacher });

/** One distillation step on the cache in `dir`, run dir `runDir`, with `extra` flags. */
const oneStep = (dir: string, runDir: string, extra: string[] = []) =>
  runTask("distill", [...small(dir), ...extra, ...shortDistillFlags(runDir)]);

async function prepare(dir: string, args: string[], env: Record<string, string> = {}) {
  const r = await runTask("prepare", [...small(dir), ...args], env);
  assert.equal(r.code, 0, `prepare ${args.join(" ")}: ${r.err}`);
  return r;
}

Deno.test({
  name: "deno task prepare: shards merge into the single-process cache, bit for bit",
  ignore: IGNORE_DEBIAN_FASHION_MNIST,
  fn: async (t) => {
    const runs = `runs/test-prepare-${crypto.randomUUID().slice(0, 8)}`;
    const sharded = `${runs}/sharded`;
    try {
      await t.step("embed 3 shards, mine 2, merge: a one-line summary", async () => {
        for (const i of [0, 1, 2]) {
          const r = await prepare(sharded, ["--stage", "embed", "--shard", `${i}/3`]);
          assert.match(r.err, new RegExp(`prepare embed ${i}/3: (96|64) images in `));
        }
        for (const q of [0, 1]) {
          const r = await prepare(sharded, ["--stage=mine", `--shard=${q}/2`]);
          assert.match(r.err, new RegExp(`prepare mine ${q}/2: 128 queries in `));
        }
        const r = await prepare(sharded, ["--stage", "merge"]);
        const lines = r.err.trim().split("\n").filter((l) => l.startsWith("prepare merge"));
        assert.equal(lines.length, 1, r.err);
        assert.match(
          lines[0],
          /256 images × 64-d from 3 embed shards, 256×31 neighbours from 2 mine shards → /,
        );
      });

      await t.step("the same files as a single-process distill", async () => {
        const single = `${runs}/single`;
        const d = await oneStep(single, `${runs}/d-single`);
        assert.equal(d.code, 0, d.err);
        assert.match(d.err, /teacher cache: miss/);
        assert.match(d.err, /neighbour cache: miss/);
        await assertSameCache(single, sharded, ["neighbours", "teacher"]);
      });

      await t.step("distill after the merge is a cache hit and recomputes nothing", async () => {
        const d = await oneStep(sharded, `${runs}/d-sharded`);
        assert.equal(d.code, 0, d.err);
        assert.match(d.err, /teacher cache: hit /);
        assert.match(d.err, /neighbour cache: hit /);
        assert.doesNotMatch(d.err, /miss|stale|corrupt|computing|mining/);
      });

      await t.step("another shard count gives the same bytes (--workers)", async () => {
        const other = `${runs}/other`;
        const e = await prepare(other, ["--stage", "embed", "--workers", "2"]);
        assert.match(e.err, /prepare embed: 2 shards done by 2 workers/);
        const m = await prepare(other, ["--stage", "mine", "--shards", "3", "--workers", "3"]);
        assert.match(m.err, /prepare mine: 3 shards done by 3 workers/);
        await prepare(other, ["--stage", "merge"]);
        await assertSameCache(`${runs}/single`, other, ["neighbours", "teacher"]);
      });

      await t.step(
        "a finished shard exits at once, from Slurm's or Kubernetes' index",
        async () => {
          const path = `${ROOT}${sharded}/prepare/embed-1of3.safetensors`;
          const before = await Deno.stat(path);
          const slurm = await prepare(sharded, ["--stage", "embed"], {
            SLURM_ARRAY_TASK_ID: "1",
            SLURM_ARRAY_TASK_COUNT: "3",
          });
          assert.match(slurm.err, /prepare embed 1\/3: done already, ".*embed-1of3\.safetensors"/);
          const k8s = await prepare(sharded, ["--stage", "mine", "--shards", "2"], {
            JOB_COMPLETION_INDEX: "0",
          });
          assert.match(k8s.err, /prepare mine 0\/2: done already/);
          const again = await prepare(sharded, ["--stage", "merge"]);
          assert.match(again.err, /prepare merge: done already/);
          assert.equal((await Deno.stat(path)).mtime?.getTime(), before.mtime?.getTime());
        },
      );

      await t.step("a missing mine shard: merge names it and its command", async () => {
        for (const name of await cacheFiles(sharded)) {
          await Deno.remove(`${ROOT}${sharded}/${name}`);
        }
        await Deno.remove(`${ROOT}${sharded}/prepare/mine-k31-1of2.safetensors`);
        const r = await runTask("prepare", [...small(sharded), "--stage", "merge"]);
        const line = refusal(r);
        assert.match(line, /missing mine shard 1\/2 \(".*mine-k31-1of2\.safetensors"\)/);
        assert.match(line, /rebuild it with: deno task prepare .*--stage mine --shard 1\/2$/);
        assert.deepEqual(await cacheFiles(sharded), [], "a failed merge wrote a cache file");
      });

      await t.step("a shard of another teacher is refused, naming it and its command", async () => {
        // The default bundled teacher (128-d) writes embed shard 1/3 into this cache folder.
        await prepare(sharded, [
          "--set=teacher.name=fmnist-resnet18-w025",
          "--stage",
          "embed",
          "--shard",
          "1/3",
        ]);
        const mine = refusal(
          await runTask("prepare", [...small(sharded), "--stage", "mine", "--shard", "1/2"]),
        );
        assert.match(
          mine,
          /foreign embed shard 1\/3 ".*embed-1of3\.safetensors": key [0-9a-f]{16}…/,
        );
        assert.match(mine, /rebuild it with: deno task prepare .*--stage embed --shard 1\/3$/);
        await Deno.stat(`${ROOT}${sharded}/prepare/mine-k31-1of2.safetensors`).then(
          () => assert.fail("a mine shard was written from a foreign embed shard"),
          (e) => assert.ok(e instanceof Deno.errors.NotFound),
        );
      });
    } finally {
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "deno task prepare: the multi-view cache (teacher.views) merges into distill's views file",
  ignore: IGNORE_DEBIAN_FASHION_MNIST,
  fn: async () => {
    const runs = `runs/test-prepare-views-${crypto.randomUUID().slice(0, 8)}`;
    const views = [
      "--set=teacher.views=2",
      "--set=teacher.cacheDtype=float16",
      "--set=data.sampler.kind=random",
      "--set=data.sampler.batchSize=32",
      "--set=data.augment=[{op: randomResizedCrop, size: 28, scale: [0.5, 1]}, " +
      "{op: horizontalFlip, p: 0.5}, {op: normalize, mean: [0.286], std: [0.353]}]",
    ];
    const distill = (dir: string, run: string) => oneStep(dir, `${runs}/${run}`, views);
    try {
      const sharded = `${runs}/sharded`;
      const e = await prepare(sharded, [...views, "--stage", "embed", "--workers", "3"]);
      assert.match(e.err, /prepare embed: 3 shards done by 3 workers/);
      const m = await prepare(sharded, [...views, "--stage", "merge"]);
      assert.match(
        m.err,
        /prepare merge: 256 images × 64-d \(\+2 views each\) from 3 embed shards → /,
      );
      const single = `${runs}/single`;
      const d = await distill(single, "d-single");
      assert.equal(d.code, 0, d.err);
      assert.match(d.err, /teacher views: miss/);
      await assertSameCache(single, sharded, ["views"]);
      const again = await distill(sharded, "d-sharded");
      assert.equal(again.code, 0, again.err);
      assert.match(again.err, /teacher views: hit /);
      assert.doesNotMatch(again.err, /miss|stale|corrupt|computing/);
    } finally {
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "deno task prepare --stage manifest: built once; a rerun and the embed shards find it",
  ignore: IGNORE_DEBIAN_FASHION_MNIST,
  fn: async () => {
    const runs = `runs/test-prepare-manifest-${crypto.randomUUID().slice(0, 8)}`;
    const dir = `${runs}/cache`;
    const manifest = /"(.*manifest-[0-9a-f]{16}\.safetensors)"/;
    try {
      const built = await prepare(dir, ["--stage", "manifest"]);
      assert.match(built.err, /dataset manifest: hashed 256 images in [\d.]+ s → "/);
      const path = `${ROOT}${manifest.exec(built.err)![1]}`;
      const before = await Deno.stat(path);

      const again = await prepare(dir, ["--stage", "manifest"]);
      assert.match(again.err, /dataset manifest: hit ".*" \(256 images, key [0-9a-f]{16}…\)/);
      assert.doesNotMatch(again.err, /hashed|none at/);
      assert.equal((await Deno.stat(path)).mtime?.getTime(), before.mtime?.getTime());

      const embed = await prepare(dir, ["--stage", "embed", "--shard", "0/4"]);
      assert.match(embed.err, /dataset manifest: hit /);
      assert.doesNotMatch(embed.err, /hashed|none at/);
      assert.match(embed.err, /prepare embed 0\/4: 64 images in /);

      // Without it an embed task still runs, building it, and says what an array job runs first.
      const alone = await prepare(`${runs}/alone`, ["--stage", "embed", "--shard", "1/4"]);
      assert.match(
        alone.err,
        /dataset manifest: none at ".*", so this task builds it .*`deno task prepare --stage manifest` once first/,
      );
      assert.match(alone.err, /dataset manifest: hashed 256 images in /);
      assert.match(alone.err, /prepare embed 1\/4: 64 images in /);
    } finally {
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
    }
  },
});
