import assert from "assert";
import { ROOT } from "./_cli.ts";

/** Run the probe in a fresh process; it must exit on its own within 120 s. */
async function probe(args: string[], env: Record<string, string> = {}) {
  const { code, signal, stdout, stderr } = await new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-env", "tests/_wasm_threads_probe.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(
    code,
    0,
    `probe ended with ${code} (${signal ?? "no signal"}; SIGTERM: it hung)\n${err}`,
  );
  return JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
}

Deno.test("wasm threads: 2 threads start, match cpu to 1e-5 of scale, leak nothing and let the process exit", async () => {
  const r = await probe(["2"]);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.threads, 2);
  assert.match(r.line, /^coss backend: wasm \(requested \(wasm SIMD, 2 threads\)\)/);
  assert.ok(r.worst < 1e-5, `worst relative difference from cpu: ${r.worst}`);
  assert.equal(r.leaked, 0);
});

Deno.test("wasm threads: COSS_WASM_THREADS=1 keeps the single-threaded build and says why", async () => {
  const r = await probe([], { COSS_WASM_THREADS: "1" });
  assert.equal(r.threads, 1);
  assert.match(r.line, /wasm SIMD, 1 thread \(COSS_WASM_THREADS=1\)/);
  assert.ok(r.worst < 1e-5, `worst relative difference from cpu: ${r.worst}`);
});

Deno.test("wasm threads: a bad COSS_WASM_THREADS is one clear error", async () => {
  const r = await probe([], { COSS_WASM_THREADS: "two" });
  assert.equal(
    r.error,
    'COSS_WASM_THREADS must be a positive integer, got "two": unset it or use e.g. 1 or 2',
  );
});
