/**
 * `deno task prepare`'s view of a distill config: open the training images
 * and the teacher exactly as {@linkcode distill} does, and derive the plan
 * (cache key, block sizes, k) that the shard stages of lib/teacher/prepare.ts
 * share. See that module for the shard contract.
 *
 * @module
 */
import { initBackend } from "../backend.ts";
import { teacherFingerprint } from "../teacher/cache.ts";
import { openDataset } from "../data/datasets.ts";
import { firstImages } from "../data/subset.ts";
import type { PreparePlan, ShardStage } from "../teacher/prepare.ts";
import { keyedByManifest, type Manifest, type ShardSpec } from "../data/manifest.ts";
import { preparedKey } from "../teacher/key.ts";
import { loadOrBuildManifest } from "../data/manifest_cache.ts";
import type { ImageSource } from "../data/types.ts";
import type { Embedder } from "../models/types.ts";
import type { Tensor4D } from "../tf_types.ts";
import type { DistillConfig } from "../config/config.ts";
import { evalTransform } from "../eval/report_run.ts";
import { openTeacher } from "../teacher/open.ts";
import { ViewAugmentation, viewCacheKey } from "../teacher/view_cache.ts";
import { augmentSteps } from "./step.ts";

/** The plan and what the embed stage runs on; `close()` frees the teacher and the data. */
export interface OpenedPrepare {
  /** Key, block sizes, k, and the rebuild command. */
  plan: PreparePlan;
  /** The frozen teacher. */
  teacher: Embedder;
  /** The training images, as distill reads them (`data.subset` applied). */
  images: ImageSource;
  /** The eval transform the teacher cache uses. */
  transform: (x: Tensor4D) => Tensor4D;
  /** Dispose the teacher, close the data. */
  close(): void;
}

/**
 * `deno task prepare --stage manifest`: build the manifest of `config`'s
 * training images (`data.subset` applied) in `teacher.cacheDir`, or find it
 * there, without opening the teacher; one line says which, with the image
 * count, the time and the path.
 *
 * @example
 * ```ts ignore
 * const manifest = await prepareManifest(config);
 * console.log(manifest.key);
 * ```
 */
export async function prepareManifest(
  config: DistillConfig,
  log: (line: string) => void = (l) => console.error(l),
): Promise<Manifest> {
  await initBackend({ backend: config.backend, log });
  const opened = await openDataset(config.data.train);
  try {
    const images = firstImages(opened.images, config.data.subset);
    return await loadOrBuildManifest(images, config.teacher.cacheDir, { log });
  } finally {
    opened.images.close();
  }
}

/**
 * Open what a prepare stage needs from `config`; the cache key is the one
 * `loadOrComputeFeatures` computes for the same config (both key the images
 * by their manifest, read or built in `teacher.cacheDir`), so the merged
 * files are the distill's cache files.
 *
 * @example
 * ```ts ignore
 * const opened = await openPrepare(config, (stage, s) => `deno task prepare --stage ${stage} --shard ${s.index}/${s.count}`);
 * console.log(opened.plan.key);
 * opened.close();
 * ```
 */
export async function openPrepare(
  config: DistillConfig,
  rebuild: (stage: ShardStage, shard: ShardSpec) => string,
  log: (line: string) => void = (l) => console.error(l),
): Promise<OpenedPrepare> {
  await initBackend({ backend: config.backend, log });
  const opened = await openDataset(config.data.train);
  const images = firstImages(opened.images, config.data.subset);
  const { teacher } = await openTeacher(config.teacher, {
    data: { mean: config.data.mean, std: config.data.std },
    log,
  });
  const { transform, key: transformKey } = evalTransform(config);
  const teacherKey = await teacherFingerprint(teacher);
  const manifest = await loadOrBuildManifest(images, config.teacher.cacheDir, {
    log,
    // Every task of an array job would build it (a full decode pass each): say who should.
    onMissing: (path) =>
      log(
        `dataset manifest: none at "${path}", so this task builds it (one pass over the ` +
          `images); for an array job run \`deno task prepare --stage manifest\` once first`,
      ),
  });
  // The images as distill hands them to its caches: named by the manifest's key.
  const keyed = keyedByManifest(images, manifest);
  const key = await preparedKey({
    manifest: manifest.key,
    teacher: teacherKey,
    transform: transformKey,
  });
  // The multi-view cache exactly as distill would open it (same steps, seed, storage type).
  let views: PreparePlan["views"];
  if (config.teacher.cache && config.teacher.views > 0) {
    const augmentation = new ViewAugmentation(augmentSteps(config), config.seed);
    const id = {
      augmentation,
      views: config.teacher.views,
      seed: config.seed,
      dtype: config.teacher.cacheDtype,
    };
    views = { ...id, count: id.views, key: await viewCacheKey(teacherKey, keyed, id) };
  }
  const plan: PreparePlan = {
    views,
    dir: config.teacher.cacheDir,
    key,
    teacherKey,
    transformKey,
    dataset: `${keyed.name} ${keyed.fingerprint}`,
    n: images.length,
    batchSize: config.teacher.batchSize,
    chunkSize: config.teacher.mineChunk,
    k: config.data.sampler.k,
    needLists: config.data.sampler.kind === "neighbour" || config.loss.name === "bingo",
    rebuild,
  };
  return {
    plan,
    teacher,
    images,
    transform,
    close() {
      teacher.dispose();
      opened.images.close();
    },
  };
}
