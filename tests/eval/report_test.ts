/**
 * Reports: training curves read from metrics.jsonl, the 2-D map data, the
 * Markdown tables (every number beside its protocol), the files written
 * and read back, and a comparison of two runs.
 */
import assert from "assert";
import {
  curvesFromMetrics,
  readReport,
  reportMap,
  reportPlots,
  type ReportRun,
  type RunEvaluation,
  writeReport,
} from "../../lib/eval/report.ts";
import { reportMarkdown } from "../../lib/eval/_report_markdown.ts";
import { withTempDir } from "../_helpers.ts";
import { labelled, randomMatrix } from "./_data.ts";

const METRICS = [
  '{"step":20,"epoch":0,"loss":-250.5,"co":-0.9,"ss":-0.85,"lr":0.003,"tensors":336}',
  '{"step":40,"epoch":0,"loss":-260.25,"co":-0.92,"ss":-0.9,"lr":0.002,"tensors":336}',
  '{"step":40,"knn":{"top1":0.7125,"k":10,"t":0.07,"test":1000,"bank":5000}}',
  '{"step":60,"loss":-2', // cut by a kill
  "",
].join("\n");

function evaluation(top1: number): RunEvaluation {
  return {
    data: {
      train: "fashion-mnist/train[:2000]",
      test: "fashion-mnist/test",
      nTrain: 2000,
      nTest: 500,
    },
    knn: [
      {
        name: "student",
        top1,
        top5: 0.98125,
        k: 10,
        t: 0.07,
        n: 500,
        nTrain: 2000,
        numClasses: 10,
      },
      {
        name: "teacher",
        top1: 0.9,
        top5: 0.99,
        k: 10,
        t: 0.07,
        n: 500,
        nTrain: 2000,
        numClasses: 10,
      },
    ],
    linear: [{
      name: "student",
      top1: 0.8125,
      top5: 0.99,
      trainLoss: 0.4,
      n: 500,
      nTrain: 2000,
      numClasses: 10,
      protocol: {
        epochs: 100,
        lr: 0.1,
        batchSize: 256,
        milestones: [60, 80],
        gamma: 0.1,
        momentum: 0.9,
        weightDecay: 0,
        seed: 0,
        normalize: "standardize",
      },
    }],
    manifold: {
      teacher: "teacher",
      student: "student",
      n: 500,
      nnIoU: [{ k: 1, value: 0.25, chance: 1 / 499 }, { k: 5, value: 0.3125, chance: 0.0055 }],
      cka: 0.8375,
      cosine: { perSample: 0.95, perDimension: 0.875, n: 500, dim: 64, projected: true },
    },
  };
}

function run(name: string, top1: number): ReportRun {
  const labels = labelled(40, 10, 3);
  return {
    name,
    source: `runs/${name}`,
    meta: { student: { architecture: "resnet18", width: 0.25 }, steps: 60, trainSeconds: 12.5 },
    evaluation: evaluation(top1),
    curves: curvesFromMetrics(METRICS, name),
    map: reportMap(
      [{ name: "teacher", features: randomMatrix(40, 8, 1) }, {
        name: "student",
        features: randomMatrix(40, 6, 2),
      }],
      labels,
      30,
    ),
  };
}

Deno.test("curvesFromMetrics: loss terms by their names, kNN in %, cut lines skipped", () => {
  const points = curvesFromMetrics(METRICS, "a");
  assert.deepEqual(
    points.map((p) => [p.step, p.metric, p.value]),
    [
      [20, "loss", -250.5],
      [20, "L_co", -0.9],
      [20, "L_ss", -0.85],
      [40, "loss", -260.25],
      [40, "L_co", -0.92],
      [40, "L_ss", -0.9],
      [40, "kNN-10 top-1 (%)", 71.25],
    ],
  );
  assert.ok(points.every((p) => p.run === "a"));
});

Deno.test("reportMap: the same evenly spaced images in every panel, 2-D PCA coordinates", () => {
  const r = run("a", 0.8);
  const map = r.map!;
  assert.equal(map.labels.length, 30);
  // Row i is image floor(i·40/30): labels follow that subsample.
  const labels = labelled(40, 10, 3);
  assert.deepEqual(
    map.labels,
    Array.from({ length: 30 }, (_, i) => labels[Math.floor(i * 40 / 30)]),
  );
  for (const p of map.panels) {
    assert.equal(p.coords.length, 60);
    assert.equal(p.explained.length, 2);
    assert.ok(p.explained[0] >= p.explained[1] && p.explained[0] <= 1);
    // PCA coordinates are centred.
    const mean = p.coords.filter((_, i) => i % 2 === 0).reduce((s, x) => s + x, 0) / 30;
    assert.ok(Math.abs(mean) < 1e-3, `${p.name} mean ${mean}`);
  }
});

Deno.test("reportMarkdown: every number sits beside its protocol", () => {
  const md = reportMarkdown(
    { title: "T", runs: [run("a", 0.8125)], toolkit: "x@1", created: "now" },
    ["curves.svg"],
  );
  assert.match(md, /\| features \| top-1 \| top-5 \| k \| T \| test images \| bank images \|/);
  assert.match(md, /\| student \| 81\.25% \| 98\.13% \| 10 \| 0\.07 \| 500 \| 2000 \|/);
  assert.match(
    md,
    /\| student \| 81\.25% \| 99\.00% \| SGD lr 0\.1, momentum 0\.9, wd 0, 100 epochs, batch 256, ×0\.1 at \[60, 80\], standardize features \| 500 \| 2000 \|/,
  );
  assert.match(
    md,
    /\| a \(teacher ↔ student\) \| 500 \| 0\.250 \| 0\.313 \| 0\.838 \| 0\.950 \| 0\.875 \|/,
  );
  assert.match(md, /\| chance \(independent spaces\) \| 500 \| 2\.0e-3 \| 5\.5e-3 \|/);
  assert.match(md, /!\[Training curves[^\]]*\]\(curves\.svg\)/);
});

Deno.test("writeReport / readReport: files on disk, a comparison, a bad file named", async () => {
  await withTempDir("report", async (dir) => {
    const files = await writeReport(`${dir}/one`, { title: "one", runs: [run("a", 0.8)] });
    assert.deepEqual(files.plots.map((p) => p.split("/").pop()).sort(), [
      "curves.svg",
      "map.svg",
      "nn_iou.svg",
    ]);
    for (const p of files.plots) {
      assert.match(
        await Deno.readTextFile(p),
        /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/,
      );
    }
    const back = await readReport(files.json);
    assert.equal(back.runs[0].evaluation.knn[0].top1, 0.8);
    assert.match(back.toolkit, /^@coss\/distill@/);
    // No temporary files left behind.
    const names = [];
    for await (const e of Deno.readDir(`${dir}/one`)) names.push(e.name);
    assert.deepEqual(names.sort(), [
      "curves.svg",
      "map.svg",
      "nn_iou.svg",
      "report.json",
      "report.md",
    ]);

    const both = { title: "two", runs: [run("a", 0.8), run("b", 0.75)] };
    const md = await Deno.readTextFile((await writeReport(`${dir}/two`, both)).markdown);
    assert.match(md, /\| a: student \| 80\.00% /);
    assert.match(md, /\| b: student \| 75\.00% /);
    const plots = reportPlots(both);
    // One bar per run and k; the teacher's map once, then each run's student.
    assert.equal((plots["nn_iou.svg"].match(/<rect/g) ?? []).length >= 4, true);
    assert.match(plots["map.svg"], /a: student/);
    assert.match(plots["map.svg"], /b: student/);

    await Deno.writeTextFile(`${dir}/bad.json`, '{"runs": [{}]}');
    await assert.rejects(readReport(`${dir}/bad.json`), (e: Error) => {
      assert.ok(e instanceof SyntaxError);
      assert.match(e.message, /bad\.json.*no runs with an evaluation/);
      return true;
    });
  });
});
