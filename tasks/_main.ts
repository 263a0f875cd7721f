/**
 * The exit path every task shares: run `main`, exit with its code, and turn
 * an error into one line on stderr (`error: …`), with the stack only under
 * `--verbose` and never for a config error, which is the user's to fix.
 * A permission Deno refused names the grant of this task in `deno.json` and
 * how to widen it.
 *
 * @module
 */
import { ConfigError } from "../lib/config/config.ts";
import { permission } from "../lib/util/permission.ts";

const DENIED = /Requires (\w+) access to ("[^"]*"|[^,]*), run again with the (--allow-\w+) flag/;

/** The task's name (`distill` for tasks/distill.ts) and its `--allow-x=…` grant in deno.json. */
function grantOf(flag: string): { task: string; grant?: string } {
  const task = Deno.mainModule.split("/").pop()!.replace(/\.ts$/, "");
  try {
    const url = new URL("../deno.json", import.meta.url);
    const line: string = JSON.parse(Deno.readTextFileSync(url)).tasks?.[task] ?? "";
    const grant = line.split(/\s+/).find((w) => w === flag || w.startsWith(`${flag}=`));
    return { task, grant };
  } catch {
    return { task };
  }
}

/** Deno's "run again with the --allow-x flag" as advice for a `deno task` user. */
export function explainDenied(message: string): string {
  const m = DENIED.exec(message);
  if (!m) return message;
  const [whole, kind, what, flag] = m;
  const { task, grant } = grantOf(flag);
  const has = grant ? `is granted only ${grant}` : `has no ${flag}`;
  return message.replace(
    whole,
    `Requires ${kind} access to ${what}; deno task ${task} ${has} (deno.json): use a path ` +
      `it grants, or add ${what} to ${flag} in the "${task}" task of deno.json`,
  );
}

/**
 * Fail at once, in Deno's words, when `path` (an output the run writes only at
 * its end) lies outside the task's write grant, rather than after the work.
 */
export async function requireWrite(path: string, what: string): Promise<void> {
  if ((await permission({ name: "write", path })) === "granted") return;
  throw new Error(
    `${what} ${path}: Requires write access to "${path}", run again with the --allow-write flag`,
  );
}

/** Run a task's `main` and exit the process with its code, or with 1 and one error line. */
export async function runTask(main: () => Promise<number>): Promise<never> {
  try {
    Deno.exit(await main());
  } catch (e) {
    if (e instanceof ConfigError || !Deno.args.includes("--verbose")) {
      const message = e instanceof Error ? e.message : String(e);
      // One line, whatever the message: its lines joined.
      const line = explainDenied(message).split("\n").map((l) => l.trim()).filter(Boolean);
      console.error(`error: ${line.join(" ")}`);
    } else {
      console.error(e);
    }
    Deno.exit(1);
  }
}
