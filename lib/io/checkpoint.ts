/**
 * Training checkpoints: one safetensors file per checkpoint, written
 * atomically (temporary file, fsync, rename), so a crash at any moment leaves
 * the previous checkpoint or the new one, never a partial file.
 *
 * Layout: tensors `variables/<name>` (model weights and batch-norm running
 * statistics, by the model's own names) and `optimizer/<name>` (optimizer
 * slots); `__metadata__` holds `coss.format = "coss-checkpoint"`,
 * `coss.version = "1"`, `coss.state`, the JSON of
 * `{step, epoch, rng, config, extra}`, and `coss.order`, the JSON of
 * `{variables: [names], optimizer: [names]}` in the order they were given
 * (safetensors sorts tensors by name, but tfjs optimizers' `setWeights`
 * depends on order). PyTorch reads the file with `safetensors.torch.load_file`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic } from "./atomic.ts";
import { encodeSafetensors, readSafetensors, type SafetensorsInput } from "./safetensors.ts";
import { SafetensorsFormatError } from "./_safetensors_parse.ts";
import { checkTensor, typeName } from "./_safetensors_check.ts";
import type { Tensor, Variable } from "../tf_types.ts";

/** The `coss.format` metadata value that marks a checkpoint. */
export const CHECKPOINT_FORMAT = "coss-checkpoint";
/** The checkpoint layout version this toolkit writes and reads. */
export const CHECKPOINT_VERSION = "1";

/** What a checkpoint holds. */
export interface CheckpointState {
  /** Model variables and batch-norm statistics by name (float32 or int32 tensors). */
  variables: Record<string, Tensor>;
  /**
   * Optimizer slots by name, e.g. from `optimizer.getWeights()`.
   *
   * @default {{}}
   */
  optimizer?: Record<string, Tensor>;
  /** Optimizer steps taken so far; a finite number. */
  step: number;
  /** Epochs completed so far; a finite number. */
  epoch: number;
  /**
   * JSON-serialisable RNG state (plain objects, arrays, strings, finite
   * numbers, booleans, null; typed arrays must be converted with `Array.from`).
   *
   * @default {undefined}
   */
  rng?: unknown;
  /**
   * The resolved config, JSON-serialisable.
   *
   * @default {undefined}
   */
  config?: unknown;
  /**
   * Anything else to keep, JSON-serialisable.
   *
   * @default {{}}
   */
  extra?: Record<string, unknown>;
}

/** Options for {@linkcode saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /**
   * Test hook: called with the temporary file's path once it is complete and
   * flushed, just before the rename that publishes it. Throwing aborts the
   * save and leaves the previous checkpoint in place.
   *
   * @default {undefined}
   */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

/** A checkpoint read back by {@linkcode loadCheckpoint}. */
export interface LoadedCheckpoint {
  /** Model variables and batch-norm statistics by name, in saved order; the caller disposes them. */
  variables: Record<string, Tensor>;
  /**
   * Optimizer slots by name, in saved order (so `Object.entries` rebuilds
   * what `optimizer.getWeights()` gave); the caller disposes them.
   */
  optimizer: Record<string, Tensor>;
  /** Optimizer steps taken. */
  step: number;
  /** Epochs completed. */
  epoch: number;
  /** The RNG state, as saved (`undefined` when none was). */
  rng: unknown;
  /** The config, as saved (`undefined` when none was). */
  config: unknown;
  /** Anything else that was saved. */
  extra: Record<string, unknown>;
}

/** Options for {@linkcode restoreVariables}. */
export interface RestoreVariablesOptions {
  /**
   * Refuse (and assign nothing) unless every variable is in the checkpoint
   * with the same shape and dtype and the checkpoint holds nothing else.
   * When false, assign what matches and report the rest.
   *
   * @default {true}
   */
  strict?: boolean;
}

/** What {@linkcode restoreVariables} did. */
export interface RestoreReport {
  /** Names assigned from the checkpoint. */
  restored: string[];
  /** Model variables the checkpoint lacks. */
  missing: string[];
  /** Checkpoint tensors the model lacks. */
  unexpected: string[];
  /** Names present in both with another shape or dtype, e.g. `fc/w: checkpoint [10,4] vs model [10,5]`. */
  mismatched: string[];
}

const VARIABLES = "variables/";
const OPTIMIZER = "optimizer/";

/**
 * Save a checkpoint to one safetensors file, atomically. Everything is
 * checked before anything is written.
 *
 * @example
 * ```ts ignore
 * import { saveCheckpoint } from "./checkpoint.ts";
 * const slots = Object.fromEntries((await optimizer.getWeights()).map((w) => [w.name, w.tensor]));
 * await saveCheckpoint("runs/a/ckpt.safetensors", {
 *   variables: Object.fromEntries(model.weights.map((w) => [w.originalName, w.read()])),
 *   optimizer: slots,
 *   step: 1200,
 *   epoch: 3,
 *   config,
 * });
 * ```
 *
 * @param path Where the checkpoint ends up; its directory must exist.
 * @param state Tensors and training state; tensors are read, not disposed.
 * @param options Test hooks.
 * @throws {TypeError} For non-finite step/epoch, a tensor that is not a live float32/int32 tensor, or state JSON cannot hold, before anything is written.
 * @throws {Error} When the file cannot be written, naming `path`.
 */
export async function saveCheckpoint(
  path: string,
  state: CheckpointState,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  const who = "saveCheckpoint";
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`${who}: path must be a non-empty string, got ${typeName(path)}`);
  }
  if (typeof state !== "object" || state === null) {
    throw new TypeError(`${who}: state must be an object, got ${typeName(state)}`);
  }
  for (const key of ["step", "epoch"] as const) {
    const v = state[key];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new TypeError(`${who}: state.${key} must be a finite number, got ${typeName(v)}`);
    }
  }
  const groups = [
    [VARIABLES, state.variables, "variables"],
    [OPTIMIZER, state.optimizer ?? {}, "optimizer"],
  ] as const;
  for (const [, tensors, field] of groups) {
    if (typeof tensors !== "object" || tensors === null || Array.isArray(tensors)) {
      throw new TypeError(
        `${who}: state.${field} must be an object of tensors, got ${typeName(tensors)}`,
      );
    }
    for (const [name, t] of Object.entries(tensors)) {
      if (name === "") throw new TypeError(`${who}: state.${field} has an empty tensor name`);
      checkTensor(t, `${who}: state.${field}["${name}"]`);
    }
  }
  const extra = state.extra ?? {};
  if (typeof extra !== "object" || extra === null || Array.isArray(extra)) {
    throw new TypeError(`${who}: state.extra must be an object, got ${typeName(extra)}`);
  }
  const saved = {
    step: state.step,
    epoch: state.epoch,
    rng: state.rng,
    config: state.config,
    extra,
  };
  for (const key of ["rng", "config", "extra"] as const) {
    if (saved[key] !== undefined) checkJson(saved[key], `state.${key}`, new Set(), who);
  }
  const metadata = {
    "coss.format": CHECKPOINT_FORMAT,
    "coss.version": CHECKPOINT_VERSION,
    "coss.state": JSON.stringify(saved),
    "coss.order": JSON.stringify({
      variables: Object.keys(state.variables),
      optimizer: Object.keys(state.optimizer ?? {}),
    }),
  };

  // Read every tensor first (GPU tensors asynchronously), then stream them.
  const inputs: Record<string, SafetensorsInput> = {};
  for (const [prefix, tensors] of groups) {
    for (const [name, t] of Object.entries(tensors)) {
      const values = await t.data() as Float32Array | Int32Array;
      inputs[prefix + name] = {
        dtype: t.dtype === "int32" ? "I32" : "F32",
        shape: [...t.shape],
        values,
      };
    }
  }
  await writeFileAtomic(path, encodeSafetensors(inputs, metadata), {
    beforeRename: options.beforeRename,
  });
}

/** Throw a TypeError naming the first value under `path` that JSON cannot hold as is. */
function checkJson(v: unknown, path: string, open: Set<object>, who: string): void {
  const fail = (what: string): never => {
    throw new TypeError(`${who}: ${path} is ${what}, which JSON cannot hold`);
  };
  switch (typeof v) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(v)) fail(String(v));
      return;
    case "object": {
      if (v === null) return;
      if (open.has(v)) fail("a reference back to itself (a cycle)");
      const proto = Object.getPrototypeOf(v);
      const isArray = Array.isArray(v);
      if (!isArray && proto !== Object.prototype && proto !== null) {
        const hint = ArrayBuffer.isView(v) ? " (convert typed arrays with Array.from)" : "";
        fail(`a ${typeName(v)}${hint}`);
      }
      open.add(v);
      for (const [k, x] of Object.entries(v)) {
        const sub = isArray
          ? `${path}[${k}]`
          : /^[A-Za-z_$][\w$]*$/.test(k)
          ? `${path}.${k}`
          : `${path}[${JSON.stringify(k)}]`;
        // JSON drops undefined properties, harmlessly; in arrays they would become null.
        if (x === undefined && !isArray) continue;
        checkJson(x, sub, open, who);
      }
      open.delete(v);
      return;
    }
    default:
      fail(typeName(v));
  }
}

/**
 * Load a checkpoint written by {@linkcode saveCheckpoint}. Tensors are
 * created on the active backend; the caller disposes them.
 *
 * @example
 * ```ts ignore
 * import { loadCheckpoint, restoreVariables } from "./checkpoint.ts";
 * const ckpt = await loadCheckpoint("runs/a/ckpt.safetensors");
 * restoreVariables(modelVariables, ckpt.variables);
 * console.log(ckpt.step, ckpt.epoch);
 * tf.dispose([...Object.values(ckpt.variables), ...Object.values(ckpt.optimizer)]);
 * ```
 *
 * @param path The checkpoint file.
 * @returns Tensors and training state.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {SyntaxError} For a truncated file, a file that is not a CoSS checkpoint, or an unsupported version; one line naming the file.
 */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  if (typeof path !== "string") {
    throw new TypeError(`loadCheckpoint: path must be a string, got ${typeName(path)}`);
  }
  const head = `Cannot load checkpoint "${path}"`;
  const bad = (problem: string): never => {
    throw new SyntaxError(`${head}: ${problem}`);
  };
  let st;
  try {
    st = await readSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${head}: no such file`, { cause: e });
    }
    if (e instanceof SafetensorsFormatError) {
      const p = e.problem;
      if (p.startsWith("file is truncated: ")) bad(`file is truncated (${p.slice(19)})`);
      if (e.truncated || p.startsWith("PyTorch")) bad(p);
      bad(`not a CoSS checkpoint (not valid safetensors: ${p})`);
    }
    if (e instanceof RangeError) {
      const from = `Cannot read safetensors "${path}": `;
      const problem = e.message.startsWith(from) ? e.message.slice(from.length) : e.message;
      bad(`not a CoSS checkpoint (${problem})`);
    }
    throw e;
  }
  const meta = st.metadata;
  const format = meta["coss.format"];
  if (format === undefined) {
    bad("not a CoSS checkpoint (no coss.format metadata; is it a model weights file?)");
  }
  if (format !== CHECKPOINT_FORMAT) {
    bad(`not a CoSS checkpoint (coss.format is "${format}", expected "${CHECKPOINT_FORMAT}")`);
  }
  if (meta["coss.version"] !== CHECKPOINT_VERSION) {
    bad(
      `checkpoint version ${JSON.stringify(meta["coss.version"] ?? null)} is not supported ` +
        `(this toolkit reads version ${CHECKPOINT_VERSION})`,
    );
  }
  let state: Record<string, unknown> = {};
  try {
    state = JSON.parse(meta["coss.state"] ?? "");
  } catch {
    bad("coss.state metadata is missing or not valid JSON");
  }
  if (typeof state !== "object" || state === null) bad("coss.state metadata is not an object");
  for (const key of ["step", "epoch"]) {
    const v = state[key];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      bad(`coss.state.${key} is ${JSON.stringify(v) ?? "missing"}, not a finite number`);
    }
  }
  const extra = state.extra ?? {};
  if (typeof extra !== "object" || extra === null || Array.isArray(extra)) {
    bad("coss.state.extra is not an object");
  }
  for (const name of st.tensors.keys()) {
    if (!name.startsWith(VARIABLES) && !name.startsWith(OPTIMIZER)) {
      bad(`tensor "${name}" is neither ${VARIABLES}… nor ${OPTIMIZER}…`);
    }
  }

  // Entries, so that any name (even "__proto__") becomes an own key.
  const variables: [string, Tensor][] = [];
  const optimizer: [string, Tensor][] = [];
  try {
    for (const name of savedOrder(meta["coss.order"], [...st.tensors.keys()])) {
      const t = st.tensors.get(name)!;
      const dtype = t.values instanceof Float32Array ? "float32" : "int32";
      const [group, short] = name.startsWith(VARIABLES)
        ? [variables, name.slice(VARIABLES.length)]
        : [optimizer, name.slice(OPTIMIZER.length)];
      group.push([short, tf.tensor(t.values, t.shape, dtype)]);
    }
  } catch (e) {
    tf.dispose([...variables, ...optimizer].map(([, t]) => t));
    throw e;
  }
  return {
    variables: Object.fromEntries(variables),
    optimizer: Object.fromEntries(optimizer),
    step: state.step as number,
    epoch: state.epoch as number,
    rng: state.rng,
    config: state.config,
    extra: extra as Record<string, unknown>,
  };
}

/**
 * The tensor names in the order they were saved, when `coss.order` lists
 * exactly the file's tensors; else the file's own order.
 */
function savedOrder(order: string | undefined, names: string[]): string[] {
  try {
    const o = JSON.parse(order ?? "null");
    const listed = [
      ...o.variables.map((n: string) => VARIABLES + n),
      ...o.optimizer.map((n: string) => OPTIMIZER + n),
    ];
    const present = new Set(names);
    const same = listed.length === names.length && listed.every((n) => present.delete(n));
    if (same) return listed;
  } catch { /* absent or malformed: not needed to read the tensors */ }
  return names;
}

/**
 * Assign loaded tensors to variables by name. Every problem (variables the
 * checkpoint lacks, tensors the model lacks, other shapes or dtypes) is found
 * first and reported at once; in strict mode (the default) any problem throws
 * and nothing is assigned. The variables share the loaded tensors' memory, so
 * the caller may dispose `loaded` afterwards.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { restoreVariables } from "./checkpoint.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const w = tf.variable(tf.zeros([2]));
 * const loaded = { w: tf.tensor1d([1, 2]) };
 * const report = restoreVariables({ w }, loaded);
 * console.log(report.restored, await w.data()); // ["w"], Float32Array [1, 2]
 * tf.dispose([w, loaded.w]);
 * ```
 *
 * @param target The model's variables by name.
 * @param loaded Tensors by the same names, e.g. {@linkcode LoadedCheckpoint.variables}.
 * @param options Whether any mismatch is an error.
 * @returns What was restored and what did not match.
 * @throws {Error} In strict mode, when anything does not match, listing every problem on one line.
 * @throws {TypeError} For arguments that are not variables / tensors.
 */
export function restoreVariables(
  target: Record<string, Variable>,
  loaded: Record<string, Tensor>,
  options: RestoreVariablesOptions = {},
): RestoreReport {
  const who = "restoreVariables";
  for (const [arg, obj] of [["target", target], ["loaded", loaded]] as const) {
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new TypeError(`${who}: ${arg} must be an object by name, got ${typeName(obj)}`);
    }
  }
  for (const [name, v] of Object.entries(target)) {
    if (typeof (v as Variable | null)?.assign !== "function") {
      throw new TypeError(`${who}: target["${name}"] is ${typeName(v)}, not a Variable`);
    }
  }
  for (const [name, t] of Object.entries(loaded)) {
    if (typeof (t as Tensor | null)?.data !== "function") {
      throw new TypeError(`${who}: loaded["${name}"] is ${typeName(t)}, not a Tensor`);
    }
  }
  const report: RestoreReport = { restored: [], missing: [], unexpected: [], mismatched: [] };
  const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  for (const [name, v] of Object.entries(target)) {
    if (!has(loaded, name)) {
      report.missing.push(name);
      continue;
    }
    const t = loaded[name];
    const sameShape = t.shape.length === v.shape.length &&
      t.shape.every((d, i) => d === v.shape[i]);
    if (!sameShape || t.dtype !== v.dtype) {
      const desc = (x: Tensor) =>
        `[${x.shape.join(",")}]${t.dtype !== v.dtype ? ` ${x.dtype}` : ""}`;
      report.mismatched.push(`${name}: checkpoint ${desc(t)} vs model ${desc(v)}`);
    } else report.restored.push(name);
  }
  for (const name of Object.keys(loaded)) if (!has(target, name)) report.unexpected.push(name);

  const strict = options.strict ?? true;
  const problems = [
    report.missing.length &&
    `${report.missing.length} missing from the checkpoint (${report.missing.join(", ")})`,
    report.unexpected.length &&
    `${report.unexpected.length} not in the model (${report.unexpected.join(", ")})`,
    report.mismatched.length &&
    `${report.mismatched.length} with another shape or dtype (${report.mismatched.join("; ")})`,
  ].filter(Boolean);
  if (strict && problems.length) {
    throw new Error(`Cannot restore variables: ${problems.join("; ")}`);
  }
  for (const name of report.restored) target[name].assign(loaded[name]);
  return report;
}

/** What {@linkcode checkpointVariables} reads of a model's parameters: a `ParamStore` (models/params.ts). */
export interface NamedVariables {
  /** Every parameter, by its stable name. */
  entries(): [string, { variable: Variable }][];
}

/**
 * The variables a checkpoint stores, by stable name: `student/<param>` and
 * `head/<param>` (tfjs variable names depend on creation order).
 */
export function checkpointVariables(
  student: { params: NamedVariables },
  head?: { params: NamedVariables },
): Record<string, tf.Variable> {
  const named = (prefix: string, store?: NamedVariables) =>
    (store?.entries() ?? []).map(([n, e]) => [`${prefix}/${n}`, e.variable] as const);
  return Object.fromEntries([...named("student", student.params), ...named("head", head?.params)]);
}
