/**
 * `deno task distill` with an ONNX teacher, under the task's own grants
 * (`--allow-ffi` scoped to onnxruntime-node's binaries): the bundled teacher
 * exported to ONNX trains a student, and the teacher cache it fills holds
 * the bundled (tfjs) teacher's features to 1e-4. `openTeacher` says on one
 * line when the teacher's normalisation differs from the data's.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { initBackend } from "../../lib/backend.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { loadBundledTeacher } from "../../lib/models/bundled.ts";
import { exportStudent } from "../../lib/models/export.ts";
import { DEFAULT_CONFIG } from "../../lib/config/config.ts";
import { openTeacher } from "../../lib/teacher/open.ts";
import { ROOT, runTask, smallDistill } from "../_cli.ts";
import { maxAbsError } from "../models/_onnx_zoo.ts";

const ID = crypto.randomUUID().slice(0, 8);

async function exportBundled(dir: string): Promise<void> {
  await initBackend({ backend: "cpu", log: false });
  const { model } = await loadBundledTeacher("fashion-mnist");
  try {
    await exportStudent(model, dir, {
      format: "onnx",
      inputSize: [28, 28],
      mean: [0.286],
      std: [0.353],
    });
  } finally {
    model.dispose();
  }
}

async function cacheFeatures(dir: string): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.startsWith("teacher-")) continue;
    out.push(
      (await readSafetensors(`${dir}/${e.name}`)).tensors.get("features")!.values as Float32Array,
    );
  }
  return out;
}

await testNeeding(["fashion-mnist"], {
  name: "distill with an ONNX teacher: trains, and its cache equals the bundled teacher's",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const runs = `runs/test-onnx-${ID}`;
    try {
      await exportBundled(`${ROOT}${runs}/teacher-onnx`);
      const common = smallDistill(`${runs}/cache`);
      const bundled = await runTask("distill", [...common, `--run-dir=${runs}/bundled`]);
      assert.equal(bundled.code, 0, bundled.err);
      const onnx = await runTask("distill", [
        ...common,
        `--run-dir=${runs}/onnx`,
        "--set=teacher.source=onnx",
        `--set=teacher.path=${runs}/teacher-onnx/model.onnx`,
        "--set=teacher.runtime.threads=1",
      ]);
      assert.equal(onnx.code, 0, onnx.err);
      assert.match(
        onnx.err,
        /teacher: ONNX ".*teacher-onnx\/model\.onnx" output "image_embeds" \(64-d\), input "pixel_values" NCHW 1×28×28 \(from .*card\.json\), onnxruntime-node cpu, 1 threads/,
      );
      assert.doesNotMatch(onnx.err, /normalisation differs/, "the card's mean/std are the data's");
      const [a, b] = await cacheFeatures(`${ROOT}${runs}/cache`);
      assert.ok(a && b, "two teacher caches: the bundled teacher's and the ONNX one's");
      const { err, scale } = maxAbsError(a, b);
      assert.ok(err <= 1e-4 * Math.max(1, scale), `cache error ${err} (max ${scale})`);
      await Deno.stat(`${ROOT}${runs}/onnx/student-onnx/onnx/model.onnx`);
    } finally {
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "openTeacher: one line when the ONNX teacher's normalisation differs from the data's",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = `${ROOT}tests/.tmp/onnx-notice-${ID}`;
    try {
      await exportBundled(dir);
      const lines: string[] = [];
      const { teacher } = await openTeacher(
        { ...DEFAULT_CONFIG.teacher, source: "onnx", path: `${dir}/model.onnx` },
        { data: { mean: [0.5], std: [0.5] }, log: (l) => lines.push(l) },
      );
      teacher.dispose();
      assert.equal(lines.length, 2, lines.join("\n"));
      assert.match(
        lines[1],
        /^teacher normalisation differs from the student's: teacher mean \[0\.286\] std \[0\.353\], data mean \[0\.5\] std \[0\.5\]; the teacher's inputs are re-normalised to its own$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("README: the ONNX teacher block is a valid config", async () => {
  const { parseConfig } = await import("../../lib/config/config.ts");
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const block = /```yaml\n(teacher:\n {2}source: onnx[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README has the ONNX teacher block");
  const c = parseConfig(block, { source: "README.md" });
  assert.equal(c.teacher.source, "onnx");
  assert.deepEqual(c.teacher.input.size, [224, 224]);
  assert.deepEqual(c.teacher.runtime, { threads: 2, provider: "cpu" });
});
