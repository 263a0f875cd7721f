/**
 * The one program of the GPU bundle (`deno task gpu-bundle`): the toolkit's
 * commands behind one entry point, bundled into a single JavaScript file
 * that runs on a machine with only Deno.
 *
 *   probe [--json f]         the WebGPU adapter, its limits, and what `auto` picks, as JSON
 *   parity [--json f]        WebGPU against cpu (bench/parity.ts); exit 1 on a failure
 *   bench ...                `deno task bench ...`
 *   distill ...              `deno task distill ...`
 *
 * Not meant to run from the source tree (use the tasks there); it is bundled
 * by tasks/gpu_bundle.ts, which lays the bundle out so that the toolkit's
 * relative paths (the bundled teacher, the configs, the PyTorch script)
 * resolve inside it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, probeWebGPU } from "../lib/backend.ts";
import { main as benchMain } from "../bench/cli.ts";
import { formatParity, runParity } from "../bench/parity.ts";
import { distillMain } from "./_distill_cli.ts";
import { runTask } from "./_main.ts";

// tfjs-wasm's single-threaded glue takes Node's path (tfjs sees Node) and
// reads its .wasm from `__dirname`, which a bundle does not define: point it
// at the wasm files the bundle carries in its node_modules mirror.
const WASM_DIR = decodeURIComponent(
  new URL("../../node_modules/@tensorflow/tfjs-backend-wasm/dist", import.meta.url).pathname,
);
(globalThis as { __dirname?: string }).__dirname ??= WASM_DIR;

const USAGE = `usage: coss-gpu probe | parity [--json file] | bench [flags] | distill [flags]`;

/** The value after `flag` in `args`, if any. */
function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

async function probe(args: string[]): Promise<number> {
  const p = await probeWebGPU();
  const limits: Record<string, number> = {};
  if (p.adapter) {
    for (const key in p.adapter.limits) {
      const value = (p.adapter.limits as unknown as Record<string, unknown>)[key];
      if (typeof value === "number") limits[key] = value;
    }
  }
  const info = p.adapter?.info;
  const auto = await initBackend({ backend: "auto", log: false });
  console.error(auto.line);
  const text = JSON.stringify(
    {
      adapter: p.adapter
        ? {
          description: p.description,
          vendor: info?.vendor,
          architecture: info?.architecture,
          device: info?.device,
          software: p.software,
          features: [...p.adapter.features].sort(),
          limits,
        }
        : null,
      problem: p.problem ?? null,
      auto: { backend: auto.name, line: auto.line },
      deno: Deno.version.deno,
      tfjs: tf.version_core,
    },
    null,
    2,
  );
  console.log(text);
  const json = flagValue(args, "--json");
  if (json) await Deno.writeTextFile(json, text + "\n");
  return 0;
}

async function parity(args: string[]): Promise<number> {
  const json = flagValue(args, "--json");
  const report = await runParity({ backend: "webgpu", reference: "cpu" });
  console.log(formatParity(report));
  if (json) await Deno.writeTextFile(json, JSON.stringify(report, null, 2) + "\n");
  if (!report.ok) console.error("parity: WebGPU DISAGREES with cpu (see the table above)");
  return report.ok ? 0 : 1;
}

const [command, ...rest] = Deno.args;
const DEFAULT_CONFIG = decodeURIComponent(
  new URL("./configs/default.yaml", import.meta.url).pathname,
);
await runTask(() => {
  switch (command) {
    case "probe":
      return probe(rest);
    case "parity":
      return parity(rest);
    case "bench":
      return benchMain(rest);
    case "distill":
      return distillMain(rest, DEFAULT_CONFIG);
    default:
      console.error(USAGE);
      return Promise.resolve(2);
  }
});
