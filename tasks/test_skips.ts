/**
 * The last line of `deno task test`: what the suite skipped for want of an
 * optional tool, and the command that installs it; nothing when nothing was
 * skipped. The log is removed after reading; `--reset` only removes it (run
 * before the suite, so that an interrupted run's records do not count).
 *
 *     deno run --allow-read=tests/.tmp --allow-write=tests/.tmp tasks/test_skips.ts [--reset] [--log=FILE]
 *
 * Exits 0, or 2 with one line `test_skips: …` for a bad flag or a log it cannot read.
 *
 * @module
 */
import { parseFlags } from "./_cli.ts";
import { parseSkips, runScript, SKIP_LOG, skipSummary } from "./_skips.ts";

async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    options: { reset: { type: "boolean" }, log: { type: "string" } },
  });
  const log = values.log ?? SKIP_LOG;
  if (!values.reset) {
    const text = await Deno.readTextFile(log).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return "";
      throw e;
    });
    const line = skipSummary(parseSkips(text));
    if (line) console.log(line);
  }
  await Deno.remove(log).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  return 0;
}

if (import.meta.main) await runScript("test_skips", main);
