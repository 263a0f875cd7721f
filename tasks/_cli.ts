/**
 * The command-line parsing every task shares: node's `parseArgs` (strict), the
 * `--help` text, and the task's own one-line error for a flag it cannot read.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig, type ParseArgsOptionsConfig } from "parse-args";

/** A flag `parseArgs` refused. */
export interface FlagError {
  /** The flag as `parseArgs` quoted it (`--bogus`, `--out <value>`), if it quoted one. */
  flag: string | undefined;
  /** Node's error code, e.g. `ERR_PARSE_ARGS_UNKNOWN_OPTION`. */
  code: string | undefined;
  /** Node's message. */
  message: string;
}

/** How a task reads its command line. */
export interface FlagSpec<O extends ParseArgsOptionsConfig> {
  /** The flags, as for `parseArgs`; a boolean `help` flag prints `usage`. */
  options: O;
  /** The `--help` text, printed on stdout. */
  usage?: string;
  /** Accept arguments that are not flags. @default {false} */
  positionals?: boolean;
  /** The error to throw for a refused flag; without it (or `undefined`), node's own error. */
  onError?: (e: FlagError) => Error | undefined;
}

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>
>;

/** The parsed command line; `help` is true when `--help` was given and the usage printed. */
export type Flags<O extends ParseArgsOptionsConfig> = Parsed<O> & { help: boolean };

/** The flag a `parseArgs` error message quotes, e.g. `--bogus` from `Unknown option '--bogus'`. */
function quotedFlag(message: string): string | undefined {
  return /'(-[^' ]*)/.exec(message)?.[1];
}

function flagError(e: unknown): FlagError {
  const message = e instanceof Error ? e.message : String(e);
  return { flag: quotedFlag(message), code: (e as { code?: string }).code, message };
}

/**
 * Parse `args` with `spec.options` (strictly), print `spec.usage` on `--help`.
 *
 * @throws What `spec.onError` makes of a refused flag, else node's error.
 */
export function parseFlags<O extends ParseArgsOptionsConfig>(
  args: string[],
  spec: FlagSpec<O>,
): Flags<O> {
  const config = {
    args,
    options: spec.options,
    allowPositionals: spec.positionals ?? false,
    strict: true as const,
  } satisfies ParseArgsConfig;
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    throw spec.onError?.(flagError(e)) ?? e;
  }
  const help = spec.usage !== undefined && (parsed.values as { help?: unknown }).help === true;
  if (help) console.log(spec.usage);
  return { ...parsed, help };
}

/** Print `error: <message>` (and the usage after a blank line) on stderr and exit 2. */
export function exitUsage(message: string, usage?: string): never {
  console.error(`error: ${message}${usage === undefined ? "" : `\n\n${usage}`}`);
  Deno.exit(2);
}
