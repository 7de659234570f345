/**
 * Helpers shared by the benchmarks: the machine's load, process CPU from /proc, medians, number
 * formatting, and the FFI requirement CI sets.
 *
 * @module
 */

/** The 1-, 5- and 15-minute load averages as "a b c" ("?" where /proc is missing). */
export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

/** The median of some numbers (the upper middle of an even count; 0 when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** A number for a table: no decimals from 100, one from 10, two below. */
export function fmt(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return "-";
  if (n >= Number.MAX_VALUE) return "∞";
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True where CI requires the FFI paths (epoll waits, FFI sockets) rather than a fallback. */
export function ffiRequired(): boolean {
  return Deno.env.get("GAMESERVER_TEST_FFI") === "required";
}

/** CPU ticks (1/100 s) per thread kind of a process ("main", zeromq's "io", "other"), from /proc. */
export function threadCpu(pid: number): Map<string, number> | undefined {
  try {
    const out = new Map<string, number>();
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
      const close = stat.lastIndexOf(")");
      const name = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      // utime and stime are fields 14 and 15 of the stat line (index 11 and 12 after the name).
      const ticks = Number(fields[11]) + Number(fields[12]);
      const key = Number(entry.name) === pid ? "main" : name.startsWith("ZMQbg") ? "io" : "other";
      out.set(key, (out.get(key) ?? 0) + ticks);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Percent of one core per thread kind between two {@linkcode threadCpu} readings `seconds` apart. */
export function cpuPercent(
  before: Map<string, number>,
  after: Map<string, number> | undefined,
  seconds: number,
): Record<string, number> | undefined {
  if (!after) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of after) out[k] = Math.round((v - (before.get(k) ?? 0)) / seconds);
  return out;
}
