/**
 * A tfjs `IOHandler` over the local file system for Deno: save any tfjs model
 * as `model.json` + one weights file, and load tfjs `model.json` artifacts
 * (layers or graph models, any number of shards, quantized or not) with the
 * stock `tf.loadLayersModel` / `tf.loadGraphModel`.
 *
 * tfjs ships a file-system handler only in tfjs-node; under Deno its `file://`
 * URLs have no handler and `fetch` of local paths is not what tfjs expects, so
 * this handler reads and writes with `Deno` APIs directly. Every write is
 * atomic, and the weights are written before `model.json`, so a crash never
 * leaves a `model.json` that points to missing or partial weights.
 *
 * @example Save a model and load it back
 * ```ts ignore
 * import * as tf from "@tensorflow/tfjs";
 * import { fileSystemHandler } from "./tfjs_files.ts";
 *
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
 * await model.save(fileSystemHandler("out/tiny"));
 * const again = await tf.loadLayersModel(fileSystemHandler("out/tiny/model.json"));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic } from "./atomic.ts";
import type { IOHandler, ModelArtifacts } from "../tf_types.ts";

/** Options for {@linkcode fileSystemHandler}. */
export interface FileSystemHandlerOptions {
  /**
   * Name of the one weights file that `save` writes next to `model.json`.
   * A plain file name: no directory part.
   *
   * @default {"weights.bin"}
   */
  weightsFileName?: string;
}

type Spec = tf.io.WeightsManifestEntry;

// Bytes per value. `string` weights have no fixed size: see `specBytes`.
const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

const TENSOR_DTYPES: readonly string[] = ["float32", "int32", "bool", "complex64", "string"];

function dirOf(file: string): string {
  const slash = file.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : file.slice(0, slash);
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** Resolve `path` (a model.json or its directory) to the model.json path. */
async function modelJsonForLoad(path: string): Promise<string> {
  if (path.endsWith(".json")) return path;
  try {
    if ((await Deno.stat(path)).isDirectory) return joinPath(path, "model.json");
  } catch { /* reported by the read that follows */ }
  return path;
}

function fail(
  file: string,
  message: string,
  Kind: new (message: string) => Error = SyntaxError,
): never {
  throw new Kind(`Cannot load tfjs model "${file}": ${message}`);
}

/** `shard` relative to `dir`, refusing absolute paths, URLs and `..` escapes. */
function shardPath(file: string, dir: string, shard: unknown): string {
  if (typeof shard !== "string" || shard === "") {
    fail(file, `weight path ${JSON.stringify(shard)} is not a file name`);
  }
  const absolute = /^[\\/]/.test(shard) || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(shard);
  let depth = 0;
  for (const part of shard.split(/[\\/]+/)) {
    if (part === "..") depth--;
    else if (part !== "." && part !== "") depth++;
    if (depth < 0) break;
  }
  if (absolute || depth < 0) {
    fail(file, `weight path "${shard}" escapes the model's directory "${dir}"`);
  }
  return joinPath(dir, shard);
}

function checkSpec(file: string, spec: Spec): void {
  const { name, shape, dtype, quantization: q } = spec ?? {};
  const label = typeof name === "string" ? `weight "${name}"` : "a weight";
  if (typeof name !== "string") fail(file, `${label} has no name`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    fail(file, `${label} has shape ${JSON.stringify(shape)}, not a list of sizes`);
  }
  if (!TENSOR_DTYPES.includes(dtype)) {
    fail(file, `${label} has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (q == null) return;
  if (q.dtype === "float16") {
    if (dtype !== "float32") fail(file, `${label} is float16-quantized but not float32`);
  } else if (q.dtype === "uint8" || q.dtype === "uint16") {
    if (dtype !== "float32" && dtype !== "int32") {
      fail(file, `${label} is ${q.dtype}-quantized but ${dtype}, not float32 or int32`);
    }
    if (!Number.isFinite(q.scale) || !Number.isFinite(q.min)) {
      fail(file, `${label} is ${q.dtype}-quantized without numeric "scale" and "min"`);
    }
  } else {
    fail(
      file,
      `${label} has unsupported quantization ${JSON.stringify(q.dtype)} ` +
        "(supported: uint8, uint16, float16)",
    );
  }
}

/**
 * Bytes `spec` takes at `offset` in `data`. A string tensor is a sequence of
 * (uint32 little-endian length, bytes) records, so its size is read from the
 * data; past the end it counts 4 bytes per missing record, a lower bound.
 */
function specBytes(spec: Spec, data: Uint8Array, offset: number): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization) return size * DTYPE_BYTES[spec.quantization.dtype];
  if (spec.dtype !== "string") return size * DTYPE_BYTES[spec.dtype];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let bytes = 0;
  for (let i = 0; i < size; i++) {
    const at = offset + bytes;
    bytes += 4 + (at + 4 <= data.byteLength ? view.getUint32(at, true) : 0);
  }
  return bytes;
}

function quoteList(names: string[], max = 4): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

interface ManifestGroup {
  paths: string[];
  weights: Spec[];
}

async function readModel(path: string): Promise<ModelArtifacts> {
  const file = await modelJsonForLoad(path);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail(file, "file not found", Deno.errors.NotFound);
    if (e instanceof Deno.errors.IsADirectory) fail(file, "is a directory", TypeError);
    throw e;
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `not JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    fail(file, "not a JSON object (is it a tfjs model.json?)");
  }
  if (json.modelTopology == null) fail(file, "no modelTopology (is it a tfjs model.json?)");
  if (json.weightsManifest == null) fail(file, "no weightsManifest (is it a tfjs model.json?)");
  const manifest = json.weightsManifest as ManifestGroup[];
  if (
    !Array.isArray(manifest) ||
    !manifest.every((g) => Array.isArray(g?.paths) && Array.isArray(g?.weights))
  ) {
    fail(file, "weightsManifest is not a list of {paths, weights} groups");
  }
  const dir = dirOf(file);
  const groups: Uint8Array[][] = [];
  for (const group of manifest) {
    group.weights.forEach((spec) => checkSpec(file, spec));
    const shards: Uint8Array[] = [];
    for (const shard of group.paths) {
      const shardFile = shardPath(file, dir, shard);
      try {
        shards.push(await Deno.readFile(shardFile));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        fail(file, `weight shard "${shard}" not found (${shardFile})`, Deno.errors.NotFound);
      }
    }
    groups.push(shards);
  }
  const total = groups.flat().reduce((n, s) => n + s.byteLength, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  manifest.forEach((group, g) => {
    const start = offset;
    for (const shard of groups[g]) {
      all.set(shard, offset);
      offset += shard.byteLength;
    }
    const have = offset - start;
    const data = all.subarray(start, offset);
    let need = 0;
    let firstOut: string | undefined;
    for (const spec of group.weights) {
      need += specBytes(spec, data, need);
      if (need > have) firstOut ??= spec.name;
    }
    if (need === have) return;
    const what = group.paths.length === 1
      ? `weight shard "${group.paths[0]}" is ${have} bytes`
      : `weight shards ${quoteList(group.paths)} are ${have} bytes together`;
    const needs = `but its ${group.weights.length} weights need ${need}`;
    fail(
      file,
      need > have
        ? `${what}, ${needs}: truncated (first incomplete weight: "${firstOut}")`
        : `${what}, ${needs}: ${have - need} bytes too many`,
    );
  });
  return await tf.io.getModelArtifactsForJSON(
    json,
    () => Promise.resolve([tf.io.getWeightSpecs(manifest), all.buffer]),
  );
}

function joinWeights(data: tf.io.WeightData | undefined): Uint8Array[] {
  if (data == null) return [];
  return (Array.isArray(data) ? data : [data]).map((b) => new Uint8Array(b));
}

async function writeModel(
  path: string,
  artifacts: ModelArtifacts,
  weightsFileName: string,
): Promise<tf.io.SaveResult> {
  const file = path.endsWith(".json") ? path : joinPath(path, "model.json");
  const where = `Cannot save tfjs model "${file}"`;
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new TypeError(`${where}: a binary GraphDef topology cannot be written as JSON`);
  }
  const specs = artifacts.weightSpecs ?? [];
  const chunks = joinWeights(artifacts.weightData);
  if (specs.length > 0 && artifacts.weightData == null) {
    throw new TypeError(`${where}: ${specs.length} weight specs but no weightData`);
  }
  const have = chunks.reduce((n, c) => n + c.byteLength, 0);
  if (!specs.some((s) => s.dtype === "string" && !s.quantization)) {
    const need = specs.reduce((n, s) => n + specBytes(s, new Uint8Array(0), 0), 0);
    if (need !== have) {
      throw new RangeError(`${where}: weightData is ${have} bytes, its weight specs need ${need}`);
    }
  }
  const json: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology ?? {},
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: [{ paths: [weightsFileName], weights: specs }],
  };
  for (
    const key of [
      "trainingConfig",
      "signature",
      "userDefinedMetadata",
      "modelInitializer",
      "initializerSignature",
    ] as const
  ) {
    if (artifacts[key] != null) Object.assign(json, { [key]: artifacts[key] });
  }
  const dir = dirOf(file);
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(joinPath(dir, weightsFileName), chunks);
  await writeFileAtomic(file, new TextEncoder().encode(JSON.stringify(json)));
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

/**
 * A tfjs `IOHandler` that loads a `model.json` (with its weight shards) from
 * the local file system, and saves a model as `model.json` + one weights file.
 *
 * `path` is a `model.json` path, or a directory meaning `<dir>/model.json`
 * (for `save`, any path not ending in `.json` is a directory, created if
 * needed). Shard paths in the manifest are relative to `model.json`'s
 * directory; absolute paths, URLs and `..` escapes are refused. Loading checks
 * that the shards hold exactly the bytes the weight specs need (quantized
 * `uint8`/`uint16`/`float16` weights are sized by their stored dtype and
 * decoded by tfjs) and returns one concatenated `weightData` buffer.
 *
 * @example Load a converted graph model and save a layers model
 * ```ts ignore
 * import * as tf from "@tensorflow/tfjs";
 * import { fileSystemHandler } from "./tfjs_files.ts";
 *
 * const graph = await tf.loadGraphModel(fileSystemHandler("models/resnet/model.json"));
 * const layers = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [8] })] });
 * const result = await layers.save(fileSystemHandler("out/head", { weightsFileName: "head.bin" }));
 * console.log(result.modelArtifactsInfo.weightDataBytes); // 144
 * ```
 *
 * @param path A `model.json` path or its directory.
 * @param options The weights file name used by `save`.
 * @returns A handler with `load` and `save`, for `tf.loadLayersModel`,
 *   `tf.loadGraphModel` and `model.save`.
 * @throws {TypeError} When `weightsFileName` is not a plain file name.
 */
export function fileSystemHandler(
  path: string,
  options: FileSystemHandlerOptions = {},
): IOHandler {
  const weightsFileName = options.weightsFileName ?? "weights.bin";
  if (
    !weightsFileName || /[\\/]/.test(weightsFileName) || weightsFileName === "." ||
    weightsFileName === ".." || weightsFileName === "model.json"
  ) {
    throw new TypeError(
      `weightsFileName "${weightsFileName}" is not a plain file name other than model.json`,
    );
  }
  return {
    load: () => readModel(path),
    save: (artifacts) => writeModel(path, artifacts, weightsFileName),
  };
}
