/**
 * The model registry: build any zoo model by name from a typed arguments
 * object, as configs do.
 *
 * @module
 */
import type { Backbone } from "./backbone.ts";
import { type EfficientNetArgs, EfficientNetB0 } from "./efficientnet.ts";
import { MobileNetV2, type MobileNetV2Args } from "./mobilenet_v2.ts";
import { ResNet, type ResNetArgs } from "./resnet.ts";
import { ViT, VIT_PRESETS, type ViTArgs } from "./vit.ts";

/** Arguments each registry name accepts. */
export interface ModelArgsMap {
  /** ResNet-18 (basic blocks, 512 features at width 1). */
  resnet18: Omit<ResNetArgs, "depth">;
  /** ResNet-34 (basic blocks, 512 features at width 1). */
  resnet34: Omit<ResNetArgs, "depth">;
  /** ResNet-50 (bottlenecks, 2048 features at width 1). */
  resnet50: Omit<ResNetArgs, "depth">;
  /** MobileNetV2 (1280 features at width 1). */
  mobilenet_v2: MobileNetV2Args;
  /** EfficientNet-B0 (1280 features at width 1). */
  efficientnet_b0: EfficientNetArgs;
  /** A ViT of any size; the defaults are ViT-Tiny's. */
  vit: ViTArgs;
  /** ViT-Tiny: `dim` 192, 3 heads, unless overridden. */
  vit_tiny: ViTArgs;
  /** ViT-Small: `dim` 384, 6 heads, unless overridden. */
  vit_small: ViTArgs;
}

/** A registry name. */
export type ModelName = keyof ModelArgsMap;

const BUILDERS: { [K in ModelName]: (args: ModelArgsMap[K]) => Backbone } = {
  resnet18: (a) => new ResNet({ ...a, depth: 18 }),
  resnet34: (a) => new ResNet({ ...a, depth: 34 }),
  resnet50: (a) => new ResNet({ ...a, depth: 50 }),
  mobilenet_v2: (a) => new MobileNetV2(a),
  efficientnet_b0: (a) => new EfficientNetB0(a),
  vit: (a) => new ViT(a),
  vit_tiny: (a) => new ViT({ ...VIT_PRESETS.tiny, ...a }),
  vit_small: (a) => new ViT({ ...VIT_PRESETS.small, ...a }),
};

const ALLOWED: Record<ModelName, string[]> = {
  resnet18: ["stem", "width", "inChannels", "seed"],
  resnet34: ["stem", "width", "inChannels", "seed"],
  resnet50: ["stem", "width", "inChannels", "seed"],
  mobilenet_v2: ["width", "inChannels", "stemStride", "seed"],
  efficientnet_b0: ["width", "inChannels", "stemStride", "seed"],
  vit: ["dim", "depth", "heads", "mlpRatio", "patchSize", "imageSize", "inChannels", "seed"],
  vit_tiny: ["dim", "depth", "heads", "mlpRatio", "patchSize", "imageSize", "inChannels", "seed"],
  vit_small: ["dim", "depth", "heads", "mlpRatio", "patchSize", "imageSize", "inChannels", "seed"],
};

/**
 * The argument keys registry name `name` accepts.
 *
 * @example
 * ```ts
 * import { modelArgNames } from "./registry.ts";
 * console.log(modelArgNames("resnet18")); // ["stem", "width", "inChannels", "seed"]
 * ```
 *
 * @throws {RangeError} For an unknown name.
 */
export function modelArgNames(name: string): readonly string[] {
  const allowed = (ALLOWED as Record<string, string[]>)[name];
  if (!allowed) {
    throw new RangeError(`Unknown model "${name}": expected one of ${listModels().join(", ")}`);
  }
  return allowed;
}

/**
 * The names {@linkcode createModel} accepts.
 *
 * @example
 * ```ts
 * import { listModels } from "./registry.ts";
 * console.log(listModels().includes("resnet18")); // true
 * ```
 */
export function listModels(): ModelName[] {
  return Object.keys(BUILDERS) as ModelName[];
}

/**
 * Build a model by registry name.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createModel } from "./registry.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const student = createModel("resnet18", { stem: "cifar", width: 0.5, inChannels: 1 });
 * console.log(student.featureDim); // 256
 * student.dispose();
 * ```
 *
 * @throws {RangeError} For an unknown name or argument key (naming the closest valid one) or a bad value.
 */
export function createModel<K extends ModelName>(name: K, args: ModelArgsMap[K] = {}): Backbone {
  const builder = BUILDERS[name] as ((a: ModelArgsMap[K]) => Backbone) | undefined;
  if (!builder) {
    throw new RangeError(`Unknown model "${name}": expected one of ${listModels().join(", ")}`);
  }
  // A card records the model's resolved args (resnet18's depth, say): keys beyond the
  // accepted ones load back when they equal what the model resolves them to.
  const given = args as Record<string, unknown>;
  const extra = Object.keys(given).filter((k) => !ALLOWED[name].includes(k));
  const accepted = Object.fromEntries(
    Object.entries(given).filter(([k]) => ALLOWED[name].includes(k)),
  ) as ModelArgsMap[K];
  const unknown = (key: string) =>
    new RangeError(
      `${name}: unknown argument "${key}"; valid arguments are ${ALLOWED[name].join(", ")}`,
    );
  if (extra.length === 0) return builder(args);
  const model = builder(accepted);
  const resolved = model.args as Record<string, unknown>;
  for (const key of extra) {
    if (!(key in resolved)) {
      model.dispose();
      throw unknown(key);
    }
    if (JSON.stringify(resolved[key]) !== JSON.stringify(given[key])) {
      model.dispose();
      throw new RangeError(
        `${name}: argument "${key}" is ${JSON.stringify(resolved[key])} for this model, ` +
          `got ${JSON.stringify(given[key])}; drop it or pick the model it belongs to`,
      );
    }
  }
  return model;
}
