/**
 * What `deno task test` skipped for want of an optional tool, and the one
 * summary line it ends with. A skipped test (or the notebooks step) appends a
 * JSON line to {@linkcode SKIP_LOG}; `tasks/test_skips.ts` clears the log before
 * the suite and prints the summary after it. Records are keyed by test name,
 * so a test registered twice (a child `deno test`, a shuffled rerun) counts once.
 */

/** An optional piece of the test machine, and the Debian packages that install it. */
export interface OptionalTool {
  /** How the summary names it, e.g. `PyTorch`. */
  label: string;
  /** The apt packages that install it. */
  apt: readonly string[];
  /** A step after the packages, e.g. `deno jupyter --install`. */
  then?: string;
}

/** Every optional piece a test may need. */
export const OPTIONAL_TOOLS = {
  pytorch: { label: "PyTorch", apt: ["python3-torch", "python3-torchvision"] },
  chromium: { label: "Chromium", apt: ["chromium"] },
  jupyter: {
    label: "Jupyter",
    apt: ["jupyter-nbconvert", "jupyter-client", "python3-nbclient"],
    then: "deno jupyter --install",
  },
  vulkan: { label: "a Vulkan driver (WebGPU)", apt: ["mesa-vulkan-drivers", "libvulkan1"] },
  "fashion-mnist": { label: "Fashion-MNIST", apt: ["dataset-fashion-mnist"] },
  xz: { label: "xz", apt: ["xz-utils"] },
  root: { label: "root (unshare -n)", apt: [], then: "run as root" },
  // A one-node cluster on this machine: the script installs Debian's packages and starts the daemons.
  slurm: { label: "Slurm", apt: [], then: "sudo bash .ci/slurm-up" },
} as const satisfies Record<string, OptionalTool>;

/** The name of an optional piece. */
export type OptionalPiece = keyof typeof OPTIONAL_TOOLS;

/** The skip log, relative to the repository root (the test task may write `tests/.tmp`). */
export const SKIP_LOG = "tests/.tmp/skipped.jsonl";

/** One skipped test and what it lacked. */
export interface SkipRecord {
  /** The test's name. */
  test: string;
  /** The pieces it lacked. */
  needs: OptionalPiece[];
}

/** Whether a missing optional piece fails (CI installs everything) rather than skips. */
export function requireOptional(): boolean {
  return Deno.env.get("CI") === "true";
}

/**
 * Append one record to the log. It never throws: a run without write access
 * (a child `deno test`, a single file run by hand) just leaves no record.
 */
export function recordSkip(record: SkipRecord, log: string = SKIP_LOG): void {
  try {
    const dir = log.slice(0, log.lastIndexOf("/"));
    if (dir) Deno.mkdirSync(dir, { recursive: true });
    Deno.writeTextFileSync(log, JSON.stringify(record) + "\n", { append: true });
  } catch {
    // no permission or a read-only tree: the skip still shows in the test's name
  }
}

/** Parse the log's lines; lines that are not records (a torn write) are left out. */
export function parseSkips(text: string): SkipRecord[] {
  const out: SkipRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const r = JSON.parse(line);
      if (typeof r?.test !== "string" || !Array.isArray(r.needs)) continue;
      const needs = r.needs.filter((n: unknown) =>
        typeof n === "string" && Object.hasOwn(OPTIONAL_TOOLS, n)
      );
      if (needs.length > 0) out.push({ test: r.test, needs });
    } catch {
      continue;
    }
  }
  return out;
}

/**
 * The one summary line, or undefined when nothing was skipped, e.g.
 * `skipped: 12 tests need PyTorch, Chromium (install: sudo apt-get install
 * python3-torch python3-torchvision chromium)`. Tests count once per name;
 * the pieces and packages keep {@linkcode OPTIONAL_TOOLS}' order, whatever
 * order the (shuffled) tests recorded them in.
 */
export function skipSummary(records: readonly SkipRecord[]): string | undefined {
  const tests = new Set<string>();
  const pieces = new Set<OptionalPiece>();
  for (const r of records) {
    tests.add(r.test);
    for (const n of r.needs) pieces.add(n);
  }
  if (tests.size === 0) return undefined;
  const ordered = (Object.keys(OPTIONAL_TOOLS) as OptionalPiece[]).filter((p) => pieces.has(p));
  const tools: OptionalTool[] = ordered.map((p) => OPTIONAL_TOOLS[p]);
  const count = tests.size === 1 ? "1 test needs" : `${tests.size} tests need`;
  const steps = installSteps(tools).join("; ");
  return `skipped: ${count} ${tools.map((t) => t.label).join(", ")} (install: ${steps})`;
}

/**
 * The commands that install `tools`: one `sudo apt-get install` for all their
 * packages, then each tool's own step, e.g. `["sudo apt-get install chromium",
 * "sudo bash .ci/slurm-up"]`.
 */
export function installSteps(tools: readonly OptionalTool[]): string[] {
  const apt = tools.flatMap((t) => t.apt);
  return [
    ...(apt.length > 0 ? [`sudo apt-get install ${apt.join(" ")}`] : []),
    ...tools.flatMap((t) => t.then ? [t.then] : []),
  ];
}

/**
 * The exit path of the scripts `deno task test` runs around the suite
 * (tasks/test_skips.ts, tasks/notebooks.ts): run `main` on the command line,
 * exit with the code it returns (0 done, 1 a check failed), or, when it
 * throws (a bad flag, an unreadable file), print one line `<name>: <message>`
 * on stderr and exit 2.
 *
 * @param name The script's name, the first word of its error line.
 * @param main The script's body; it gets `Deno.args`.
 */
export async function runScript(
  name: string,
  main: (args: string[]) => Promise<number>,
): Promise<never> {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`${name}: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
