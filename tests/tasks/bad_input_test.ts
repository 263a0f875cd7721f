/**
 * The bad-input matrix: the real CLIs (`deno task distill | eval | compare |
 * pretrain`, under their deno.json permissions) against broken configs,
 * flags, data, weight files, run dirs and machines. Each must exit non-zero
 * with one `error:` line that names the file, key or flag and the fix (the
 * last line on stderr, after any status lines; the only line when the input
 * is refused before anything starts), with no stack trace; leave no partial
 * output and no temporary file; and change no earlier checkpoint, cache,
 * export or config (their bytes and mtimes are compared).
 *
 * The read-only and full-disk cases need a tmpfs when the tests run as root
 * (chmod does not stop root): they mount one (`--allow-run=mount,umount`) and
 * are skipped, saying why, where mounting is not permitted.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { type CommandResult, ROOT, runTask, SMALL_PRETRAIN, smallDistill } from "../_cli.ts";
import { snapshot, strayTempFiles, writeFixtures } from "./_bad_input_fixtures.ts";

const ID = crypto.randomUUID().slice(0, 8);
const RUNS = `runs/test-bad-${ID}`;
const TMP = `tests/.tmp/bad-${ID}`;

const task = runTask;

/** A short distillation with a 64-d student (no head); see `smallDistill`. */
const SMALL = [...smallDistill(`${RUNS}/cache`), "--set=student.headHidden=16"];
const PRETRAIN = SMALL_PRETRAIN;

interface Case {
  /** The bad input. */
  name: string;
  task: "distill" | "eval" | "compare" | "pretrain";
  args: string[];
  env?: Record<string, string>;
  /** The error line, after `error: `. */
  message: RegExp;
  /** Refused before anything starts: the error is the only line on stderr. */
  alone?: boolean;
  /** Paths that must not exist afterwards (a fresh run dir, an eval report). */
  absent?: string[];
  /** More checks of what is on disk afterwards. */
  after?: () => Promise<void>;
  /** Why the case cannot run here. */
  skip?: string;
  /** The most seconds the command may take (startup included). */
  maxSeconds?: number;
}

/** One `error:` line, last on stderr, no stack frame; the only line when `alone`. */
function checkStderr(c: Case, r: CommandResult): string {
  const lines = r.err.split("\n").filter((l) => l.trim());
  const errors = lines.filter((l) => /^error\b/i.test(l));
  assert.notEqual(r.code, 0, `exit code 0\n${r.err}`);
  assert.equal(errors.length, 1, `expected one error line:\n${r.err}`);
  assert.equal(lines.at(-1), errors[0], `the error is not the last line:\n${r.err}`);
  const frames = lines.filter((l) => /^\s+at\s|Uncaught|^\s*\w*Error:/.test(l));
  assert.deepEqual(frames, [], `a stack trace:\n${r.err}`);
  if (c.alone) assert.equal(lines.length, 1, `more than the error line:\n${r.err}`);
  const line = errors[0].replace(/^error: /, "");
  assert.match(line, c.message);
  return line;
}

const exists = (p: string) => Deno.stat(`${ROOT}${p}`).then(() => true, () => false);

/** The step and finiteness of a checkpoint, read without tfjs. */
async function checkpointStep(path: string): Promise<{ step: number; finite: boolean }> {
  const st = await readSafetensors(`${ROOT}${path}`);
  const step = JSON.parse(st.metadata["coss.state"]).step as number;
  const finite = [...st.tensors.values()].every((t) => Array.from(t.values).every(Number.isFinite));
  return { step, finite };
}

async function sh(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(cmd, { args, cwd: ROOT, stderr: "piped" }).output();
    return r.success ? undefined : new TextDecoder().decode(r.stderr).trim() || `exit ${r.code}`;
  } catch (e) {
    return (e as Error).message.split("\n")[0];
  }
}

const mounted: string[] = [];

/** Mount a tmpfs of `bytes` at `dir`; the reason when that is not possible. */
async function mountTmpfs(dir: string, bytes: number): Promise<string | undefined> {
  await Deno.mkdir(`${ROOT}${dir}`, { recursive: true });
  const why = await sh("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir]);
  if (!why) mounted.push(dir);
  return why && `cannot mount a tmpfs (${why})`;
}

/** A read-only copy of the good run at `dir` (chmod 555, or a read-only tmpfs for root). */
async function readOnlyRun(dir: string, good: string): Promise<string | undefined> {
  const abs = `${ROOT}${dir}`;
  const copy = async () => {
    for (const f of ["config.yaml", "checkpoint.safetensors", "metrics.jsonl"]) {
      await Deno.copyFile(`${ROOT}${good}/${f}`, `${abs}/${f}`);
    }
  };
  await Deno.mkdir(abs, { recursive: true });
  await Deno.chmod(abs, 0o555);
  const chmodWorks = await Deno.writeTextFile(`${abs}/probe`, "").then(() => false, () => true);
  if (chmodWorks) {
    await Deno.chmod(abs, 0o755);
    await copy();
    await Deno.chmod(abs, 0o555);
    return undefined;
  }
  // Root writes through chmod 555: use a tmpfs remounted read-only instead.
  await Deno.remove(`${abs}/probe`);
  await Deno.chmod(abs, 0o755);
  const why = await mountTmpfs(dir, 8 << 20);
  if (why) return `running as root, where chmod 555 does not stop writes, and ${why}`;
  await copy();
  const ro = await sh("mount", ["-o", "remount,ro", dir]);
  return ro && `cannot remount the tmpfs read-only (${ro})`;
}

await testNeeding(["fashion-mnist"], {
  name:
    "bad input: every CLI answers with one line naming the culprit and the fix, and harms nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const t0 = performance.now();
    await Deno.mkdir(`${ROOT}${TMP}`, { recursive: true });
    await Deno.mkdir(`${ROOT}${RUNS}`, { recursive: true });
    try {
      // Good outputs that bad runs must leave alone: a finished distillation (config,
      // checkpoint, metrics, both exports, the teacher cache) and a pretrain run.
      const [fixtures, good, pt] = await Promise.all([
        writeFixtures(`${ROOT}${TMP}`),
        task("distill", [...SMALL, `--run-dir=${RUNS}/good`]),
        task("pretrain", [...PRETRAIN, `--run-dir=${RUNS}/pt`, `--out=${RUNS}/pt/teacher`]),
      ]);
      void fixtures;
      assert.equal(good.code, 0, good.err);
      assert.equal(pt.code, 0, pt.err);
      // A copy of the good run whose checkpoint is cut short.
      await Deno.mkdir(`${ROOT}${RUNS}/trunc`);
      for (const f of ["config.yaml", "metrics.jsonl"]) {
        await Deno.copyFile(`${ROOT}${RUNS}/good/${f}`, `${ROOT}${RUNS}/trunc/${f}`);
      }
      const ckpt = await Deno.readFile(`${ROOT}${RUNS}/good/checkpoint.safetensors`);
      await Deno.writeFile(`${ROOT}${RUNS}/trunc/checkpoint.safetensors`, ckpt.subarray(0, 5000));
      // A comparison whose run dir holds a run of another config.
      await Deno.mkdir(`${ROOT}${RUNS}/cmp/coss-s0`, { recursive: true });
      await Deno.writeTextFile(`${ROOT}${RUNS}/cmp/coss-s0/config.yaml`, "# config hash: 0000\n");
      await Deno.writeTextFile(
        `${ROOT}${TMP}/cmp-other.yaml`,
        "base: ../../../tasks/configs/default.yaml\n" +
          `runDir: ${RUNS}/cmp\nseeds: [0]\nimages: 64\nmethods:\n  coss: {name: coss}\n`,
      );
      const readOnly = await readOnlyRun(`${RUNS}/ro`, `${RUNS}/good`);
      // Room for one checkpoint and a half: the second checkpoint's temporary file does not fit.
      const full = await mountTmpfs(`${RUNS}/full`, Math.ceil(1.5 * ckpt.length / 4096) * 4096);

      const protect = ["good", "pt", "trunc", "cmp", "cache", ...(readOnly ? [] : ["ro"])];
      const before = new Map<string, Map<string, string>>();
      for (const d of protect) before.set(d, await snapshot(`${ROOT}${RUNS}/${d}`));

      const G = `${RUNS}/good`;
      const T = TMP;
      const dist = (...a: string[]) => [...SMALL, `--run-dir=${RUNS}/new`, ...a];
      /** `dist` without its `--backend` flag, so that COSS_BACKEND decides. */
      const distEnv = (...a: string[]) => dist(...a).filter((x) => !x.startsWith("--backend"));
      const cases: Case[] = [
        // Config files and keys.
        {
          name: "YAML syntax error in --config",
          task: "distill",
          args: [`--config=${T}/syntax.yaml`],
          message: /syntax\.yaml:2:1: invalid YAML: .*end with a \}/,
          alone: true,
        },
        {
          name: "unknown key in a config file",
          task: "distill",
          args: [`--config=${T}/unknown-key.yaml`],
          message: /unknown-key\.yaml: optim\.learning_rate: unknown key \(did you mean "lr"\?\)/,
          alone: true,
        },
        {
          name: "wrong type in a config file (train.steps: three)",
          task: "distill",
          args: [`--config=${T}/wrong-type.yaml`],
          message: /wrong-type\.yaml: train\.steps: expected null or an integer ≥ 1, got "three"/,
          alone: true,
        },
        {
          name: "out-of-range value (optim.momentum=1.5)",
          task: "distill",
          args: dist("--set=optim.momentum=1.5"),
          message: /--set optim\.momentum=1\.5: optim\.momentum: expected a number in \[0, 1\)/,
          alone: true,
        },
        {
          name: "eval.linear.milestones=[0] (the probe counts epochs from 1)",
          task: "distill",
          args: dist("--set=eval.linear.milestones=[0]"),
          message: /eval\.linear\.milestones: expected a non-empty list of integers ≥ 1/,
          alone: true,
        },
        {
          name: "eval.iouKs=[1.5] (neighbourhood sizes are integers)",
          task: "distill",
          args: dist("--set=eval.iouKs=[1.5]"),
          message: /eval\.iouKs: expected a non-empty list of integers ≥ 1, got \[1\.5\]/,
          alone: true,
        },
        {
          name: "unknown model (student.architecture=resnet19)",
          task: "distill",
          args: dist("--student.architecture", "resnet19"),
          message:
            /student\.architecture: expected one of .*got "resnet19" \(did you mean "resnet18"\?\)/,
          alone: true,
        },
        {
          name: "unknown loss (loss.name=cosss)",
          task: "distill",
          args: dist("--set=loss.name=cosss"),
          message: /loss\.name: expected one of .*got "cosss" \(did you mean "coss"\?\)/,
          alone: true,
        },
        {
          name: "unknown dataset (data.train.name=fmnist)",
          task: "distill",
          args: dist("--set=data.train.name=fmnist"),
          message:
            /data\.train\.name: expected one of .*got "fmnist" \(did you mean "fashion-mnist"\?\)/,
          alone: true,
        },
        {
          name: "unknown flag",
          task: "distill",
          args: dist("--learning-rate=0.1"),
          message: /--learning-rate: unknown flag.*valid flags: --config/,
          alone: true,
        },
        {
          name: "a --config file that does not exist",
          task: "distill",
          args: dist(`--config=${T}/nope.yaml`),
          message: /nope\.yaml: no such file \(check the --config path\)/,
          alone: true,
        },
        {
          name: "--set without a value (--set optim.lr)",
          task: "distill",
          args: dist("--set=optim.lr"),
          message: /^--set optim\.lr: expected <key>=<value>, e\.g\. --set optim\.lr=0\.01$/,
          alone: true,
        },
        {
          name: "an infinite learning rate (optim.lr=.inf)",
          task: "distill",
          args: dist("--set=optim.lr=.inf"),
          message: /optim\.lr: expected a number > 0, got Infinity/,
          alone: true,
        },
        {
          name: "a NaN learning rate (optim.lr=.nan)",
          task: "distill",
          args: dist("--set=optim.lr=.nan"),
          message: /optim\.lr: expected a number > 0, got \.nan/,
          alone: true,
        },
        {
          name: "a negative subset (data.subset=-5)",
          task: "distill",
          args: dist("--set=data.subset=-5"),
          message: /data\.subset: expected null or an integer ≥ 1, got -5/,
          alone: true,
        },
        {
          name: "an input size below the smallest (data.size=4)",
          task: "distill",
          args: dist("--set=data.size=4"),
          message: /data\.size: expected an integer ≥ 8, got 4/,
          alone: true,
        },
        {
          name: "a zero normalisation std (data.std=[0])",
          task: "distill",
          args: dist("--set=data.std=[0]"),
          message: /data\.std: expected a non-empty list of numbers > 0, got \[0\]/,
          alone: true,
        },
        {
          name: "an unknown augmentation preset (data.augment=mocov3)",
          task: "distill",
          args: dist("--set=data.augment=mocov3"),
          message: /data\.augment: expected a preset .*got "mocov3" \(did you mean "mocov2"\?\)/,
          alone: true,
        },
        {
          name: "an augmentation step with size 0",
          task: "distill",
          args: dist("--set=data.augment=[{op: randomResizedCrop, size: 0}]"),
          message: /data\.augment\[0\]\.size: expected a positive integer/,
          alone: true,
        },
        {
          name: "more sampled neighbours than the pool (data.sampler.neighbours=40)",
          task: "distill",
          args: dist("--set=data.sampler.kind=neighbour", "--set=data.sampler.neighbours=40"),
          message:
            /data\.sampler\.neighbours: expected an integer ≤ data\.sampler\.pool \(31\), got 40/,
          alone: true,
        },
        {
          name: "a final learning rate above the initial one (schedule.minLr=10)",
          task: "distill",
          args: dist("--set=schedule.minLr=10"),
          message: /schedule\.minLr: expected a number ≤ optim\.lr \(.*\), got 10/,
          alone: true,
        },
        {
          name: "an unknown bundled teacher (teacher.name=nope)",
          task: "distill",
          args: dist("--set=teacher.name=nope"),
          message:
            /teacher\.name: expected a bundled teacher \(fashion-mnist, fmnist-resnet18-w025\), got "nope"/,
          alone: true,
        },
        {
          name: "a student argument of another model (student.args.depth)",
          task: "distill",
          args: dist("--set=student.args.depth=19"),
          message: /student\.args\.depth: unknown key for student\.architecture "resnet18"/,
          alone: true,
        },
        {
          name: "a student argument its model refuses (student.args.width=-1)",
          task: "distill",
          args: dist("--set=student.args.width=-1"),
          // Before the teacher's features (the shared cache stays as it was).
          message: /^student\.args: resnet18: width must be a positive number, got -1$/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "an empty --run-dir",
          task: "distill",
          args: [...SMALL, "--run-dir="],
          message: /runDir: expected a non-empty string, got ""/,
          alone: true,
        },
        // Environment variables.
        {
          name: "COSS_BACKEND=tpu",
          task: "distill",
          args: distEnv(),
          env: { COSS_BACKEND: "tpu" },
          message:
            /Unknown backend "tpu" \(from COSS_BACKEND\): expected one of auto, webgpu, wasm, cpu/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "COSS_WASM_THREADS=abc",
          task: "distill",
          args: dist(),
          env: { COSS_WASM_THREADS: "abc" },
          message:
            /^COSS_WASM_THREADS must be a positive integer, got "abc": unset it or use e\.g\. 1 or 2$/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "COSS_WASM_THREADS=0",
          task: "distill",
          args: dist(),
          env: { COSS_WASM_THREADS: "0" },
          message: /^COSS_WASM_THREADS must be a positive integer, got "0"/,
          absent: [`${RUNS}/new`],
        },
        // Flags.
        {
          name: "--seed abc",
          task: "distill",
          args: dist("--seed=abc"),
          message: /seed: expected an integer ≥ 0, got "abc"/,
          alone: true,
        },
        {
          name: "--seed -1 (a negative value given as a separate argument)",
          task: "distill",
          args: dist("--seed", "-1"),
          message: /^--seed -1: a value starting with "-" must be attached: --seed=-1$/,
          alone: true,
        },
        {
          name: "eval --t -1 (a negative value given as a separate argument)",
          task: "eval",
          args: ["--student", G, "--t", "-1"],
          message: /^--t -1: a value starting with "-" must be attached: --t=-1$/,
          alone: true,
        },
        {
          name: "eval --t=-1",
          task: "eval",
          args: ["--student", G, "--t=-1", "--out", `${RUNS}/eval`],
          message: /--set eval\.t=-1: eval\.t: expected a number > 0, got -1/,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "eval --backend tpu",
          task: "eval",
          args: ["--student", G, "--backend", "tpu", "--out", `${RUNS}/eval`],
          message: /^--backend tpu: backend: expected one of auto, webgpu, wasm, cpu$/,
          alone: true,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "eval --out outside the task's write grant",
          task: "eval",
          args: ["--student", G, "--out", `${T}/eval-out`],
          message:
            /^--out .*eval-out: Requires write access to ".*eval-out"; deno task eval is granted only --allow-write=runs,.*"eval" task of deno\.json$/,
          alone: true,
          absent: [`${T}/eval-out`],
        },
        {
          name: "eval without --student or --compare",
          task: "eval",
          args: [],
          message: /^--student: required \(a run dir, checkpoint or export dir\)$/,
          alone: true,
        },
        {
          name: "--resume with --no-resume",
          task: "distill",
          args: [...SMALL, `--run-dir=${G}`, "--resume", "--no-resume"],
          message: /--resume and --no-resume: give one/,
          alone: true,
        },
        {
          name: "--resume where there is no checkpoint",
          task: "distill",
          args: dist("--resume"),
          message: /run dir ".*\/new" holds no checkpoint\.safetensors \(drop --resume/,
          alone: true,
          absent: [`${RUNS}/new`],
        },
        {
          name: "eval --student with --compare",
          task: "eval",
          args: ["--student", G, "--compare", G, G],
          message: /--student and --compare: give one/,
          alone: true,
        },
        {
          name: "eval --student of a path that does not exist",
          task: "eval",
          args: ["--student", `${RUNS}/nope`, "--out", `${RUNS}/eval`],
          message: /"runs\/.*\/nope": no such file or directory; expected a run dir/,
          alone: true,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "explicit --backend webgpu with no adapter",
          task: "distill",
          args: dist("--backend=webgpu"),
          // Ask Deno for a graphics API this OS lacks, so that no adapter exists.
          env: { DENO_WEBGPU_BACKEND: "dx12" },
          message: /WebGPU requested but unavailable: .*choose auto, wasm or cpu instead/,
          alone: true,
          absent: [`${RUNS}/new`],
        },
        // Data.
        {
          name: "missing dataset (empty dataDir, no system copy, no download)",
          task: "distill",
          args: dist(
            `--set=data.train={name: fashion-mnist, dataDir: ${T}/empty, useSystemData: false, download: false}`,
          ),
          message: /Fashion-MNIST not found in .*\/empty.*apt-get install dataset-fashion-mnist/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "truncated gzipped IDX file",
          task: "distill",
          args: dist(`--set=data.train={name: fashion-mnist, dataDir: ${T}/idx-gz}`),
          message:
            /Cannot read IDX file ".*idx-gz\/train-images-idx3-ubyte\.gz": the gzip data is corrupt or truncated.*\(delete it/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "truncated plain IDX file",
          task: "distill",
          args: dist(`--set=data.train={name: fashion-mnist, dataDir: ${T}/idx-raw}`),
          message:
            /Cannot read IDX file ".*idx-raw\/train-images-idx3-ubyte": truncated: the header states 60000×28×28/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "corrupt PNG in a folder dataset (onBadImage: fail)",
          task: "distill",
          args: dist(
            `--set=data.train={name: folder, root: ${T}/folder, onBadImage: fail}`,
            "--set=data.size=8",
            "--set=data.augment=none",
            "--set=data.mean=[0.5]",
            "--set=data.std=[0.5]",
          ),
          message: /Cannot decode image ".*folder\/b\/2\.png": .*\(replace or remove it/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "a folder dataset whose root does not exist",
          task: "distill",
          args: dist(`--set=data.train={name: folder, root: ${T}/no-folder}`),
          message:
            /Cannot list image folder ".*no-folder": No such file .*\(check data\.train\.root\)$/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "a PNG decompression bomb (its header claims 20000×20000) in a folder dataset",
          task: "distill",
          args: dist(
            `--set=data.train={name: folder, root: ${T}/bomb}`,
            "--set=data.size=8",
            "--set=data.augment=none",
            "--set=data.mean=[0.5]",
            "--set=data.std=[0.5]",
          ),
          message:
            /^Cannot read image ".*bomb\/b\/2\.png": its header claims 20000×20000 \(h×w\) = 400000000 pixels, above the limit of 50000000 \(data\.train\.maxPixels\); raise data\.train\.maxPixels if the image is genuine, or remove it$/,
          absent: [`${RUNS}/new`],
          // Refused from the header: decoding it would take about 38 s and 5 GB.
          maxSeconds: 15,
        },
        {
          name: "data.train.maxPixels=0",
          task: "distill",
          args: dist(`--set=data.train={name: folder, root: ${T}/folder, maxPixels: 0}`),
          message: /data\.train\.maxPixels: expected an integer ≥ 1, got 0/,
          alone: true,
        },
        // Teachers.
        ...(["past-end", "overlap", "dtype"] as const).map((f): Case => ({
          name: {
            "past-end": "safetensors teacher: a data offset past the end",
            overlap: "safetensors teacher: overlapping tensors",
            dtype: "safetensors teacher: an unknown dtype",
          }[f],
          task: "distill",
          args: dist(
            "--set=teacher.source=safetensors",
            `--set=teacher.path=${T}/${f}.safetensors`,
            "--set=teacher.architecture=resnet18",
          ),
          message: {
            "past-end": /".*past-end\.safetensors": .*data_offsets \[0, 64\] point past the end/,
            overlap:
              /".*overlap\.safetensors": tensor "bn1\.weight" data_offsets \[8, 24\] overlap/,
            dtype: /".*dtype\.safetensors": tensor "conv1\.weight" has unknown dtype "Q4"/,
          }[f],
          absent: [`${RUNS}/new`],
        })),
        ...([
          [
            "ONNX teacher: a truncated .onnx",
            "truncated",
            [],
            /Cannot load ONNX teacher ".*truncated\.onnx": not a complete ONNX model \(.*\); re-export or re-download it \(teacher\.path\)/,
          ],
          [
            "ONNX teacher: no image input",
            "ids",
            [],
            /ONNX teacher ".*ids\.onnx" has no image input \("ids" int64 \[2, 3\]\): a teacher needs exactly one float32 input of rank 4/,
          ],
          [
            "ONNX teacher: an output name that does not exist",
            "dynamic",
            ["--set=teacher.output=embedding", "--set=teacher.input.size=[28,28]"],
            /ONNX teacher ".*dynamic\.onnx" has no output "embedding" \(teacher\.output\); its outputs are "features" float32 \[batch, 1\]/,
          ],
          [
            "ONNX teacher whose initializer holds NaN (refused at load)",
            "nan",
            [],
            /^teacher weights ".*\/nan\.onnx" \(teacher\.path\): initializer "scale" holds non-finite values \(NaN\); re-export the teacher$/,
          ],
          [
            "ONNX teacher: a dynamic input size the config does not fix",
            "dynamic",
            [],
            /input "images" \[batch, 1, height, width\] \(NCHW\) has a dynamic height or width; set teacher\.input\.size \(e\.g\. \[224, 224\]\)/,
          ],
        ] as const).map(([name, file, extra, message]): Case => ({
          name,
          task: "distill",
          args: dist("--set=teacher.source=onnx", `--set=teacher.path=${T}/${file}.onnx`, ...extra),
          message,
          absent: [`${RUNS}/new`],
        })),
        {
          name: "a .pth pickle as the teacher",
          task: "distill",
          args: dist(
            "--set=teacher.source=safetensors",
            `--set=teacher.path=${T}/teacher.pth`,
            "--set=teacher.architecture=resnet18",
          ),
          message: /".*teacher\.pth": PyTorch pickle .*Convert once in Python: python -c/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "eval --teacher given a .pth pickle",
          task: "eval",
          args: ["--student", G, "--teacher", `${T}/teacher.pth`, "--out", `${RUNS}/eval`],
          message: /--teacher .*teacher\.pth: PyTorch pickle .*save_file/,
          alone: true,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "teacher weights of other arguments than teacher.args",
          task: "distill",
          args: dist(
            "--set=teacher.source=safetensors",
            `--set=teacher.path=${T}/teacher128.safetensors`,
            "--set=teacher.architecture=resnet18",
            "--set=teacher.args={stem: cifar, width: 0.125, inChannels: 1}",
          ),
          message: /teacher128\.safetensors" into resnet18: .*mis-shaped .*set them to match/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "a safetensors teacher whose weights hold Inf (refused at load)",
          task: "distill",
          args: dist(
            "--set=teacher.source=safetensors",
            `--set=teacher.path=${T}/inf.safetensors`,
            "--set=teacher.architecture=resnet18",
            "--set=teacher.args={stem: cifar, width: 0.25, inChannels: 1}",
          ),
          message:
            /^teacher weights ".*\/inf\.safetensors" \(teacher\.path\): tensor "layer1\.0\.conv1\.weight" holds non-finite values \(Inf\); re-export the teacher$/,
          // No feature computed: the shared teacher cache stays as it was (see `protect`).
          absent: [`${RUNS}/new`],
        },
        {
          name: "a tfjs teacher whose weights hold NaN (refused at load)",
          task: "distill",
          args: dist("--set=teacher.source=tfjs", `--set=teacher.path=${T}/nan-tfjs/model.json`),
          message:
            /^teacher weights ".*nan-tfjs\/model\.json" \(teacher\.path\): tensor "conv\/bias" holds non-finite values \(NaN\); re-export the teacher$/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "eval --teacher whose weights hold Inf",
          task: "eval",
          args: [
            "--student",
            G,
            "--teacher",
            `${T}/inf.safetensors`,
            "--teacher-arch=resnet18",
            "--set=teacher.args={stem: cifar, width: 0.25, inChannels: 1}",
            "--out",
            `${RUNS}/eval`,
          ],
          message:
            /teacher weights ".*inf\.safetensors" \(teacher\.path\): tensor "layer1\.0\.conv1\.weight" holds non-finite values \(Inf\)/,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "teacher/student width mismatch with no head (eval against a 128-d teacher)",
          task: "eval",
          args: [
            "--student",
            G,
            "--backend=wasm",
            "--teacher",
            `${T}/teacher128.safetensors`,
            "--teacher-arch=resnet18",
            "--set=teacher.args={stem: cifar, width: 0.25, inChannels: 1}",
            "--out",
            `${RUNS}/eval`,
          ],
          message:
            /".*good" was distilled from a 64-d teacher \(its 64-d student has no projection head\), but teacher ".*teacher128\.safetensors" .* gives 128-d features; evaluate with the run's own teacher/,
          absent: [`${RUNS}/eval`],
        },
        // Run dirs and checkpoints.
        {
          name: "resume of a run dir whose checkpoint is truncated",
          task: "distill",
          args: [...SMALL, `--run-dir=${RUNS}/trunc`],
          message:
            /Cannot load checkpoint ".*trunc\/checkpoint\.safetensors": file is truncated .*rerun with --no-resume/,
        },
        {
          name: "eval --student of a run dir whose checkpoint is truncated",
          task: "eval",
          args: ["--student", `${RUNS}/trunc`, "--out", `${RUNS}/eval`],
          message:
            /".*trunc\/checkpoint\.safetensors": the checkpoint is damaged \(file is truncated/,
          alone: true,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "eval --student of a truncated checkpoint file",
          task: "eval",
          args: ["--student", `${RUNS}/trunc/checkpoint.safetensors`, "--out", `${RUNS}/eval`],
          message: /the checkpoint is damaged .*evaluate the run's export instead/,
          alone: true,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "a run dir written by another config",
          task: "distill",
          args: [...SMALL, `--run-dir=${G}`, "--set=optim.lr=0.5"],
          message:
            /Cannot resume run dir ".*good": it was written by another config \(hash [0-9a-f]{12}, this one [0-9a-f]{12}\); use another --run-dir, or --no-resume/,
          alone: true,
        },
        {
          name: "a run dir outside the task's write grant",
          task: "distill",
          args: dist(`--run-dir=${T}/outside`),
          message:
            /Requires write access to ".*outside"; deno task distill is granted only --allow-write=runs,.* add ".*outside" to --allow-write in the "distill" task of deno\.json/,
          alone: true,
          absent: [`${T}/outside`],
        },
        {
          name: "a read-only run dir",
          task: "distill",
          args: [...SMALL, `--run-dir=${RUNS}/ro`, "--no-resume"],
          message:
            /Cannot write run dir ".*ro": (Read-only file system|Permission denied) \(os error \d+\); choose another --run-dir or make it writable$/,
          alone: true,
          skip: readOnly,
        },
        {
          name: "a full disk (a tmpfs with room for one checkpoint)",
          task: "distill",
          args: [
            ...SMALL,
            `--run-dir=${RUNS}/full/run`,
            "--set=train.steps=3",
            "--set=train.checkpointEvery=1",
          ],
          message:
            /Cannot write ".*full\/run\/checkpoint\.safetensors": No space left on device .*free some space/,
          skip: full,
          after: async () => {
            assert.deepEqual(await checkpointStep(`${RUNS}/full/run/checkpoint.safetensors`), {
              step: 1,
              finite: true,
            });
          },
        },
        {
          name: "NaN from a divergent learning rate (optim.lr=1e30)",
          task: "distill",
          args: [
            ...SMALL,
            `--run-dir=${RUNS}/nan`,
            "--set=optim.lr=1e30",
            "--set=train.steps=4",
            "--set=train.checkpointEvery=1",
            "--set=train.logEvery=1",
          ],
          message:
            /^(loss is NaN|non-finite weights) at step 2; .*last good checkpoint (is )?".*nan\/checkpoint\.safetensors" \(step 1\); lower optim\.lr or set optim\.clipNorm$/,
          after: async () => {
            assert.deepEqual(await checkpointStep(`${RUNS}/nan/checkpoint.safetensors`), {
              step: 1,
              finite: true,
            });
          },
        },
        // Checks before the first expensive step (teacher features, training).
        {
          name: "eval.k above the final kNN bank (data.subset)",
          task: "distill",
          args: dist("--set=data.test={name: fashion-mnist, split: test}", "--set=eval.k=300"),
          message:
            /^eval\.k: 300 neighbours, but the kNN bank holds only 256 training images; set eval\.k ≤ 256 or raise data\.subset \(256\)$/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "eval.k above the periodic kNN bank (5 × eval.subset)",
          task: "distill",
          args: dist(
            "--set=data.test={name: fashion-mnist, split: test}",
            "--set=eval.k=100",
            "--set=eval.subset=10",
            "--set=train.evalEvery=1",
          ),
          message:
            /^eval\.k: 100 neighbours, but the kNN bank holds only 50 training images; set eval\.k ≤ 50 or raise eval\.subset .*or set train\.evalEvery=0$/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "a data.test that does not open (found before training, not after)",
          task: "distill",
          args: dist(
            `--set=data.test={name: fashion-mnist, split: test, dataDir: ${T}/empty, useSystemData: false, download: false}`,
          ),
          message: /Fashion-MNIST not found in .*\/empty/,
          absent: [`${RUNS}/new`],
        },
        {
          name: "teacher.cacheDir outside the task's write grant",
          task: "distill",
          args: dist(`--set=teacher.cacheDir=${T}/cache-out`),
          message:
            /^Cannot use teacher cache dir ".*cache-out" \(teacher\.cacheDir\): Requires write access to ".*cache-out"; deno task distill is granted only --allow-write=runs,.*add ".*cache-out" to --allow-write in the "distill" task of deno\.json$/,
          alone: true,
          absent: [`${T}/cache-out`, `${RUNS}/new`],
        },
        {
          name: "eval: teacher.cacheDir outside the task's write grant",
          task: "eval",
          args: ["--student", G, `--set=teacher.cacheDir=${T}/eval-cache`, "--out", `${RUNS}/eval`],
          message:
            /^Cannot use teacher cache dir ".*eval-cache" \(teacher\.cacheDir\): Requires write access to ".*eval-cache"; deno task eval is granted only --allow-write=runs,.*"eval" task of deno\.json$/,
          absent: [`${T}/eval-cache`, `${RUNS}/eval`],
        },
        {
          name: "eval --k above the kNN bank",
          task: "eval",
          args: [
            "--student",
            G,
            "--k",
            "300",
            "--set=data.test={name: fashion-mnist, split: test}",
            "--out",
            `${RUNS}/eval`,
          ],
          message:
            /^eval\.k: 300 neighbours, but the kNN bank holds only 256 training images; set eval\.k ≤ 256/,
          absent: [`${RUNS}/eval`],
        },
        {
          name: "an evaluation that fails after training (a test image with a corrupt body)",
          task: "distill",
          args: [
            ...SMALL,
            `--run-dir=${RUNS}/late`,
            `--set=data.test={name: folder, root: ${T}/folder, size: [28, 28], channels: 1}`,
            "--set=train.evalEvery=0",
            "--set=eval.linear.epochs=0",
            "--set=eval.cost=false",
          ],
          message:
            /^Cannot decode image ".*folder\/b\/2\.png": .*; training finished and the student is saved: evaluate it again, without training, with deno task eval --student runs\/.*\/late --set eval\.…=…$/,
          after: async () => {
            // The trained student is kept for that evaluation.
            assert.deepEqual(await checkpointStep(`${RUNS}/late/checkpoint.safetensors`), {
              step: 2,
              finite: true,
            });
          },
        },
        // compare.
        {
          name: "compare: YAML syntax error",
          task: "compare",
          args: [`--config=${T}/cmp-syntax.yaml`],
          message: /cmp-syntax\.yaml:3:1: invalid YAML: .*end with a \]/,
          alone: true,
        },
        {
          name: "compare: unknown key",
          task: "compare",
          args: [`--config=${T}/cmp-key.yaml`],
          message: /cmp-key\.yaml: image: unknown key; valid keys: base, runDir, seeds, images/,
          alone: true,
        },
        {
          name: "compare: unknown loss in a method row",
          task: "compare",
          args: [`--config=${T}/cmp-loss.yaml`],
          message:
            /cmp-loss\.yaml \(methods\.a\): loss\.name: expected one of .*\(did you mean "coss"\?\)/,
          alone: true,
        },
        {
          name: "compare: --only names no row",
          task: "compare",
          args: ["--only", "nope"],
          message: /compare-fmnist\.yaml: methods: no row "nope"/,
          alone: true,
        },
        {
          name: "compare: a run dir holding a run of another config",
          task: "compare",
          args: [`--config=${T}/cmp-other.yaml`, "--set=data.subset=64"],
          message:
            /run dir ".*cmp\/coss-s0" holds a run of another config; delete it or change runDir/,
          alone: true,
        },
        {
          name: "compare: a --config file that does not exist",
          task: "compare",
          args: [`--config=${T}/nope.yaml`],
          message:
            /nope\.yaml: cannot read \(No such file or directory.*\); check the --config path$/,
          alone: true,
        },
        {
          name: "compare: an unknown key in --set (seeds is a compare-file key)",
          task: "compare",
          args: ["--set=seeds=abc"],
          message: /--set seeds=abc: seeds: unknown key \(did you mean "seed"\?\)/,
          alone: true,
        },
        // pretrain.
        {
          name: "pretrain: unknown key in --set",
          task: "pretrain",
          args: [...PRETRAIN, "--set=train.epoch=2"],
          message: /--set train\.epoch=2: unknown key "train\.epoch" \(did you mean "epochs"\?\)/,
          alone: true,
        },
        {
          name: "pretrain: out-of-range value",
          task: "pretrain",
          args: [...PRETRAIN, "--set=train.batchSize=0"],
          message: /--set train\.batchSize=0: train\.batchSize: expected a positive integer, got 0/,
          alone: true,
        },
        {
          name: "pretrain: unknown model",
          task: "pretrain",
          args: [...PRETRAIN, "--set=model.architecture=resnet19"],
          message: /model\.architecture: expected one of resnet18, .*got "resnet19"/,
          alone: true,
        },
        {
          name: "pretrain: YAML syntax error",
          task: "pretrain",
          args: [`--config=${T}/syntax.yaml`],
          message: /syntax\.yaml:2:1: not valid YAML: .*end with a \}/,
          alone: true,
        },
        {
          name: "pretrain: unknown flag",
          task: "pretrain",
          args: ["--epochs=3"],
          message: /--epochs: unknown flag.*see deno task pretrain --help/,
          alone: true,
        },
        {
          name: "pretrain: eval.k above the kNN bank (eval.trainImages)",
          task: "pretrain",
          args: [
            ...PRETRAIN,
            `--run-dir=${RUNS}/pt-k`,
            `--out=${RUNS}/pt-k/teacher`,
            "--set=eval.k=100",
          ],
          message:
            /^eval\.k: 100 neighbours, but the kNN bank holds only 64 training images; set eval\.k ≤ 64 or raise eval\.trainImages \(64\)$/,
          absent: [`${RUNS}/pt-k`],
        },
        {
          name: "pretrain: an unknown method",
          task: "pretrain",
          args: [...PRETRAIN, "--set=method=byol"],
          message: /--set method=byol: method: expected one of supervised, simclr, got "byol"/,
          alone: true,
        },
        {
          name: "pretrain: a --config file that does not exist",
          task: "pretrain",
          args: [`--config=${T}/nope.yaml`],
          message:
            /Cannot read config ".*nope\.yaml": No such file or directory.*; check the --config path$/,
          alone: true,
        },
        {
          name: "pretrain: --out outside the task's write grant",
          task: "pretrain",
          args: [...PRETRAIN, `--out=${T}/pt-out`],
          message:
            /out: .*pt-out: Requires write access to ".*pt-out"; deno task pretrain is granted only --allow-write=runs,.*"pretrain" task of deno\.json$/,
          alone: true,
          absent: [`${T}/pt-out`],
        },
        {
          name: "pretrain: a run dir written by another config",
          task: "pretrain",
          args: [...PRETRAIN, `--run-dir=${RUNS}/pt`, `--out=${RUNS}/pt/teacher`, "--set=seed=1"],
          message:
            /Cannot resume run dir ".*pt": its checkpoint was written by another config \(seed: 0 → 1\); use another --run-dir, or --no-resume/,
        },
      ];

      const report: [string, string, number][] = [];
      const failures: string[] = [];
      const run = async (c: Case) => {
        if (c.skip) {
          console.log(`skipped: ${c.name}: ${c.skip}`);
          report.push([c.name, `(skipped: ${c.skip})`, 0]);
          return;
        }
        const r = await task(c.task, c.args, c.env);
        try {
          const line = checkStderr(c, r);
          for (const p of c.absent ?? []) assert.ok(!(await exists(p)), `"${p}" was created`);
          await c.after?.();
          if (c.maxSeconds !== undefined) {
            assert.ok(r.seconds < c.maxSeconds, `took ${r.seconds.toFixed(1)} s`);
          }
          report.push([c.name, line, r.seconds]);
        } catch (e) {
          failures.push(`${c.name} (deno task ${c.task} ${c.args.join(" ")}): ${e}`);
        }
      };
      // Three at a time: each case is one short process.
      const queue = [...cases];
      await Promise.all([0, 1, 2].map(async () => {
        for (let c = queue.shift(); c; c = queue.shift()) await run(c);
      }));

      // Nothing good changed, nothing temporary left.
      for (const d of protect) {
        assert.deepEqual(await snapshot(`${ROOT}${RUNS}/${d}`), before.get(d), `${d} changed`);
      }
      assert.deepEqual(await strayTempFiles(`${ROOT}${RUNS}`), []);
      assert.deepEqual(await strayTempFiles(`${ROOT}${TMP}`), []);

      // The stack trace is there under --verbose.
      const verbose = await task("distill", [
        ...dist(`--set=data.train={name: fashion-mnist, dataDir: ${T}/empty, download: false}`),
        "--set=data.train.useSystemData=false",
        "--verbose",
      ]);
      assert.notEqual(verbose.code, 0);
      assert.match(verbose.err, /^\s+at .*datasets\.ts/m, verbose.err);

      const order = new Map(cases.map((c, i) => [c.name, i]));
      report.sort((a, b) => order.get(a[0])! - order.get(b[0])!);
      console.log(
        `\n${report.length} bad inputs in ${((performance.now() - t0) / 1000).toFixed(0)} s:\n` +
          report.map(([n, l, s]) => `- ${n} (${s.toFixed(1)} s)\n    error: ${l}`).join("\n"),
      );
      assert.ok(cases.length >= 60, `${cases.length} cases`);
      assert.deepEqual(failures, []);
    } finally {
      for (const m of mounted.reverse()) await sh("umount", [m]);
      await Deno.chmod(`${ROOT}${RUNS}/ro`, 0o755).catch(() => {});
      await Deno.remove(`${ROOT}${RUNS}`, { recursive: true }).catch(() => {});
      await Deno.remove(`${ROOT}${TMP}`, { recursive: true }).catch(() => {});
    }
  },
});
