/**
 * Loading the baseline-loss fixtures (tests/fixtures/losses) and running a
 * fixture case through the matching TypeScript loss.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  bingoTerms,
  compressLoss,
  cosineLoss,
  discoTerms,
  distTerms,
  featureSimilarityLoss,
  pktLoss,
  rkdTerms,
  seedLoss,
  sldLoss,
  smdLoss,
  spaceSimilarityLoss,
  spLoss,
  ssOnlyLoss,
} from "../../lib/losses/mod.ts";

/** A tensor as the fixtures store it. */
export interface FixtureTensor {
  shape: number[];
  data: number[];
}

/** One loss case of loss_cases.json. */
export interface LossCase {
  loss: string;
  name: string;
  description: string;
  options: Record<string, number>;
  row_check: boolean;
  inputs: Record<string, FixtureTensor>;
  value: number;
  terms: Record<string, number>;
  grads: Record<string, number[]>;
}

/** Read a fixture file next to this one's fixtures folder. */
export async function readFixture<T>(file: string): Promise<{ cases: T[] }> {
  const url = new URL(`../fixtures/losses/${file}`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

/** A fixture tensor as a float32 tfjs tensor. */
export function toTensor(t: FixtureTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape, "float32");
}

type Inputs = Record<string, tf.Tensor2D>;

/**
 * Run `loss` on `inputs` (named as in the fixtures) and return the value and
 * the named terms; the caller disposes everything.
 */
export function runLoss(
  loss: string,
  options: Record<string, number>,
  x: Inputs,
): { value: tf.Scalar; terms: Record<string, tf.Scalar> } {
  const { teacher: t, student: s } = x;
  switch (loss) {
    case "cosine":
      return { value: cosineLoss(t, s, options), terms: { co: featureSimilarityLoss(t, s) } };
    case "ss-only":
      return { value: ssOnlyLoss(t, s, options), terms: { ss: spaceSimilarityLoss(t, s) } };
    case "seed":
      return { value: seedLoss(t, s, { queue: x.queue }, options), terms: {} };
    case "disco": {
      const views = x.key ? { key: x.key, queue: x.queue } : undefined;
      const { loss: value, ...terms } = discoTerms(t, s, views, options);
      return { value, terms: terms as Record<string, tf.Scalar> };
    }
    case "bingo": {
      const bag = {
        teacherPositive: x.teacherPositive,
        studentPositive: x.studentPositive,
        queue: x.queue,
      };
      const { loss: value, ...terms } = bingoTerms(t, s, bag, options);
      return { value, terms };
    }
    case "smd":
      return { value: smdLoss(t, s, options), terms: {} };
    case "compress": {
      const banks = { teacherBank: x.teacherBank, studentBank: x.studentBank };
      return { value: compressLoss(t, s, banks, options), terms: {} };
    }
    case "sld":
      return { value: sldLoss(t, s, options), terms: {} };
    case "dist": {
      const { loss: value, ...terms } = distTerms(t, s, options);
      return { value, terms };
    }
    case "rkd": {
      const { loss: value, ...terms } = rkdTerms(t, s, options);
      return { value, terms };
    }
    case "sp":
      return { value: spLoss(t, s), terms: {} };
    case "pkt":
      return { value: pktLoss(t, s, options), terms: {} };
    default:
      throw new Error(`no runner for loss "${loss}"`);
  }
}

/** Largest |a − e| over the largest |e| (0 when both are empty). */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    err = Math.max(err, Math.abs(actual[i] - expected[i]));
  }
  return scale === 0 ? err : err / scale;
}
