/**
 * Teacher pretraining: `supervised` (cross-entropy through a linear
 * classifier on the pooled features) or `simclr` (NT-Xent on two augmented
 * views through a projection MLP, no labels). Checkpoints every epoch,
 * resumes, and writes the backbone (PyTorch names, no head) with a card of
 * recipe, cost and test metrics.
 *
 * @module
 */
import { checkEvalK } from "../eval/report_run.ts";
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { initBackend } from "../backend.ts";
import { Augmenter, type AugmentStep } from "../augment/augment.ts";
import { openDataset } from "../data/datasets.ts";
import { RandomBatchSampler } from "../data/sampler.ts";
import type { Backbone } from "../models/backbone.ts";
import { ProjectionHead } from "../models/head.ts";
import { ParamStore } from "../models/params.ts";
import { createModel, type ModelName } from "../models/registry.ts";
import { torchStateDict } from "../models/torch_weights.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { loadCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { disposeCheckpoint, TrainState } from "../train/state.ts";
import { type PretrainConfig, stringifyPretrainConfig } from "./_config.ts";
import { gitCommit, type TeacherCard } from "./_card.ts";
import { evaluateTeacher } from "./_eval.ts";
import { ntXentLoss } from "../losses/ntxent.ts";
import { createOptimizer, type Optimizer } from "../optim/optim.ts";
import { learningRate } from "../optim/schedule.ts";

export {
  DEFAULT_PRETRAIN_CONFIG,
  loadPretrainConfig,
  parsePretrainConfig,
  type PretrainConfig,
  PretrainConfigError,
  type PretrainMethod,
  stringifyPretrainConfig,
} from "./_config.ts";
export { gitCommit, type TeacherCard } from "./_card.ts";
export { ntXentLoss } from "../losses/ntxent.ts";

/** Options for {@linkcode pretrain}. */
export interface PretrainOptions {
  /**
   * Continue from `<runDir>/checkpoint.safetensors` when it exists.
   * @default {true}
   */
  resume?: boolean;
  /**
   * Where progress lines go.
   * @default {console.error}
   */
  log?: (line: string) => void;
  /**
   * The command line, recorded in the card.
   * @default {""}
   */
  command?: string;
  /**
   * Skip the final linear probe (tests).
   * @default {false}
   */
  skipLinearProbe?: boolean;
}

/** What {@linkcode pretrain} wrote. */
export interface PretrainResult {
  /** The card, as written to `card.json`. */
  card: TeacherCard;
  /** Path of `model.safetensors`. */
  weights: string;
}

const CKPT = "checkpoint.safetensors";

/** The head trained with the backbone and thrown away after. */
interface TrainHead {
  params: ParamStore;
  apply(f: tf.Tensor2D): tf.Tensor2D;
}

function makeHead(c: PretrainConfig, dim: number, classes: number): TrainHead {
  if (c.method === "simclr") {
    const h = new ProjectionHead(dim, c.simclr.projectionDim, c.simclr.hidden, c.seed + 1);
    return { params: h.params, apply: (f) => h.apply(f) };
  }
  const params = new ParamStore(c.seed + 1);
  params.linear("fc", dim, classes);
  return {
    params,
    apply: (f) =>
      tf.add(tf.matMul(f, params.get("fc.weight") as tf.Tensor2D), params.get("fc.bias")),
  };
}

/** Every variable by a stable name: the model's own, the head's under `head/`. */
function namedVariables(model: Backbone, head: TrainHead): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const [n, e] of model.params.entries()) out[n] = e.variable;
  for (const [n, e] of head.params.entries()) out[`head/${n}`] = e.variable;
  return out;
}

/**
 * Train a teacher as `config` says and write `<out>/model.safetensors` and
 * `<out>/card.json`.
 *
 * @example
 * ```ts ignore
 * import { loadPretrainConfig, pretrain } from "./pretrain.ts";
 * const config = await loadPretrainConfig("tasks/configs/pretrain-fmnist-supervised.yaml");
 * const { card } = await pretrain(config);
 * console.log(card.metrics.knn.top1);
 * ```
 *
 * @throws {Error} When the data cannot be opened or the output cannot be written.
 */
export async function pretrain(
  config: PretrainConfig,
  options: PretrainOptions = {},
): Promise<PretrainResult> {
  const log = options.log ?? ((l: string) => console.error(l));
  const c = config;
  // "auto" (the default) leaves the choice to COSS_BACKEND when it is set, as documented.
  const backend = await initBackend({
    backend: c.backend === "auto" ? undefined : c.backend,
    log,
  });
  const t0 = performance.now();
  const train = await openDataset(c.data.train, { key: "data.train" });
  const test = await openDataset(c.data.test, { key: "data.test" });
  if (!train.evaluation || !test.evaluation) {
    throw new Error(`pretrain: ${c.data.train.name} has no labels, needed for evaluation`);
  }
  // The kNN bank of the final evaluation: refuse an eval.k it cannot serve before training.
  const bank = Math.min(c.eval.trainImages ?? train.images.length, train.images.length);
  checkEvalK(
    c.eval.k,
    bank,
    c.eval.trainImages === null || c.eval.trainImages >= train.images.length
      ? "the training split's size (data.train)"
      : `eval.trainImages (${c.eval.trainImages})`,
  );
  const classes = train.evaluation.classNames.length;
  const n = Math.min(c.data.subset ?? train.images.length, train.images.length);
  const model = createModel(
    c.model.architecture as ModelName,
    { ...c.model.args, seed: c.seed } as never,
  );
  const head = makeHead(c, model.featureDim, classes);
  const vars = [...model.trainableVariables(), ...head.params.trainable()];
  const optimizer: Optimizer = createOptimizer(c.optim, vars);
  const state = new TrainState(namedVariables(model, head), optimizer);
  const norm: AugmentStep = { op: "normalize", mean: c.data.mean, std: c.data.std };
  const augs = (c.method === "simclr" ? [1, 2] : [1]).map((s) =>
    new Augmenter([...c.data.augment, norm], { seed: c.seed * 1000 + s })
  );
  const sampler = new RandomBatchSampler(n, { batchSize: c.train.batchSize, seed: c.seed });
  const total = sampler.batchesPerEpoch * c.train.epochs;
  const labels = train.evaluation.labels;
  let step = 0, startEpoch = 0, trainSeconds = 0, priorWall = 0;
  const ckptPath = join(c.runDir, CKPT);
  const ck = (options.resume ?? true) && await Deno.stat(ckptPath).then(() => true, () => false)
    ? await loadCheckpoint(ckptPath)
    : undefined;
  const changed = ck && recipeDifference(ck.config, c);
  if (ck && changed) {
    disposeCheckpoint(ck);
    throw new Error(
      `Cannot resume run dir "${c.runDir}": its checkpoint was written by another config ` +
        `(${changed}); use another --run-dir, or --no-resume to start it over`,
    );
  }
  await Deno.mkdir(c.runDir, { recursive: true });
  await writeFileAtomic(
    join(c.runDir, "config.yaml"),
    new TextEncoder().encode(stringifyPretrainConfig(c)),
  );
  if (ck) {
    state.restore(ck.variables, ck.optimizer);
    disposeCheckpoint(ck);
    ({ step, epoch: startEpoch } = ck);
    const rng = ck.rng as { augment: number[][] };
    rng.augment.forEach((s, i) => augs[i].setState(s));
    trainSeconds = Number(ck.extra.trainSeconds ?? 0);
    priorWall = Number(ck.extra.wallSeconds ?? ck.extra.trainSeconds ?? 0);
    log(`pretrain: resumed from ${ckptPath} at epoch ${startEpoch}, step ${step}`);
  }
  log(
    `pretrain: ${c.method} ${model.architecture} ${JSON.stringify(model.args)} ` +
      `(${model.parameterCount} params, ${model.featureDim}-d) on ${n} images, ` +
      `${c.train.epochs} epochs × ${sampler.batchesPerEpoch} steps of ${c.train.batchSize}`,
  );
  for (let epoch = startEpoch; epoch < c.train.epochs; epoch++) {
    const te = performance.now();
    let seen = 0, tl = performance.now(), seenAtLog = 0;
    for (const idx of sampler.epoch(epoch)) {
      const x = await train.images.batch(idx);
      const lr = learningRate(c.schedule, c.optim.lr, step, total);
      const y = c.method === "supervised"
        ? tf.tidy(() =>
          tf.oneHot(tf.tensor1d(Int32Array.from(idx, (i) => labels[i]), "int32"), classes)
        )
        : null;
      const views = augs.map((a) => a.apply(x));
      const { value, grads } = tf.variableGrads(() => {
        if (y) {
          const logits = head.apply(model.embed(views[0], { training: true }));
          return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
        }
        const z = views.map((v) => head.apply(model.embed(v, { training: true })));
        return ntXentLoss(z[0], z[1], c.simclr.temperature);
      }, vars);
      optimizer.apply(grads, lr);
      tf.dispose([x, y, ...views, ...Object.values(grads)].filter((t) => t !== null));
      step++;
      seen += idx.length;
      if (step % c.train.logEvery === 0 || seen === sampler.imagesPerEpoch) {
        const loss = (await value.data())[0];
        if (!Number.isFinite(loss)) throw new Error(`pretrain: loss is ${loss} at step ${step}`);
        const ips = (seen - seenAtLog) / ((performance.now() - tl) / 1000);
        tl = performance.now();
        seenAtLog = seen;
        const eta = ((total - step) * c.train.batchSize) / ips;
        log(
          `epoch ${epoch + 1}/${c.train.epochs} step ${step}/${total} loss ${loss.toFixed(4)} ` +
            `lr ${lr.toPrecision(3)} ${ips.toFixed(0)} img/s ETA ${(eta / 60).toFixed(1)} min`,
        );
      }
      value.dispose();
    }
    trainSeconds += (performance.now() - te) / 1000;
    const slots = state.slots();
    await saveCheckpoint(ckptPath, {
      variables: state.variables,
      optimizer: slots,
      step,
      epoch: epoch + 1,
      rng: { augment: augs.map((a) => a.state()) },
      config: c,
      extra: { trainSeconds, wallSeconds: priorWall + (performance.now() - t0) / 1000 },
    });
    tf.dispose(Object.values(slots));
    log(`pretrain: epoch ${epoch + 1} done, checkpoint ${ckptPath}`);
  }
  optimizer.dispose();
  head.params.dispose();

  const metrics = await evaluateTeacher(
    model,
    c,
    { images: train.images, labels },
    { images: test.images, labels: test.evaluation.labels },
    { classes, log, skipLinearProbe: options.skipLinearProbe },
  );
  const card = await writeTeacher(model, c, {
    trainName: train.images.name,
    metrics,
    steps: step,
    trainSeconds,
    backend: backend.name,
    command: options.command ?? "",
  });
  card.wallTimeSeconds = Math.round(priorWall + (performance.now() - t0) / 1000);
  card.resumed = startEpoch > 0;
  await Deno.writeTextFile(join(c.out, "card.json"), JSON.stringify(card, null, 2) + "\n");
  model.dispose();
  train.images.close();
  test.images.close();
  return { card, weights: join(c.out, "model.safetensors") };
}

/** Keys that may change between a checkpoint and its resume: where things go, logging, more epochs. */
const RESUMABLE = new Set(["runDir", "out", "note", "train.logEvery", "train.epochs"]);

/** The first key whose value differs between a checkpoint's config and `c`, as `key: a → b`. */
function recipeDifference(saved: unknown, c: PretrainConfig): string | undefined {
  const flat = (v: unknown, path: string, out: Map<string, string>) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) flat(x, path ? `${path}.${k}` : k, out);
    } else if (!RESUMABLE.has(path)) out.set(path, JSON.stringify(v));
    return out;
  };
  const a = flat(saved, "", new Map()), b = flat(c, "", new Map());
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(key) !== b.get(key)) {
      return `${key}: ${a.get(key) ?? "unset"} → ${b.get(key) ?? "unset"}`;
    }
  }
  return undefined;
}

/** The card's verdict: does the teacher beat raw pixels on kNN, plus the config's note. */
function choice(c: PretrainConfig, m: TeacherCard["metrics"]): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const beats = m.knn.top1 > m.rawPixelKnn.top1;
  const verdict = `${c.method}: test kNN-${m.knn.k} ${pct(m.knn.top1)} vs raw pixels ` +
    `${pct(m.rawPixelKnn.top1)} (T=${m.knn.t}); it ${
      beats ? "beats" : "does not beat"
    } raw pixels.`;
  return c.note ? `${verdict} ${c.note}` : verdict;
}

async function writeTeacher(
  model: Backbone,
  c: PretrainConfig,
  d: {
    trainName: string;
    metrics: TeacherCard["metrics"];
    steps: number;
    trainSeconds: number;
    backend: string;
    command: string;
  },
): Promise<TeacherCard> {
  await Deno.mkdir(c.out, { recursive: true });
  await writeSafetensors(join(c.out, "model.safetensors"), await torchStateDict(model), {
    format: "pt",
    architecture: model.architecture,
    args: JSON.stringify(c.model.args),
  });
  return {
    architecture: model.architecture,
    // What createModel takes (model.args also holds resolved keys such as depth).
    args: { ...c.model.args },
    featureDim: model.featureDim,
    parameterCount: model.parameterCount,
    inputSize: c.data.size,
    channels: model.inChannels,
    mean: c.data.mean,
    std: c.data.std,
    weights: "model.safetensors",
    method: c.method,
    recipe: structuredClone(c) as unknown as Record<string, unknown>,
    dataset: d.trainName,
    epochs: c.train.epochs,
    steps: d.steps,
    wallTimeSeconds: 0,
    trainSeconds: Math.round(d.trainSeconds),
    backend: d.backend,
    gitCommit: await gitCommit(),
    provenance: "lib/pretrain/pretrain.ts with lib/optim/optim.ts (createOptimizer), " +
      "lib/optim/schedule.ts (learningRate), lib/eval (kNN, linear probe)",
    command: d.command,
    metrics: d.metrics,
    choice: choice(c, d.metrics),
    createdAt: new Date().toISOString(),
  };
}
