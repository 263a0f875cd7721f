/**
 * The run config: defaults from the schema, round trips through YAML, every
 * kind of one-line error with its exact text, overrides in every form,
 * epochs/steps exclusivity, nested dataset/augment/model/loss checks, the
 * CLI, and the config hash.
 */
import assert from "assert";
import { parse } from "yaml";
import { withTempDir } from "../_helpers.ts";
import { BACKEND_CHOICES } from "../../lib/backend.ts";
import { DATASET_NAMES } from "../../lib/data/datasets.ts";
import { listModels } from "../../lib/models/registry.ts";
import { METHOD_NAMES } from "../../lib/methods/registry.ts";
import {
  ConfigError,
  configHash,
  configHelp,
  DEFAULT_CONFIG,
  type DistillConfig,
  evalHash,
  formatConfig,
  loadConfig,
  parseCli,
  parseConfig,
  stringifyConfig,
} from "../../lib/config/config.ts";
import { DATASET_VARIANTS, LOSS_OPTIONS, SCHEMA } from "../../lib/config/_schema.ts";
import { augmentProblem } from "../../lib/config/_nested.ts";
import { modelArgNames } from "../../lib/models/registry.ts";
import { closest } from "../../lib/util/suggest.ts";

/** The ConfigError message `fn` throws. */
function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    return e.message;
  }
  assert.fail("expected a ConfigError");
}

const yaml = (text: string, overrides: string[] = []) =>
  parseConfig(text, { source: "fmnist.yaml", overrides });
const fails = (text: string, overrides: string[] = []) => error(() => yaml(text, overrides));

Deno.test("defaults: generated from the schema, frozen, equal to an empty file", () => {
  assert.deepEqual(parseConfig(""), DEFAULT_CONFIG);
  assert.deepEqual(parseConfig("# nothing\n"), DEFAULT_CONFIG);
  assert.ok(Object.isFrozen(DEFAULT_CONFIG.optim.betas));
  assert.equal(DEFAULT_CONFIG.optim.lr, 0.03);
  assert.equal(DEFAULT_CONFIG.train.epochs, 1);
  assert.equal(DEFAULT_CONFIG.train.steps, null);
  assert.deepEqual(DEFAULT_CONFIG.loss.options, { lambda: 1, scale: 1 / (0.07 * 0.1) });
  assert.deepEqual(DEFAULT_CONFIG.data.train, { name: "fashion-mnist", split: "train" });
});

Deno.test("schema: every key has a doc; enums agree with the modules they name", () => {
  const walk = (spec: typeof SCHEMA, path: string) => {
    for (const [k, f] of Object.entries(spec.fields)) {
      assert.ok(f.doc.length > 5, `${path}${k} has no doc`);
      if (f.kind === "section") walk(f, `${path}${k}.`);
    }
  };
  walk(SCHEMA, "");
  const enumValues = (s: unknown) => (s as { values: readonly unknown[] }).values;
  assert.deepEqual(enumValues(SCHEMA.fields.backend), BACKEND_CHOICES);
  const student = SCHEMA.fields.student as typeof SCHEMA;
  assert.deepEqual(enumValues(student.fields.architecture), listModels());
  assert.deepEqual(Object.keys(DATASET_VARIANTS).sort(), [...DATASET_NAMES].sort());
  for (const name of METHOD_NAMES) assert.ok(LOSS_OPTIONS[name], `no options spec for ${name}`);
  // The registry's own list of arguments is readable for every model.
  for (const name of listModels()) assert.ok(modelArgNames(name)?.includes("seed"), name);
  const help = configHelp();
  assert.match(help, /--run-dir <dir> +=/);
  assert.match(help, /optim\.momentum \(default 0\.9\): SGD momentum; a number in \[0, 1\)/);
});

const CUSTOM = `
seed: 7
backend: wasm
runDir: runs/x
data:
  train: {name: folder, root: /data/imgs, size: [32, 32], channels: 3}
  test: null
  subset: 5000
  size: 32
  mean: [0.5, 0.5, 0.5]
  std: [0.25, 0.25, 0.25]
  augment:
    - {op: randomResizedCrop, size: 32, scale: [0.3, 1]}
    - {op: colorJitter, brightness: 0.4, p: 0.8}
    - {op: horizontalFlip}
    - {op: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
  sampler: {kind: random, batchSize: 64}
teacher: {source: safetensors, path: t.safetensors, architecture: resnet50, args: {width: 1}, prefix: module.encoder_q.}
student: {architecture: mobilenet_v2, args: {width: 0.5, inChannels: 3}, headHidden: 512}
loss: {options: {lambda: 0}}
optim: {name: adamw, lr: 1e-3, betas: [0.8, 0.99], clipNorm: 5}
schedule: {name: cosine, minLr: 1e-5}
train: {steps: 300, evalEvery: 0}
eval: {k: 20, t: 0.1, subset: 500}
`;

Deno.test("round trip: stringifyConfig and formatConfig read back to an equal config", () => {
  for (const c of [DEFAULT_CONFIG, yaml(CUSTOM)]) {
    assert.deepEqual(parseConfig(stringifyConfig(c)), c);
    assert.deepEqual(parseConfig(formatConfig(c)), c);
    assert.deepEqual(parse(stringifyConfig(c)), c);
    assert.ok(formatConfig(c).trimEnd().split("\n").length <= 56, formatConfig(c));
  }
  const custom = yaml(CUSTOM);
  assert.equal(custom.train.epochs, null);
  assert.deepEqual(custom.student.args, { width: 0.5, inChannels: 3 });
  assert.deepEqual(custom.loss.options, { lambda: 0, scale: 1 / (0.07 * 0.1) });
  assert.equal(custom.optim.lr, 0.001);
  const compact = formatConfig(DEFAULT_CONFIG);
  assert.match(compact, /^ {2}train: \{name: fashion-mnist, split: train\}$/m);
  assert.match(compact, /^eval:\n {2}k: 10\n {2}t: 0\.07\n {2}subset: 1000\n/m);
  assert.match(
    compact,
    /^ {2}linear: \{epochs: 100, lr: 0\.1, batchSize: 256, milestones: \[60, 80\],/m,
  );
  assert.match(compact, /^ {2}mean: \[0\.286\]$/m);
  assert.match(formatConfig(custom), /^ {4}- \{op: horizontalFlip\}$/m);
  assert.match(stringifyConfig(DEFAULT_CONFIG), /^ {4}kind: neighbour$/m);
});

Deno.test("errors: unknown keys suggest the closest valid one", () => {
  assert.equal(
    fails("optim:\n  learning_rate: 0.1\n"),
    'fmnist.yaml: optim.learning_rate: unknown key (did you mean "lr"?)',
  );
  assert.equal(
    fails("optim: {weight_decay: 0}\n"),
    'fmnist.yaml: optim.weight_decay: unknown key (did you mean "weightDecay"?)',
  );
  assert.equal(
    fails("optimizer: {}\n"),
    'fmnist.yaml: optimizer: unknown key (did you mean "optim"?)',
  );
  assert.equal(
    fails("train: {xyz: 1}\n"),
    "fmnist.yaml: train.xyz: unknown key " +
      "(valid keys: epochs, steps, evalEvery, checkpointEvery, logEvery)",
  );
  assert.equal(
    fails("data: {sampler: {bs: 3}}\n"),
    'fmnist.yaml: data.sampler.bs: unknown key (did you mean "batchSize"?)',
  );
});

Deno.test("errors: wrong types and ranges name the path, the value and what is allowed", () => {
  const cases: [string, string][] = [
    ["optim: {lr: fast}", 'optim.lr: expected a number > 0, got "fast"'],
    ["optim: {lr: 0}", "optim.lr: expected a number > 0, got 0"],
    ["optim: {momentum: 1}", "optim.momentum: expected a number in [0, 1), got 1"],
    ["optim: {weightDecay: -1e-4}", "optim.weightDecay: expected a number ≥ 0, got -0.0001"],
    [
      "optim: {betas: [0.9]}",
      "optim.betas: expected a [number, number] pair (each in [0, 1)), got [0.9]",
    ],
    ["optim: {clipNorm: off}", 'optim.clipNorm: expected null or a number > 0, got "off"'],
    ["optim: {nesterov: yes}", 'optim.nesterov: expected true or false, got "yes"'],
    [
      "optim: {name: adam}",
      'optim.name: expected one of "sgd", "adamw", got "adam" (did you mean "adamw"?)',
    ],
    ["seed: 1.5", "seed: expected an integer ≥ 0, got 1.5"],
    [
      "backend: gpu",
      'backend: expected one of "auto", "webgpu", "wasm", "cpu", got "gpu" (did you mean "webgpu"?)',
    ],
    ["runDir: ''", 'runDir: expected a non-empty string, got ""'],
    ["data: {size: 4}", "data.size: expected an integer ≥ 8, got 4"],
    ["data: {subset: 0}", "data.subset: expected null or an integer ≥ 1, got 0"],
    ["data: {mean: []}", "data.mean: expected a non-empty list of numbers, got []"],
    ["data: {std: [0]}", "data.std: expected a non-empty list of numbers > 0, got [0]"],
    ["data: {sampler: {anchors: 0}}", "data.sampler.anchors: expected an integer ≥ 1, got 0"],
    [
      "data: {sampler: {kind: knn}}",
      'data.sampler.kind: expected one of "neighbour", "random", got "knn"',
    ],
    [
      "schedule: {name: linear}",
      'schedule.name: expected one of "constant", "step", "cosine", "warmup-cosine", got "linear"',
    ],
    ["train: {logEvery: 0}", "train.logEvery: expected an integer ≥ 1, got 0"],
    ["eval: {t: 0}", "eval.t: expected a number > 0, got 0"],
    ["eval: {k: 2.5}", "eval.k: expected an integer ≥ 1, got 2.5"],
    ["teacher: {cache: 1}", "teacher.cache: expected true or false, got 1"],
    [
      "optim: 3",
      "optim: expected a mapping with keys name, lr, momentum, nesterov, weightDecay, betas, eps, clipNorm, got 3",
    ],
    ["student: {args: [1]}", "student.args: expected a mapping, got [1]"],
    ["optim: {lr: .inf}", "optim.lr: expected a number > 0, got Infinity"],
  ];
  for (const [text, message] of cases) assert.equal(fails(text), `fmnist.yaml: ${message}`);
  assert.equal(
    fails("- 1\n"),
    "fmnist.yaml: expected a mapping of sections (seed, backend, runDir, data, teacher, " +
      "student, loss, optim, schedule, train, eval) at the top level, got [1]",
  );
});

Deno.test("errors: checks across keys", () => {
  const cases: [string, string][] = [
    [
      "data: {std: [0.2, 0.3]}",
      "data.std: expected as many values as data.mean (1), got [0.2, 0.3]",
    ],
    [
      "data: {sampler: {neighbours: 40}}",
      "data.sampler.neighbours: expected an integer ≤ data.sampler.pool (31), got 40",
    ],
    [
      "data: {sampler: {pool: 40}}",
      "data.sampler.pool: expected an integer ≤ data.sampler.k (31), got 40",
    ],
    [
      "optim: {nesterov: true, momentum: 0}",
      "optim.nesterov: true needs optim.momentum > 0, got momentum 0",
    ],
    ["schedule: {minLr: 0.1}", "schedule.minLr: expected a number ≤ optim.lr (0.03), got 0.1"],
    [
      "teacher: {source: tfjs}",
      'teacher.path: required when teacher.source is "tfjs" (a tfjs model.json)',
    ],
    [
      "teacher: {source: safetensors}",
      'teacher.path: required when teacher.source is "safetensors" (a .safetensors file)',
    ],
    [
      "teacher: {source: safetensors, path: a.safetensors}",
      `teacher.architecture: required when teacher.source is "safetensors" (one of ${
        listModels().join(", ")
      })`,
    ],
  ];
  for (const [text, message] of cases) assert.equal(fails(text), `fmnist.yaml: ${message}`);
  // Nesterov with AdamW is ignored, not an error.
  yaml("optim: {name: adamw, nesterov: true, momentum: 0}");
});

Deno.test("errors: YAML syntax errors name the file, line and column", () => {
  assert.equal(
    fails("optim:\n  lr: 0.1\n  betas: [0.9\n"),
    "fmnist.yaml:4:1: invalid YAML: Flow sequence in block collection must be sufficiently " +
      "indented and end with a ]",
  );
  assert.equal(
    fails("seed: 1\nseed: 2\n"),
    "fmnist.yaml:2:1: invalid YAML: Map keys must be unique",
  );
  assert.equal(
    fails("optim:\n\tlr: 1\n"),
    "fmnist.yaml:2:1: invalid YAML: Tabs are not allowed as indentation",
  );
});

Deno.test("overrides: every form, applied after the file and before validation", () => {
  const c = yaml("optim: {lr: 0.1, clipNorm: 2}\ndata: {mean: [0.5, 0.5, 0.5], std: [1, 1, 1]}\n", [
    "optim.lr=0.01",
    "optim.clipNorm=null",
    "data.mean=[0.5]",
    "data.std=[0.25]",
    "teacher.prefix=",
    "runDir=2024",
    "teacher.source=tfjs", // a name that is no bundled teacher is fine for another source
    "teacher.name=true",
    "teacher.cacheDir=runs/#1: @x",
    "teacher.output=null",
    "teacher.path='quoted'",
    "data.train={name: cifar10}",
    "student.args.width=0.5",
    "data.sampler={kind: random, batchSize: 32}",
    "optim.betas=[0.8, 0.9]",
    "data.size=32", // cifar10's own size: the list below has no crop or resize
    "data.augment=[{op: horizontalFlip}, {op: normalize, mean: [0.5], std: [0.25]}]",
  ]);
  assert.equal(c.optim.lr, 0.01);
  assert.equal(c.optim.clipNorm, null);
  assert.deepEqual([c.data.mean, c.data.std], [[0.5], [0.25]]);
  assert.equal(c.teacher.prefix, "");
  assert.equal(c.runDir, "2024"); // a number given to a string key keeps its text
  assert.equal(c.teacher.name, "true");
  assert.equal(c.teacher.cacheDir, "runs/#1: @x");
  assert.equal(c.teacher.output, null);
  assert.equal(c.teacher.path, "quoted");
  assert.deepEqual(c.data.train, { name: "cifar10", split: "train" });
  assert.deepEqual(c.student.args, { stem: "cifar", width: 0.5, inChannels: 1 });
  assert.equal(c.data.sampler.kind, "random");
  assert.equal(c.data.sampler.anchors, 16);
  assert.deepEqual(c.optim.betas, [0.8, 0.9]);
  assert.deepEqual(c.data.augment, [
    { op: "horizontalFlip" },
    { op: "normalize", mean: [0.5], std: [0.25] },
  ]);
  // Later overrides win; a bad override is named, not the file.
  assert.equal(yaml("", ["seed=1", "seed=2"]).seed, 2);
  assert.equal(
    fails("optim: {lr: 0.1}", ["optim.lr=abc"]),
    '--set optim.lr=abc: optim.lr: expected a number > 0, got "abc"',
  );
  assert.equal(
    fails("", ["optim.learningRate=1"]),
    '--set optim.learningRate=1: optim.learningRate: unknown key (did you mean "lr"?)',
  );
  assert.equal(
    fails("", ["optim.lr.x=1"]),
    "--set optim.lr.x=1: optim.lr.x: unknown key (optim.lr is a number > 0, not a mapping)",
  );
  assert.equal(
    fails("", ["optim.lr=[1"]),
    '--set optim.lr=[1: optim.lr: cannot read "[1" as a YAML value (Flow sequence must end with a ])',
  );
  assert.equal(
    fails("", ["optim.lr"]),
    "--set optim.lr: expected <key>=<value>, e.g. --set optim.lr=0.01",
  );
  assert.equal(
    fails("", ["optim..lr=1"]),
    '--set optim..lr=1: "optim..lr" is not a dotted key such as optim.lr',
  );
  // A check across keys names whichever source set one of them last.
  assert.equal(
    fails("data: {mean: [0.5, 0.5, 0.5], std: [1, 1, 1]}", ["data.std=[1]"]),
    "--set data.std=[1]: data.std: expected as many values as data.mean (3), got [1]",
  );
  assert.equal(
    fails("schedule: {minLr: 0.01}", ["optim.lr=0.001"]),
    "--set optim.lr=0.001: schedule.minLr: expected a number ≤ optim.lr (0.001), got 0.01",
  );
  assert.equal(
    fails("optim: {momentum: abc}", ["optim.lr=0.1"]),
    'fmnist.yaml: optim.momentum: expected a number in [0, 1), got "abc"',
  );
});

Deno.test("train.epochs/steps: exactly one; setting one clears the other", () => {
  const pick = (c: DistillConfig) => [c.train.epochs, c.train.steps];
  assert.deepEqual(pick(yaml("train: {steps: 500}")), [null, 500]);
  assert.deepEqual(pick(yaml("train: {epochs: 3}", ["train.steps=500"])), [null, 500]);
  assert.deepEqual(pick(yaml("train: {steps: 500}", ["train.epochs=2"])), [2, null]);
  assert.deepEqual(pick(yaml("", ["train.steps=10", "train.epochs=4"])), [4, null]);
  assert.deepEqual(pick(yaml("train: {epochs: null, steps: 9}")), [null, 9]);
  assert.deepEqual(pick(yaml("", ["train.steps=null"])), [1, null]);
  assert.equal(
    fails("train: {epochs: 2, steps: 3}"),
    "fmnist.yaml: train: set exactly one of train.epochs and train.steps, got both (2 and 3)",
  );
  assert.equal(
    fails("", ["train.epochs=null"]),
    "--set train.epochs=null: train: set exactly one of train.epochs and train.steps, " +
      "got neither (both are null)",
  );
  assert.equal(
    fails("", ["train={epochs: 2, steps: 3}"]),
    "--set train={epochs: 2, steps: 3}: train: set exactly one of train.epochs and " +
      "train.steps, got both (2 and 3)",
  );
});

Deno.test("datasets: known names only; folder and npy specs pass; kind changes drop foreign keys", () => {
  assert.equal(
    fails("data: {train: {name: fmnist}}"),
    'fmnist.yaml: data.train.name: expected one of "fashion-mnist", "mnist", "cifar10", ' +
      '"cifar100", "folder", "npy", got "fmnist" (did you mean "fashion-mnist"?)',
  );
  assert.deepEqual(
    yaml("data: {train: {name: folder, root: imgs, extensions: [.png], onBadImage: skip}}")
      .data.train,
    { name: "folder", root: "imgs", extensions: [".png"], onBadImage: "skip" },
  );
  assert.deepEqual(
    yaml("data: {test: {name: npy, path: x.npy, labels: y.npy, classNames: [a, b]}}").data.test,
    { name: "npy", path: "x.npy", labels: "y.npy", classNames: ["a", "b"] },
  );
  assert.deepEqual(yaml("data: {test: {name: cifar10}}").data.test, {
    name: "cifar10",
    split: "test",
  });
  assert.deepEqual(yaml("", ["data.train.dataDir=/d"]).data.train, {
    name: "fashion-mnist",
    split: "train",
    dataDir: "/d",
  });
  assert.equal(yaml("data: {test: null}").data.test, null);
  assert.equal(
    fails("data: {train: {name: folder}}"),
    'fmnist.yaml: data.train.root: missing key (required for name "folder": folder of class folders)',
  );
  assert.equal(
    fails("data: {train: {name: folder, root: x, split: test}}"),
    'fmnist.yaml: data.train.split: unknown key for name "folder" ' +
      "(valid keys: root, extensions, onBadImage, verify, size, channels, maxPixels)",
  );
  assert.equal(
    fails("data: {train: {name: mnist, spilt: test}}"),
    'fmnist.yaml: data.train.spilt: unknown key for name "mnist" (did you mean "split"?)',
  );
  assert.equal(
    fails("data: {train: {name: folder, root: x, channels: 2}}"),
    "fmnist.yaml: data.train.channels: expected one of 1, 3, got 2",
  );
  assert.equal(
    fails("data: {train: null}"),
    "fmnist.yaml: data.train: expected a mapping with " +
      '"name" (fashion-mnist, mnist, cifar10, cifar100, folder, npy), got null',
  );
  assert.equal(
    fails("", ["data.train.name=folder"]),
    '--set data.train.name=folder: data.train.root: missing key (required for name "folder": ' +
      "folder of class folders)",
  );
  // A later layer that changes the kind drops what an earlier layer set for the old kind.
  assert.deepEqual(
    yaml("data: {train: {name: fashion-mnist, split: train, dataDir: /d}}", [
      "data.train={name: folder, root: imgs}",
    ]).data.train,
    { name: "folder", root: "imgs" },
  );
  assert.deepEqual(
    yaml("data: {train: {name: mnist, split: test}}", ["data.train={name: cifar10}"]).data.train,
    { name: "cifar10", split: "test" },
  );
});

Deno.test("augment: a preset or steps; a bad step is reported at its index", () => {
  assert.equal(yaml("data: {augment: eval}").data.augment, "eval");
  const steps = "[{op: resize, size: 32}, {op: centerCrop, size: 28}, ";
  const cases: [string, string][] = [
    [
      `${steps}{op: horizontalFlip, p: 3}]`,
      "data.augment[2].p: expected a probability in [0, 1], got 3",
    ],
    [
      `${steps}{op: grayscale, prob: 0.1}]`,
      'data.augment[2].prob: unknown key (did you mean "p"?)',
    ],
    [
      `${steps}{op: flip}]`,
      'data.augment[2].op: expected one of "randomResizedCrop", "horizontalFlip", "colorJitter", "grayscale", "gaussianBlur", "resize", "centerCrop", "normalize", got "flip" (did you mean "horizontalFlip"?)',
    ],
    [
      `${steps}{op: resize}]`,
      "data.augment[2].size: missing (expected a shorter side, or [height, width])",
    ],
    [`${steps}3]`, 'data.augment[2]: expected an object with an "op", got 3'],
    [
      "moco",
      'data.augment: expected a preset ("mocov2", "none", "eval") or a list of augmentation steps, got "moco" (did you mean "mocov2"?)',
    ],
    [
      "7",
      'data.augment: expected a preset ("mocov2", "none", "eval") or a list of augmentation steps, got 7',
    ],
  ];
  for (const [value, message] of cases) {
    assert.equal(fails(`data:\n  augment: ${value}\n`), `fmnist.yaml: ${message}`);
  }
  assert.deepEqual(augmentProblem("something new"), { problem: "something new" });
});

Deno.test("models and losses: registry names with suggestions; arguments checked", () => {
  assert.equal(
    fails("student: {architecture: resnet}"),
    `fmnist.yaml: student.architecture: expected one of ${
      listModels().map((m) => `"${m}"`).join(", ")
    }, got "resnet" (did you mean "resnet18"?)`,
  );
  assert.equal(
    fails("student: {args: {depth: 3}}"),
    'fmnist.yaml: student.args.depth: unknown key for student.architecture "resnet18" ' +
      "(valid keys: stem, width, inChannels, seed)",
  );
  assert.equal(
    fails("teacher: {source: safetensors, path: a, architecture: resnet50, args: {widht: 1}}"),
    'fmnist.yaml: teacher.args.widht: unknown key for teacher.architecture "resnet50" ' +
      '(did you mean "width"?)',
  );
  assert.deepEqual(yaml("student:\n  args:\n").student.args, {});
  // Changing the architecture drops default arguments the new one does not take.
  assert.deepEqual(yaml("", ["student.architecture=mobilenet_v2"]).student.args, {
    width: 0.25,
    inChannels: 1,
  });
  assert.equal(
    fails("student: {architecture: mobilenet_v2, args: {stem: cifar}}"),
    'fmnist.yaml: student.args.stem: unknown key for student.architecture "mobilenet_v2" ' +
      '(did you mean "stemStride"?)',
  );
  assert.equal(
    fails("loss: {name: cos}"),
    'fmnist.yaml: loss.name: expected one of "coss", "cosine", "ss-only", "disco", "smd", "sld", ' +
      '"dist", "rkd", "sp", "pkt", "seed", "bingo", "compress", got "cos" (did you mean "coss"?)',
  );
  // Each baseline's options are checked against its own defaults.
  assert.equal(
    fails("loss: {name: rkd, options: {lambda: 1}}"),
    'fmnist.yaml: loss.options.lambda: unknown key for loss.name "rkd" ' +
      "(valid keys: distanceWeight, angleWeight)",
  );
  assert.equal(
    fails("loss: {name: seed, options: {queueSize: 0}}"),
    "fmnist.yaml: loss.options.queueSize: expected an integer ≥ 1, got 0",
  );
  assert.deepEqual(yaml("loss: {name: sld}").loss.options, { tauTeacher: 0.07, tauStudent: 0.1 });
  assert.equal(
    fails("loss: {options: {lambda: -1}}"),
    "fmnist.yaml: loss.options.lambda: expected a number ≥ 0, got -1",
  );
  assert.equal(
    fails("loss: {options: {scale: 0}}"),
    "fmnist.yaml: loss.options.scale: expected a number > 0, got 0",
  );
  assert.equal(
    fails("loss: {options: {lamda: 1}}"),
    'fmnist.yaml: loss.options.lamda: unknown key for loss.name "coss" (did you mean "lambda"?)',
  );
});

Deno.test("closest: separators, abbreviations, containment, edit distance", () => {
  assert.equal(closest("weight_decay", ["lr", "weightDecay"]), "weightDecay");
  assert.equal(closest("learning_rate", ["name", "lr", "eps"]), "lr");
  assert.equal(closest("wd", ["lr", "weightDecay"]), "weightDecay");
  assert.equal(closest("fmnist", ["mnist", "fashion-mnist"]), "fashion-mnist");
  assert.equal(closest("Resnet-18", listModels()), "resnet18");
  assert.equal(closest("momentun", ["momentum", "nesterov"]), "momentum");
  assert.equal(closest("optimizer", ["optim", "schedule"]), "optim");
  assert.equal(closest("zzzzzz", ["momentum", "nesterov"]), undefined);
});

Deno.test("loadConfig: file plus overrides; missing file is one line", async () => {
  await withTempDir("config", async (dir) => {
    const path = `${dir}/fmnist.yaml`;
    await Deno.writeTextFile(path, "optim:\n  lr: 0.1\ntrain:\n  epochs: 2\n");
    const c = await loadConfig(path, ["optim.momentum=0.5"]);
    assert.deepEqual([c.optim.lr, c.optim.momentum, c.train.epochs], [0.1, 0.5, 2]);
    await Deno.writeTextFile(path, "optim:\n  lr: fast\n");
    await assert.rejects(loadConfig(path), {
      name: "ConfigError",
      message: `${path}: optim.lr: expected a number > 0, got "fast"`,
    });
    await assert.rejects(loadConfig(`${dir}/none.yaml`), {
      message: `${dir}/none.yaml: no such file (check the --config path)`,
    });
    assert.deepEqual(await loadConfig(undefined), DEFAULT_CONFIG);
    await assert.rejects(loadConfig(undefined, ["seed=-1"]), {
      message: "--set seed=-1: seed: expected an integer ≥ 0, got -1",
    });
  });
});

Deno.test("parseCli: named flags, --set, dotted flags in order; one-line errors", () => {
  assert.deepEqual(
    parseCli([
      "--config",
      "a.yaml",
      "--optim.lr",
      "0.1",
      "--set",
      "seed=3",
      "--backend=cpu",
      "--run-dir",
      "runs/r",
      "--optim.clipNorm=null",
      "--seed",
      "4",
      "--set=data.mean=[0.5]",
      "--optim.lr",
      "-0.5",
      "--no-resume",
    ]),
    {
      configPath: "a.yaml",
      overrides: [
        "optim.lr=0.1",
        "seed=3",
        "backend=cpu",
        "runDir=runs/r",
        "optim.clipNorm=null",
        "seed=4",
        "data.mean=[0.5]",
        "optim.lr=-0.5",
      ],
      resume: false,
      help: false,
      verbose: false,
    },
  );
  assert.deepEqual(parseCli([]), { overrides: [], resume: "auto", help: false, verbose: false });
  assert.equal(parseCli(["--verbose"]).verbose, true);
  assert.equal(parseCli(["--resume"]).resume, true);
  assert.equal(parseCli(["-h"]).help, true);
  const flags = "valid flags: --config, --set, --backend, --run-dir, --seed, --resume, " +
    "--no-resume, --verbose, --help, --<section.key>";
  assert.equal(error(() => parseCli(["--foo"])), `--foo: unknown flag; ${flags}`);
  assert.equal(
    error(() => parseCli(["--rundir", "x"])),
    `--rundir: unknown flag (did you mean "--run-dir"?); ${flags}`,
  );
  assert.equal(
    error(() => parseCli(["x.yaml"])),
    `"x.yaml": unexpected argument (give a config file as --config <file>); ${flags}`,
  );
  assert.equal(
    error(() => parseCli(["--config"])),
    "--config: missing value (e.g. --config=<value>)",
  );
  assert.equal(
    error(() => parseCli(["--resume=yes"])),
    "--resume: takes no value (use --resume or --no-resume)",
  );
  assert.equal(
    error(() => parseCli(["--no-resume", "--resume"])),
    "--resume and --no-resume: give one (--resume continues the run, --no-resume starts it over)",
  );
  assert.equal(
    error(() => parseCli(["--optim.lr"])),
    "--optim.lr: missing value (e.g. --optim.lr <value>, or --optim.lr=<value>)",
  );
  assert.equal(
    error(() => parseCli(["--optim.nesterov", "--seed", "1"])),
    "--optim.nesterov: missing value (e.g. --optim.nesterov <value>, or --optim.nesterov=<value>)",
  );
  assert.equal(
    error(() => parseCli(["--set", "optim.lr"])),
    "--set optim.lr: expected <key>=<value>, e.g. --set optim.lr=0.01",
  );
  // Flags feed loadConfig; dotted keys are checked there.
  const { overrides } = parseCli(["--optim.learning_rate", "1"]);
  assert.equal(
    error(() => parseConfig("", { overrides })),
    '--set optim.learning_rate=1: optim.learning_rate: unknown key (did you mean "lr"?)',
  );
});

Deno.test("configHash: stable under key order; changed by what changes training, not by eval.*", () => {
  const base = configHash(DEFAULT_CONFIG);
  assert.match(base, /^[0-9a-f]{64}$/);
  const reversed = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reversed)
      : v && typeof v === "object"
      ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)]))
      : v;
  assert.equal(configHash(reversed(DEFAULT_CONFIG) as DistillConfig), base);
  assert.equal(configHash(parseConfig(stringifyConfig(DEFAULT_CONFIG))), base);
  for (
    const same of [
      "runDir=elsewhere",
      "train.logEvery=1",
      "train.evalEvery=7",
      "teacher.cacheDir=c",
      "data.train.dataDir=/d",
      "eval.k=20",
      "eval.linear.epochs=3",
    ]
  ) {
    assert.equal(configHash(yaml("", [same])), base, same);
  }
  for (const other of ["optim.lr=0.1", "backend=wasm", "seed=1", "data.augment=eval"]) {
    assert.notEqual(configHash(yaml("", [other])), base, other);
  }
  // eval.* has its own hash, which nothing else moves.
  const evalBase = evalHash(DEFAULT_CONFIG);
  assert.match(evalBase, /^[0-9a-f]{64}$/);
  assert.equal(evalHash(reversed(DEFAULT_CONFIG) as DistillConfig), evalBase);
  for (const same of ["optim.lr=0.1", "runDir=elsewhere", "train.evalEvery=7"]) {
    assert.equal(evalHash(yaml("", [same])), evalBase, same);
  }
  for (const other of ["eval.k=20", "eval.linear.milestones=[5]", "eval.testSubset=100"]) {
    assert.notEqual(evalHash(yaml("", [other])), evalBase, other);
  }
});

Deno.test("data.size, data.mean and data.std agree with data.augment, or the config is refused", async () => {
  const list = (extra = "") =>
    `data:\n  augment:\n${extra}    - {op: normalize, mean: [0.286], std: [0.353]}\n`;
  // A list without a crop hands the student the dataset's own 28 px: data.size must say so.
  assert.equal(
    fails(list(), ["data.size=32"]),
    "--set data.size=32: data.size: 32 disagrees with data.augment, whose steps hand the " +
      "student 28×28 images; set data.size to 28, end data.augment's crops and resizes at 32, " +
      "or use the mocov2 or eval preset, which follow data.size",
  );
  const crop = "    - {op: randomResizedCrop, size: 24}\n";
  assert.match(fails(list(crop)), /^fmnist\.yaml: data\.size: 28 disagrees .* 24×24 images;/);
  assert.equal(yaml(list(crop), ["data.size=24"]).data.size, 24);
  // The last crop or resize wins; a shorter-side resize of a square image stays square.
  const twoSteps = "    - {op: randomResizedCrop, size: 40}\n    - {op: resize, size: 32}\n";
  assert.equal(yaml(list(twoSteps), ["data.size=32"]).data.size, 32);
  assert.match(fails("data: {augment: none}", ["data.size=32"]), /"none" preset hands/);
  // The presets follow data.size/mean/std, so they never disagree.
  for (const preset of ["mocov2", "eval"]) {
    const c = yaml(`data: {augment: ${preset}}`, ["data.size=32", "data.mean=[0.5]"]);
    assert.equal(c.data.size, 32);
  }
  // Normalisation: the list's last normalize step is what training uses.
  assert.equal(
    fails(list(), ["data.mean=[0.5]"]),
    "--set data.mean=[0.5]: data.mean: [0.5] (with data.std [0.353]) disagrees with " +
      "data.augment's normalize step (mean [0.286], std [0.353]); end data.augment with " +
      "{op: normalize, mean: [0.5], std: [0.353]}, or use a preset, which follows data.mean " +
      "and data.std",
  );
  assert.match(fails(list(), ["data.std=[0.5]"]), /^--set data\.std=\[0\.5\]: data\.std: \[0\.5\]/);
  assert.match(
    fails("data: {augment: [{op: horizontalFlip}]}"),
    /data\.mean: \[0\.286\] .*disagrees with data\.augment, which has no normalize step/,
  );
  // One value stands for every channel, on either side.
  const rgb = "data:\n  train: {name: cifar10}\n  size: 32\n  mean: [0.5, 0.5, 0.5]\n" +
    "  std: [0.25, 0.25, 0.25]\n  augment: [{op: normalize, mean: [0.5], std: [0.25]}]\n";
  assert.equal(yaml(rgb).data.size, 32);
  // Every shipped distill config agrees with itself.
  for (const name of ["default.yaml", "paper-fmnist.yaml"]) {
    const c = await loadConfig(new URL(`../../tasks/configs/${name}`, import.meta.url).pathname);
    assert.ok(Array.isArray(c.data.augment), name);
  }
});
