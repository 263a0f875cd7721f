/**
 * The teacher's evaluation with lib/eval's pinned protocols: weighted kNN
 * (k = 10, T = 0.07 as the CoSS paper) and a linear probe on frozen
 * features, for the teacher and, as the reference to beat, raw pixels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ImageSource } from "../data/types.ts";
import { extractFeatures } from "../eval/features.ts";
import { formatKnn, knnClassify } from "../eval/knn.ts";
import { formatLinear, linearProbe } from "../eval/linear.ts";
import type { Embedder } from "../models/types.ts";
import type { PretrainConfig } from "./_config.ts";
import type { CardKnn, CardLinear } from "./_card.ts";

/** A split with its labels. */
export interface LabelledSplit {
  images: ImageSource;
  labels: Int32Array;
  /** Which images (default: all). */
  indices?: number[];
}

/** Normalised pixels, flattened: the baseline every teacher must beat. */
function pixels(images: ImageSource): Embedder {
  const [h, w, ch] = images.imageShape;
  return {
    featureDim: h * w * ch,
    embed: (x) => tf.reshape(x, [x.shape[0], h * w * ch]) as tf.Tensor2D,
  };
}

function knnCard(r: Awaited<ReturnType<typeof knnClassify>>): CardKnn {
  return { top1: r.top1, top5: r.top5, k: r.k, t: r.t, n: r.n, nTrain: r.nTrain };
}

/** Test kNN and linear probe of `model`, and kNN of raw pixels; each result is logged as one line. */
export async function evaluateTeacher(
  model: Embedder,
  c: PretrainConfig,
  train: LabelledSplit,
  test: LabelledSplit,
  options: { classes: number; log: (line: string) => void; skipLinearProbe?: boolean },
): Promise<{ knn: CardKnn; linear: CardLinear | null; rawPixelKnn: CardKnn }> {
  const { mean, std } = c.data;
  const transform = (x: tf.Tensor4D) => tf.tidy(() => tf.div(tf.sub(x, mean), std) as tf.Tensor4D);
  const knnOptions = { k: c.eval.k, t: c.eval.t, numClasses: options.classes };
  const first = (s: LabelledSplit, n: number | null) => {
    const m = Math.min(n ?? s.images.length, s.images.length);
    return { images: s.images, labels: s.labels.slice(0, m), indices: [...Array(m).keys()] };
  };
  train = first(train, c.eval.trainImages);
  test = first(test, c.eval.testImages);
  const features = async (m: Embedder, s: LabelledSplit) => ({
    ...(await extractFeatures(m, s.images, { transform, batchSize: 500, indices: s.indices })),
    labels: s.labels,
  });
  const ftr = await features(model, train);
  const fte = await features(model, test);
  const knn = await knnClassify(ftr, train.labels, fte, test.labels, knnOptions);
  options.log(`pretrain: teacher ${formatKnn(knn)}`);
  let linear: CardLinear | null = null;
  // eval.linear.epochs: 0 skips the probe, as skipLinearProbe does.
  if (!options.skipLinearProbe && c.eval.linear.epochs > 0) {
    const r = await linearProbe(ftr, fte, {
      ...c.eval.linear,
      seed: c.seed,
      numClasses: options.classes,
    });
    options.log(`pretrain: teacher ${formatLinear(r)}`);
    linear = { top1: r.top1, top5: r.top5, ...r.protocol };
  }
  const rtr = await features(pixels(train.images), train);
  const rte = await features(pixels(test.images), test);
  const raw = await knnClassify(rtr, train.labels, rte, test.labels, knnOptions);
  options.log(`pretrain: raw pixels ${formatKnn(raw)}`);
  return { knn: knnCard(knn), linear, rawPixelKnn: knnCard(raw) };
}
