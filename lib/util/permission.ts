/**
 * Permission checks that run before work starts: a grant's state (asking in
 * a terminal, as the operation would) and a probe that a folder can be
 * written, so that a run fails at once with one line instead of hours later.
 *
 * @module
 */
import { exists } from "./bytes.ts";

/** A permission's state; in a terminal, Deno's prompt asks first, as the operation itself would. */
export async function permission(
  descriptor: Deno.PermissionDescriptor,
): Promise<Deno.PermissionState> {
  const { state } = await Deno.permissions.query(descriptor);
  if (state !== "prompt" || !Deno.stdin.isTerminal()) return state;
  return (await Deno.permissions.request(descriptor)).state;
}

/**
 * Create and remove a probe file in `dir`, or, when `dir` does not exist yet,
 * in its nearest existing parent. When that parent lies outside the write
 * grant (a fresh clone has no `runs/`, and `.` is not granted), the probe goes
 * into the outermost missing folder the grant covers, created for the probe
 * and removed again, so that only what the task may write is ever checked.
 * `what` names the folder in the error, `choose` the way out.
 */
export async function checkWritable(dir: string, what: string, choose: string): Promise<void> {
  let at = dir.replace(/\/+$/, "") || "/";
  const missing: string[] = [];
  while (!(await exists(at))) {
    const up = at.includes("/") ? at.slice(0, at.lastIndexOf("/")) || "/" : ".";
    if (up === at) break;
    missing.unshift(at);
    at = up;
  }
  let created: string | undefined;
  if ((await Deno.permissions.query({ name: "write", path: at })).state !== "granted") {
    for (const m of missing) {
      if ((await Deno.permissions.query({ name: "write", path: m })).state !== "granted") continue;
      try {
        await Deno.mkdir(m);
        created = m;
      } catch { /* probed below, with Deno's reason */ }
      at = m;
      break;
    }
  }
  const probe = `${at}/.coss-write-probe-${Deno.pid}`;
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
    await Deno.remove(probe);
  } catch (e) {
    const where = at === dir ? "" : ` (its parent "${at}")`;
    const reason = (e as Error).message.replace(/: \w+ '[^']*'$/, ""); // not the probe's name
    throw new Error(`Cannot write ${what}${where}: ${reason}; ${choose} or make it writable`);
  } finally {
    if (created) await Deno.remove(created).catch(() => {});
  }
}
