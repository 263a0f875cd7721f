/**
 * The notebook runner's checks on small synthetic notebooks: a silent cell,
 * an error, code that drifted from what ran, stale committed outputs, and the
 * committed form `--update` writes. No Jupyter is started.
 */
import assert from "assert";
import {
  checkNotebook,
  committedText,
  type Notebook,
  type NotebookCell,
  sourceHash,
} from "../../tasks/notebooks.ts";

const stream = (text: string) => ({ output_type: "stream", name: "stdout", text: [text] });

function code(source: string, outputs: unknown[] = [], metadata = {}): NotebookCell {
  return {
    cell_type: "code",
    source: source.split(/(?<=\n)/),
    metadata,
    outputs: outputs as NotebookCell["outputs"],
    execution_count: 1,
  };
}

function notebook(cells: NotebookCell[]): Notebook {
  return {
    cells: [{ cell_type: "markdown", source: "# Title\n", metadata: {} }, ...cells],
    metadata: { kernelspec: { name: "deno" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** The notebook `--update` commits from an executed copy, and the copy a rerun executes from it. */
function committedPair(cells: NotebookCell[]): { executed: Notebook; committed: Notebook } {
  const committed = JSON.parse(committedText(notebook(cells)));
  return { executed: structuredClone(committed), committed };
}

Deno.test("a notebook whose every code cell has output passes", () => {
  const { executed, committed } = committedPair([
    code("const a = 1;\nconsole.log(a);", [stream("1\n")]),
    code("await Deno.jupyter.display(x);", [{ output_type: "display_data", data: {} }]),
  ]);
  assert.deepEqual(checkNotebook("nb.ipynb", committed, executed), []);
});

Deno.test("a code cell without output fails unless its metadata opts out", () => {
  const { executed, committed } = committedPair([
    code("console.log(1);", []),
    code("function f() {}", [], { coss: { noOutput: true } }),
    code("  \n", []),
  ]);
  const problems = checkNotebook("nb.ipynb", committed, executed);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^nb\.ipynb cell 2 \("console\.log\(1\);"\) produced no output/);
  assert.match(problems[0], /"coss": \{"noOutput": true\}/);
});

Deno.test("an error output fails with its name and first line", () => {
  const error = {
    output_type: "error",
    ename: "TypeError",
    evalue: "x is not a function\nmore detail",
    traceback: [],
  };
  const { executed, committed } = committedPair([code("x();", [error])]);
  assert.deepEqual(checkNotebook("nb.ipynb", committed, executed), [
    'nb.ipynb cell 2 ("x();") raised TypeError: x is not a function',
  ]);
});

Deno.test("an executed copy that ran other code fails, naming the cell", () => {
  const { executed, committed } = committedPair([code("console.log(1);", [stream("1\n")])]);
  const ran = structuredClone(executed);
  ran.cells[1].source = "console.log(2);\n";
  const problems = checkNotebook("nb.ipynb", committed, ran);
  assert.deepEqual(problems, [
    'nb.ipynb cell 2 ("console.log(1);"): the executed copy ran different code than the committed one',
  ]);
  const shorter = notebook([]);
  assert.match(checkNotebook("nb.ipynb", committed, shorter)[0], /0 code cells.* 1$/);
});

Deno.test("committed code edited after --update is stale until the next --update", () => {
  const { committed } = committedPair([code("console.log(1);", [stream("1\n")])]);
  // Someone edits the committed cell without rerunning; the next execution runs the new code.
  committed.cells[1].source = ["console.log(2);\n"];
  const executed = structuredClone(committed);
  executed.cells[1].outputs = [stream("2\n")];
  const problems = checkNotebook("nb.ipynb", committed, executed);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /cell 2 .*committed outputs came from other code/);
  assert.match(problems[0], /deno task notebooks --update/);
  assert.deepEqual(checkNotebook("nb.ipynb", committed, executed, { update: true }), []);
  // A notebook that was never executed by --update has no stamps at all.
  const fresh = notebook([code("console.log(1);\n")]);
  const run = structuredClone(fresh);
  run.cells[1].outputs = [stream("1\n")];
  const stale = checkNotebook("nb.ipynb", fresh, run);
  assert.equal(stale.length, 1);
  assert.match(stale[0], /committed outputs came from other code/);
});

Deno.test("every committed cell ends with a newline, which deno fmt --check needs", () => {
  // Jupyter saves cells without a final newline; --update adds it.
  const jupyterSaved = notebook([code("console.log(1);", [stream("1\n")])]);
  jupyterSaved.cells[0].source = "# Title";
  assert.deepEqual(checkNotebook("nb.ipynb", jupyterSaved, jupyterSaved, { update: true }), []);
  const newline = checkNotebook("nb.ipynb", jupyterSaved, jupyterSaved)
    .filter((p) => p.includes("newline"));
  assert.equal(newline.length, 2);
  assert.match(
    newline[0],
    /^nb\.ipynb cell 1 \("# Title"\): its source does not end with a newline/,
  );
  const committed = JSON.parse(committedText(jupyterSaved)) as Notebook;
  assert.deepEqual(committed.cells.map((c) => c.source), ["# Title\n", ["console.log(1);\n"]]);
  assert.deepEqual(checkNotebook("nb.ipynb", committed, structuredClone(committed)), []);
});

Deno.test("the committed form drops timestamps, stamps code cells and sorts keys", () => {
  const cell = code("console.log(1);", [stream("1\n")], {
    execution: { "iopub.status.busy": "2026-12-01T18:53:11.402000Z" },
    tags: ["keep"],
  });
  const text = committedText(notebook([cell]));
  assert.ok(text.endsWith("}\n"));
  assert.ok(!text.includes("iopub"));
  const nb = JSON.parse(text) as Notebook;
  assert.deepEqual(nb.cells[1].metadata, {
    coss: { ran: sourceHash("console.log(1);\n") },
    tags: ["keep"],
  });
  assert.deepEqual(nb.cells[0].metadata, {});
  assert.deepEqual(Object.keys(nb.cells[1]), [
    "cell_type",
    "execution_count",
    "metadata",
    "outputs",
    "source",
  ]);
  assert.ok(text.startsWith('{\n "cells": [\n  {\n   "cell_type"'), "nbformat's 1-space indent");
  assert.equal(committedText(nb), text, "committing a committed notebook changes nothing");
});
