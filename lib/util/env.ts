/**
 * Environment variables read only where the permission to read them was
 * granted, so that a task without the grant falls back to its default
 * instead of prompting or throwing.
 *
 * @module
 */

/**
 * The value of `variable`, or `undefined` when it is unset, empty, or env
 * access to it is not granted.
 *
 * @example
 * ```ts
 * import { grantedEnv } from "./env.ts";
 * console.log(grantedEnv("COSS_BACKEND") ?? "auto");
 * ```
 */
export function grantedEnv(variable: string): string | undefined {
  const state = Deno.permissions.querySync?.({ name: "env", variable });
  if (state && state.state !== "granted") return undefined;
  return Deno.env.get(variable) || undefined;
}
