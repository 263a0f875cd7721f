/**
 * `deno task notebooks [--update] [--budget <s>] [notebook ...]`
 *
 * Execute every `notebooks/*.ipynb` headless on the Deno Jupyter kernel
 * (`jupyter nbconvert --execute`, executed copies in a temp dir) and check
 * each executed copy:
 * - no cell raised an error;
 * - every code cell produced output, unless its metadata opts out with
 *   `"coss": {"noOutput": true}` (for cells that only define things). The
 *   Deno 2.9.6 kernel sometimes drops a cell's result, so a silent cell is
 *   counted as a failure rather than trusted;
 * - the notebook ran within its time budget (default 120 s);
 * - the executed copy ran the committed code, and the committed outputs came
 *   from that code: `--update` stamps each code cell with a hash of the source
 *   that produced its outputs (`"coss": {"ran": …}`), and a cell whose source
 *   no longer matches its stamp fails until `--update` is run again.
 *
 * `--update` writes the executed copies back over the committed notebooks,
 * without volatile metadata (execution timestamps) and with every cell ending
 * in a newline (`deno fmt --check` flags a notebook cell without one), so
 * committed notebooks carry real outputs and reruns diff minimally.
 *
 * Exits 0 when every notebook passed (or, outside CI, Jupyter is missing and
 * they were skipped), 1 when one failed, and 2 with one line `notebooks: …`
 * for a bad flag, no notebooks, or Jupyter missing under `CI=true`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { parseFlags } from "./_cli.ts";
import { OPTIONAL_TOOLS, recordSkip, requireOptional, runScript } from "./_skips.ts";

/** A Jupyter output, as nbformat 4 stores it. */
export interface NotebookOutput {
  output_type: string;
  ename?: string;
  evalue?: string;
  [key: string]: unknown;
}

/** A Jupyter cell, as nbformat 4 stores it. */
export interface NotebookCell {
  cell_type: string;
  id?: string;
  source: string | string[];
  metadata?: Record<string, unknown>;
  outputs?: NotebookOutput[];
  execution_count?: number | null;
  [key: string]: unknown;
}

/** A Jupyter notebook (nbformat 4). */
export interface Notebook {
  cells: NotebookCell[];
  metadata?: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** The cell metadata this runner reads and writes, under the key `coss`. */
export interface CossCellMetadata {
  /** The cell only defines things; it may produce no output. */
  noOutput?: boolean;
  /** Hash of the source whose outputs are stored (written by `--update`). */
  ran?: string;
}

/** Options for {@linkcode checkNotebook}. */
export interface CheckNotebookOptions {
  /** Skip the stale-outputs check: the executed copy is about to replace the committed one. */
  update?: boolean;
}

/** A cell's source as one string. */
export function sourceText(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source ?? "";
}

/** The stamp of a cell's source: the first 16 hex digits of its SHA-256. */
export function sourceHash(source: string): string {
  return createHash("sha256").update(source).digest("hex").slice(0, 16);
}

function cossMeta(cell: NotebookCell): CossCellMetadata {
  const meta = cell.metadata?.coss;
  return meta && typeof meta === "object" ? meta as CossCellMetadata : {};
}

/** `cell 5 ("const x = …")`: 1-based position among all cells, and its first line. */
function cellLabel(cells: NotebookCell[], cell: NotebookCell): string {
  const first = sourceText(cell).trim().split("\n")[0];
  const short = first.length > 48 ? `${first.slice(0, 47)}…` : first;
  return `cell ${cells.indexOf(cell) + 1} (${JSON.stringify(short)})`;
}

/**
 * Every problem with an executed notebook, one line each, naming the notebook
 * and cell: a different code cell list than the committed notebook, an error
 * output, a code cell without output (unless `coss.noOutput`), or (unless
 * `options.update`) committed outputs stamped for other code or a committed
 * cell without a final newline.
 *
 * @example
 * ```ts
 * import { checkNotebook } from "./notebooks.ts";
 *
 * const nb = {
 *   nbformat: 4,
 *   nbformat_minor: 5,
 *   cells: [{ cell_type: "code", source: "1 + 1", metadata: {}, outputs: [] }],
 * };
 * console.log(checkNotebook("demo.ipynb", nb, nb, { update: true }));
 * // ['demo.ipynb cell 1 ("1 + 1") produced no output (…)']
 * ```
 */
export function checkNotebook(
  name: string,
  committed: Notebook,
  executed: Notebook,
  options: CheckNotebookOptions = {},
): string[] {
  const problems: string[] = [];
  const code = (nb: Notebook) => nb.cells.filter((c) => c.cell_type === "code");
  const mine = code(committed);
  const ran = code(executed);
  if (mine.length !== ran.length) {
    return [
      `${name}: the executed copy has ${ran.length} code cells, the committed one ${mine.length}`,
    ];
  }
  if (!options.update) {
    for (const cell of committed.cells) {
      const text = sourceText(cell);
      if (text.trim() !== "" && !text.endsWith("\n")) {
        problems.push(
          `${name} ${cellLabel(committed.cells, cell)}: its source does not end with a newline, ` +
            "which deno fmt --check flags; `deno task notebooks --update` adds it",
        );
      }
    }
  }
  mine.forEach((cell, i) => {
    const label = cellLabel(committed.cells, cell);
    const source = sourceText(cell);
    const out = ran[i];
    if (sourceText(out) !== source) {
      problems.push(
        `${name} ${label}: the executed copy ran different code than the committed one`,
      );
      return;
    }
    const error = (out.outputs ?? []).find((o) => o.output_type === "error");
    if (error) {
      const message = `${error.ename ?? "Error"}: ${error.evalue ?? ""}`.split("\n")[0];
      problems.push(`${name} ${label} raised ${message.slice(0, 200)}`);
    } else if (
      source.trim() !== "" && !cossMeta(cell).noOutput && (out.outputs ?? []).length === 0
    ) {
      problems.push(
        `${name} ${label} produced no output (the kernel may have dropped it; ` +
          'display results and end the cell with a short wait, or mark it "coss": {"noOutput": true})',
      );
    }
    if (!options.update && source.trim() !== "" && cossMeta(cell).ran !== sourceHash(source)) {
      problems.push(
        `${name} ${label}: its committed outputs came from other code; ` +
          "run `deno task notebooks --update` and commit the result",
      );
    }
  });
  return problems;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * The notebook to commit from an executed copy: execution timestamps removed,
 * every cell's source ending in a newline, each code cell stamped with the
 * hash of that source, keys sorted and indented as nbformat writes them.
 */
export function committedText(executed: Notebook): string {
  const nb = structuredClone(executed);
  for (const cell of nb.cells) {
    // deno fmt --check (2.9.6) wants every cell to end with a newline, which Jupyter drops.
    const text = sourceText(cell);
    if (text.trim() !== "" && !text.endsWith("\n")) {
      cell.source = Array.isArray(cell.source)
        ? [...cell.source.slice(0, -1), `${cell.source.at(-1)}\n`]
        : `${text}\n`;
    }
    const meta = cell.metadata ?? {};
    delete meta.execution;
    if (cell.cell_type === "code") {
      meta.coss = { ...cossMeta(cell), ran: sourceHash(sourceText(cell)) };
    }
    cell.metadata = meta;
  }
  return JSON.stringify(sortKeys(nb), null, 1) + "\n";
}

const USAGE = `usage: deno task notebooks [--update] [--budget <seconds>] [notebook ...]

Executes notebooks/*.ipynb (or the given ones) with jupyter nbconvert on the Deno kernel and
fails when a cell errors, a code cell produces no output (opt out per cell with the metadata
"coss": {"noOutput": true}), a notebook runs over its budget, or a committed notebook's outputs
came from other code than it holds. Exits 0 when all pass (or are skipped), 1 when one fails, 2
for a bad flag, no notebooks, or Jupyter missing under CI=true.

Options:
  --update            write the executed copies back over the committed notebooks
  --budget <seconds>  time allowed per notebook (default 120)
  --skip-log <file>   where Jupyter is missing (and CI is not "true"), skip and record each
                      notebook there for deno task test's summary line
  --help, -h          this text

Needs: apt-get install jupyter-nbconvert jupyter-client python3-nbclient; deno jupyter --install`;

const JUPYTER = "/usr/bin/jupyter";

/** Why `jupyter nbconvert` cannot run here, or undefined. */
async function jupyterProblem(): Promise<string | undefined> {
  try {
    const { success } = await new Deno.Command(JUPYTER, {
      args: ["nbconvert", "--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? undefined : `"${JUPYTER} nbconvert --version" failed`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `${JUPYTER} is not installed`;
    throw e;
  }
}

async function execute(path: string, outDir: string, budget: number) {
  let child: Deno.ChildProcess;
  try {
    child = spawn(path, outDir, budget);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new Error(`${JUPYTER} not found; ${USAGE.split("\n").pop()}`);
  }
  // nbclient's per-cell timeout normally ends a stuck run; this is the backstop.
  // SIGINT lets nbclient shut the kernel down; SIGKILL if it does not exit.
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch {
      // it has exited already
    }
  };
  let hardKill: ReturnType<typeof setTimeout> | undefined;
  const kill = setTimeout(() => {
    signal("SIGINT");
    hardKill = setTimeout(() => signal("SIGKILL"), 15_000);
  }, (budget + 60) * 1000);
  const { code, stderr } = await child.output();
  clearTimeout(kill);
  clearTimeout(hardKill);
  return { code, stderr: new TextDecoder().decode(stderr) };
}

function spawn(path: string, outDir: string, budget: number): Deno.ChildProcess {
  return new Deno.Command(JUPYTER, {
    args: [
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      `--ExecutePreprocessor.timeout=${Math.ceil(budget)}`,
      "--ExecutePreprocessor.allow_errors=True",
      "--output-dir",
      outDir,
      path,
    ],
    env: { NO_COLOR: "1", PYDEVD_DISABLE_FILE_VALIDATION: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function main(args: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags(args, {
    options: {
      update: { type: "boolean" },
      budget: { type: "string" },
      "skip-log": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    usage: USAGE,
    positionals: true,
  });
  if (help) return 0;
  const budget = Number(values.budget ?? 120);
  if (!(budget > 0)) {
    throw new RangeError(`--budget must be a positive number, got "${values.budget}"`);
  }
  const paths = positionals.length > 0 ? positionals : [...Deno.readDirSync("notebooks")]
    .filter((e) => e.isFile && e.name.endsWith(".ipynb"))
    .map((e) => `notebooks/${e.name}`)
    .sort();
  if (paths.length === 0) throw new Error("no notebooks found in notebooks/");
  // Jupyter is optional: skipped with the reason outside CI, a failure under CI=true.
  const problem = await jupyterProblem();
  if (problem) {
    const { apt, then } = OPTIONAL_TOOLS.jupyter;
    const install = `sudo apt-get install ${apt.join(" ")}; ${then}`;
    if (requireOptional()) throw new Error(`${problem}; CI must install it (${install})`);
    console.log(`notebooks: skipped ${paths.length}, ${problem} (install: ${install})`);
    const log = values["skip-log"];
    if (log) {
      for (const p of paths) recordSkip({ test: `notebook ${p}`, needs: ["jupyter"] }, log);
    }
    return 0;
  }
  // In /tmp, not $TMPDIR: the task's write permission names /tmp.
  const tmp = await Deno.makeTempDir({ dir: "/tmp", prefix: "coss-notebooks-" });
  let failed = 0;
  for (const path of paths) {
    const name = path.split("/").pop()!;
    const committed = JSON.parse(await Deno.readTextFile(path)) as Notebook;
    const t0 = performance.now();
    const { code, stderr } = await execute(path, tmp, budget);
    const seconds = (performance.now() - t0) / 1000;
    let problems: string[];
    let executed: Notebook | undefined;
    if (code !== 0) {
      const lines = stderr.trim().split("\n").filter((l) => l.trim() !== "");
      const hint = /NoSuchKernel|No such kernel/.test(stderr)
        ? " (run `deno jupyter --install`)"
        : "";
      problems = [`${path}: nbconvert exited ${code}: ${lines.pop() ?? "no message"}${hint}`];
    } else {
      executed = JSON.parse(await Deno.readTextFile(`${tmp}/${name}`)) as Notebook;
      problems = checkNotebook(path, committed, executed, { update: values.update });
    }
    if (seconds > budget) {
      problems.push(`${path}: took ${seconds.toFixed(1)} s, over its ${budget} s budget`);
    }
    const cells = committed.cells.length;
    const codeCells = committed.cells.filter((c) => c.cell_type === "code").length;
    const status = problems.length === 0 ? "ok  " : "FAIL";
    console.log(`${status} ${path}  ${seconds.toFixed(1)} s  ${cells} cells (${codeCells} code)`);
    for (const p of problems) console.log(`  ${p}`);
    if (problems.length > 0) {
      failed++;
    } else if (values.update) {
      await Deno.writeTextFile(path, committedText(executed!));
    }
  }
  if (failed > 0) {
    console.log(`notebooks: ${failed} of ${paths.length} failed; executed copies in ${tmp}`);
    return 1;
  }
  await Deno.remove(tmp, { recursive: true });
  console.log(
    `notebooks: ${paths.length} passed` + (values.update ? "; wrote their outputs back" : ""),
  );
  return 0;
}

if (import.meta.main) await runScript("notebooks", main);
