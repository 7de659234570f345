/**
 * Canary for the day zeromq's native async wake-ups work under Deno (and the pump can go).
 *
 * Runs a bounded request/reply loop between two child processes that both wait in zeromq's own
 * `await receive()` — or, for comparison, both use the pump. A watchdog in this process kills
 * the children when replies stop coming for `stallMs` or at `deadlineMs`; zeromq timeouts are
 * never used (an expiring one crashes Deno).
 *
 * @module
 */

import { startChild, startEchoServer } from "./child_process.ts";

/** Options of `probeNativeReceive`. */
export interface NativeProbeOptions {
  /** `native`: zeromq's own `await receive()` on both sides; `pump`: our transport. */
  mode?: "native" | "pump";
  /** Round trips to attempt. Default 20,000. */
  count?: number;
  /** No reply for this long counts as a stall. Default 2,000 ms. */
  stallMs?: number;
  /** Hard limit for the whole probe. Default 60,000 ms. */
  deadlineMs?: number;
}

/** What the probe observed. */
export interface NativeProbeResult {
  /** The mode probed. */
  mode: "native" | "pump";
  /** Whether all round trips completed. */
  works: boolean;
  /** Round trips that completed (at least; progress is reported every 100). */
  completed: number;
  /** Round trips attempted. */
  requested: number;
  /** Wall time of the client's loop (or until the stall was detected). */
  elapsedMs: number;
  /** Mean microseconds per round trip when it worked. */
  usPerRoundTrip: number;
  /** Median and 99th percentile round trip in µs, when it worked. */
  p50Us: number;
  /** 99th percentile round trip in µs, when it worked. */
  p99Us: number;
  /** Why it failed, when it did. */
  detail: string;
}

/** Runs the probe (see the module docs); resolves either way, never hangs past `deadlineMs`. */
export async function probeNativeReceive(
  options: NativeProbeOptions = {},
): Promise<NativeProbeResult> {
  const mode = options.mode ?? "native";
  const count = options.count ?? 20_000;
  const stallMs = options.stallMs ?? 2_000;
  const deadlineMs = options.deadlineMs ?? 60_000;
  const maxSeconds = String(Math.ceil(deadlineMs / 1000) + 5);
  const result: NativeProbeResult = {
    mode,
    works: false,
    completed: 0,
    requested: count,
    elapsedMs: 0,
    usPerRoundTrip: 0,
    p50Us: 0,
    p99Us: 0,
    detail: "",
  };
  const started = performance.now();
  const { server, port } = await startEchoServer([`--mode=${mode}`, `--max-seconds=${maxSeconds}`]);
  const client = startChild("./echo_client.ts", [
    `--mode=${mode}`,
    `--endpoint=tcp://127.0.0.1:${port}`,
    `--count=${count}`,
    "--progress=100",
    `--max-seconds=${maxSeconds}`,
  ]);
  let watchdog: ReturnType<typeof setInterval> | undefined;
  try {
    const clientStarted = performance.now();
    let lastCount = 0;
    let lastChange = performance.now();
    const verdict = await new Promise<string>((resolve) => {
      client.nextLine("RESULT", deadlineMs).then((json) => {
        const parsed = JSON.parse(json);
        result.completed = parsed.completed;
        result.elapsedMs = parsed.elapsedMs;
        result.p50Us = parsed.p50Us;
        result.p99Us = parsed.p99Us;
        resolve(parsed.completed === count ? "" : `only ${parsed.completed} replies`);
      }, () => resolve(`no result within ${deadlineMs} ms`));
      watchdog = setInterval(() => {
        const progress = client.lines.filter((line) => line.startsWith("P ")).at(-1);
        const n = progress ? Number(progress.slice(2)) : 0;
        const now = performance.now();
        if (n !== lastCount) {
          lastCount = n;
          lastChange = now;
        }
        result.completed = Math.max(result.completed, n);
        if (now - lastChange > stallMs) resolve(`no reply for ${stallMs} ms`);
        else if (now - started > deadlineMs) resolve(`deadline of ${deadlineMs} ms reached`);
      }, 50);
    });
    if (result.elapsedMs === 0) result.elapsedMs = Math.round(performance.now() - clientStarted);
    result.works = verdict === "";
    result.detail = verdict;
    if (result.works) result.usPerRoundTrip = Math.round((result.elapsedMs * 1000) / count);
    return result;
  } finally {
    clearInterval(watchdog);
    await client.stop();
    await server.stop();
  }
}

/** One line summarizing `result`, as the probe script and the canary test print it. */
export function describeProbe(result: NativeProbeResult): string {
  const label = result.mode === "native" ? "native async receive" : "pump";
  return result.works
    ? `${label}: WORKS (${result.completed} round trips, ${result.usPerRoundTrip} µs each, ` +
      `p50 ${result.p50Us} µs, p99 ${result.p99Us} µs)`
    : `${label}: STALLS after ${result.completed} messages (${result.detail})`;
}
