/**
 * Fault 5 of issue 16 through the real CLI: `data.size`, `data.mean` and
 * `data.std` against `data.augment` in tasks/configs/default.yaml. A
 * disagreement is refused in one line naming both keys, before any work (no
 * run dir, no dataset read, well within a second or two of start-up).
 */
import assert from "assert";
import { ROOT, runTask } from "../_cli.ts";

const cases: [string, RegExp][] = [
  [
    "data.size=32",
    /^error: --set data\.size=32: data\.size: 32 disagrees with data\.augment, whose steps hand the student 28×28 images; set data\.size to 28, .*mocov2 or eval preset, which follow data\.size$/,
  ],
  [
    "data.mean=[0.5]",
    /^error: --set data\.mean=\[0\.5\]: data\.mean: \[0\.5\] \(with data\.std \[0\.353\]\) disagrees with data\.augment's normalize step \(mean \[0\.286\], std \[0\.353\]\); end data\.augment with \{op: normalize, mean: \[0\.5\], std: \[0\.353\]\}/,
  ],
  ["data.std=[0.2]", /^error: --set data\.std=\[0\.2\]: data\.std: \[0\.2\] \(with data\.mean/],
];

for (const [set, message] of cases) {
  Deno.test(`deno task distill --set ${set}: refused before work, naming data.augment`, async () => {
    const runDir = `runs/test-agree-${crypto.randomUUID().slice(0, 8)}`;
    const { code, out, err } = await runTask("distill", [
      "--set",
      set,
      "--set",
      `runDir=${runDir}`,
    ]);
    assert.equal(code, 1, out + err);
    const lines = err.trim().split("\n");
    assert.equal(lines.length, 1, err);
    assert.match(lines[0], message);
    assert.equal(out, "");
    await assert.rejects(Deno.stat(`${ROOT}${runDir}`), Deno.errors.NotFound);
  });
}
