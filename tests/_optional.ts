/**
 * Tests that need an optional tool (PyTorch, Chromium, a Vulkan driver,
 * Fashion-MNIST, a Slurm cluster, ...). Where the tool is missing and `CI` is
 * not `true`, the test is skipped, says why in its name, and records itself for the summary
 * line `deno task test` ends with (tasks/test_skips.ts). Under `CI=true` the
 * test fails instead, naming what CI should have installed.
 */
import assert from "assert";
import {
  installSteps,
  OPTIONAL_TOOLS,
  type OptionalPiece,
  recordSkip,
  requireOptional,
  SKIP_LOG,
} from "../tasks/_skips.ts";
import { chromiumProblem } from "./_chromium.ts";
import { HAS_DEBIAN_FASHION_MNIST, HAS_WEBGPU } from "./_helpers.ts";

const PYTHON = "/usr/bin/python3";
const LOG = new URL(`../${SKIP_LOG}`, import.meta.url).pathname;

async function canImportTorch(): Promise<boolean> {
  try {
    const args = ["-c", "import torch, torchvision"];
    return (await new Deno.Command(PYTHON, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** Whether `name` is an executable on PATH (a test may not run it: the task it runs does). */
export async function onPath(name: string): Promise<boolean> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    try {
      if ((await Deno.stat(`${dir}/${name}`)).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

const probes = new Map<OptionalPiece, Promise<boolean>>();
const PROBE: Record<OptionalPiece, () => Promise<boolean>> = {
  pytorch: canImportTorch,
  chromium: async () => (await chromiumProblem()) === undefined,
  jupyter: () => Deno.stat("/usr/bin/jupyter-nbconvert").then(() => true, () => false),
  vulkan: () => Promise.resolve(HAS_WEBGPU),
  "fashion-mnist": () => Promise.resolve(HAS_DEBIAN_FASHION_MNIST),
  xz: () => onPath("xz"),
  // Deno reads the uid only with --allow-sys; a child deno tells.
  root: async () => {
    if (!(await onPath("unshare"))) return false;
    try {
      const args = ["eval", "console.log(Deno.uid())"];
      const { stdout } = await new Deno.Command("deno", { args, stderr: "null" }).output();
      return new TextDecoder().decode(stdout).trim() === "0";
    } catch {
      return false;
    }
  },
  slurm: hasSlurmNode,
};

/**
 * Whether Slurm can take a job here: `sbatch` on PATH and a controller whose
 * `sinfo` lists a responding node that is up (idle, mixed or busy). Without a
 * controller sinfo retries for a while, so it gets 20 s.
 */
async function hasSlurmNode(): Promise<boolean> {
  if (!(await onPath("sbatch"))) return false;
  try {
    const { success, stdout } = await new Deno.Command("sinfo", {
      args: ["--noheader", "--responding", "--format=%T"],
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(20_000),
    }).output();
    return success &&
      /^(idle|mixed|allocated|completing)$/m.test(new TextDecoder().decode(stdout));
  } catch {
    return false;
  }
}

/** Whether `piece` is present here (probed once per process). */
export function hasOptional(piece: OptionalPiece): Promise<boolean> {
  let p = probes.get(piece);
  if (!p) probes.set(piece, p = PROBE[piece]());
  return p;
}

/** Which of `pieces` are missing here. */
export async function missingOptional(pieces: readonly OptionalPiece[]): Promise<OptionalPiece[]> {
  const have = await Promise.all(pieces.map(hasOptional));
  return pieces.filter((_, i) => !have[i]);
}

/** `PyTorch, Slurm (sudo apt-get install ...; sudo bash .ci/slurm-up)` for a failure message. */
function describe(missing: readonly OptionalPiece[]): string {
  const tools = missing.map((m) => OPTIONAL_TOOLS[m]);
  const steps = installSteps(tools);
  return `${tools.map((t) => t.label).join(", ")}` +
    (steps.length > 0 ? ` (${steps.join("; ")})` : "");
}

/**
 * The name, `ignore` and body a test that lacks `missing` registers with:
 * skipped, recorded and labelled outside CI; failing with what is missing under CI.
 */
export function skipFor(
  def: Deno.TestDefinition,
  missing: readonly OptionalPiece[],
  log: string = LOG,
): Deno.TestDefinition {
  if (missing.length === 0) return def;
  if (requireOptional()) {
    return {
      ...def,
      fn: () => assert.fail(`this test needs ${describe(missing)}, which CI installs`),
    };
  }
  if (!def.ignore) recordSkip({ test: def.name, needs: [...missing] }, log);
  const labels = missing.map((m) => OPTIONAL_TOOLS[m].label).join(", ");
  return { ...def, name: `${def.name} (skipped: needs ${labels})`, ignore: true };
}

/** `Deno.test(def)`, skipped with its reason where one of `pieces` is missing (see the module doc). */
export async function testNeeding(
  pieces: readonly OptionalPiece[],
  def: Deno.TestDefinition,
): Promise<void> {
  Deno.test(skipFor(def, await missingOptional(pieces)));
}
