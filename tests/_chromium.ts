/**
 * Open a page in headless Chromium from a loopback server and wait for the
 * JSON it POSTs to `/result`; the page, its files and `test_input.json` are
 * served by `resolve`. Chromium's absence is a skip with the reason outside
 * CI and a failure under CI=true (CI installs Debian's chromium).
 */
import assert from "assert";

// A command name, not a path: the test task grants --allow-run=chromium.
const CHROMIUM = "chromium";
const EXIT_TIMEOUT_MS = 10_000;

/** Why Chromium cannot run here, or undefined. */
export async function chromiumProblem(): Promise<string | undefined> {
  try {
    const { success } = await new Deno.Command(CHROMIUM, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? undefined : `"${CHROMIUM} --version" failed`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `"${CHROMIUM}" is not installed`;
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return `no permission to run "${CHROMIUM}" (--allow-run=${CHROMIUM})`;
    }
    throw e;
  }
}

/** Whether a missing Chromium fails (CI) rather than skips. */
export const REQUIRE_CHROMIUM: boolean = Deno.env.get("CI") === "true";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
};

/** Options for {@linkcode runInChromium}. */
export interface PageOptions {
  /** The page's path on the server, e.g. `/index.html?test=1`. */
  page: string;
  /** A URL path to a file on disk, or undefined for 404. */
  resolve: (path: string) => string | undefined;
  /** Served as `/test_input.json`. */
  input: unknown;
  /** The browser profile folder. */
  profile: string;
  /** Seconds to wait for the result. @default {90} */
  timeoutS?: number;
}

/** Serve, open, wait for `/result`; the posted JSON (an `error` key fails the test). */
export async function runInChromium<T>(o: PageOptions): Promise<T> {
  const requests: string[] = [];
  const posted = Promise.withResolvers<Record<string, unknown>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(`${req.method} ${path}`);
    if (req.method === "POST" && path === "/result") {
      posted.resolve(await req.json().catch((e) => ({ error: `bad /result body: ${e}` })));
      return new Response(null, { status: 204 });
    }
    if (path === "/test_input.json") return Response.json(o.input);
    const file = o.resolve(path);
    try {
      if (!file) throw new Deno.errors.NotFound();
      const type = TYPES[file.split(".").pop()!] ?? "application/octet-stream";
      return new Response(await Deno.readFile(file), { headers: { "content-type": type } });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      return new Response("not found", { status: 404 });
    }
  });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--enable-logging=stderr",
      `--user-data-dir=${o.profile}`,
      `http://127.0.0.1:${server.addr.port}${o.page}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const drained = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr = (stderr + decoder.decode(chunk, { stream: true })).slice(-6000);
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => {
    timer = setTimeout(() => r("timeout"), (o.timeoutS ?? 90) * 1000);
  });
  let outcome: Record<string, unknown> | "timeout" | Deno.CommandStatus;
  try {
    outcome = await Promise.race([posted.promise, child.status, timeout]);
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch { /* it already exited */ }
    await child.status;
    await server.shutdown();
  }
  // Chromium's helper processes inherit its stderr: the pipe ends when the last has exited.
  let grace: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    drained.then(() => true),
    new Promise<boolean>((r) => grace = setTimeout(() => r(false), EXIT_TIMEOUT_MS)),
  ]);
  clearTimeout(grace);
  assert.ok(exited, "chromium's child processes outlived it");
  const log = stderr.split("\n").filter((l) => !/dbus|D-Bus/.test(l)).join("\n");
  const context = `\nrequests: ${requests.join(", ")}\nchromium stderr (tail):\n${
    log.slice(-3000)
  }`;
  if (outcome === "timeout") assert.fail(`the page posted no /result in time${context}`);
  if ("success" in outcome) assert.fail(`chromium exited before the page reported${context}`);
  if (outcome.error) assert.fail(`the page failed: ${outcome.error}${context}`);
  return outcome as T;
}
