/**
 * Helpers for the child processes that tests, the probe and the benchmark start.
 *
 * @module
 */

/** Parses `--name=value` flags into a map (`--flag` alone gives "true"). */
export function parseFlags(args: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of args) {
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    if (eq < 0) flags.set(arg.slice(2), "true");
    else flags.set(arg.slice(2, eq), arg.slice(eq + 1));
  }
  return flags;
}

/** A numeric flag, or `fallback`. */
export function numberFlag(flags: Map<string, string>, name: string, fallback: number): number {
  const raw = flags.get(name);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value)) throw new RangeError(`--${name} must be a number`);
  return value;
}

const encoder = new TextEncoder();

/** Writes one line to stdout synchronously (a stalled event loop must not hide it). */
export function printLine(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Exits with `code` after `seconds` no matter what (the hard deadline of a child process). */
export function exitAfter(seconds: number, code = 3): void {
  const timer = setTimeout(() => {
    printLine(`DEADLINE ${seconds}s`);
    Deno.exit(code);
  }, seconds * 1000);
  Deno.unrefTimer(timer);
}

/** Exits once stdin reaches end of file, i.e. when the parent goes away or closes the pipe. */
export function exitWithParent(): void {
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* discard */ }
    } catch { /* closed */ }
    Deno.exit(0);
  })();
}

/** Value at quantile `q` (0..1) of `sorted`. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
