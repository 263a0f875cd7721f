/**
 * Runs the README's example as a user would (`deno run` of a script that
 * imports `{ tf, cossLoss }`), against this checkout instead of JSR, and
 * checks its printed loss and gradient against PyTorch.
 */
import assert from "assert";
import { assertClose } from "./_helpers.ts";

const root = new URL("../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));
const fixtures = JSON.parse(
  await Deno.readTextFile(new URL("tests/fixtures/coss/coss_cases.json", root)),
);
const golden = fixtures.cases.find((c: { name: string }) => c.name === "readme_example");

function example(): string {
  const section = readme.split("## Use from a script")[1];
  assert.ok(section, "README has no 'Use from a script' section");
  const code = section.match(/```ts\n([\s\S]*?)```/)?.[1];
  assert.ok(code, "README's 'Use from a script' section has no ts block");
  assert.ok(code.includes('from "jsr:@coss/distill"'), "the example imports the JSR package");
  return code.replace('"jsr:@coss/distill"', '"./mod.ts"');
}

async function runExample(env: Record<string, string>) {
  const child = new Deno.Command("deno", {
    args: ["run", "--quiet", "--allow-read", "--allow-env", "-"],
    cwd: root,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(example()));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `example failed:\n${err}`);
  return { out, err };
}

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`README example matches PyTorch (COSS_BACKEND=${backend})`, async () => {
    const { out, err } = await runExample({ COSS_BACKEND: backend });
    const lines = err.split("\n").filter((l) => l.startsWith("coss backend:"));
    assert.equal(lines.length, 1, `expected one backend line on stderr, got:\n${err}`);
    assert.match(lines[0], new RegExp(`^coss backend: ${backend} \\(`));
    const loss = Number(out.match(/^loss (\S+)$/m)?.[1]);
    const grad = out.match(/^grad (.*)$/m)?.[1].split(",").map(Number);
    assert.ok(grad, `no gradient printed:\n${out}`);
    assertClose(loss, golden.loss, { rtol: 1e-5, label: "loss" });
    assertClose(grad, golden.grad_student, { rtol: 1e-4, label: "gradient" });
  });
}

Deno.test("an unknown COSS_BACKEND is a one-line error naming the variable", async () => {
  const child = new Deno.Command("deno", {
    args: ["run", "--quiet", "--allow-read", "--allow-env", "-"],
    cwd: root,
    env: { COSS_BACKEND: "tpu" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(example()));
  await writer.close();
  const { code, stderr } = await child.output();
  assert.notEqual(code, 0);
  assert.match(new TextDecoder().decode(stderr), /Unknown backend "tpu" \(from COSS_BACKEND\)/);
});
