/**
 * `deno task probe:zmq`: does zeromq's native async receive work in this Deno?
 *
 * Runs a bounded request/reply loop between two processes that both wait in zeromq's own
 * `await receive()` (a watchdog kills them on a stall or at the deadline — no zeromq timeouts),
 * then the same loop through our pump for comparison. Prints "native async receive: WORKS" or
 * "STALLS after N messages", then the pump's figures, and a JSON line. Always exits 0.
 * Flags: `--count=N` (default 20,000), `--stall-ms`, `--deadline-ms`.
 *
 * @module
 */

import { describeProbe, probeNativeReceive } from "../tests/support/transport/native_probe.ts";

function flag(name: string, fallback: number): number {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  const value = arg === undefined ? fallback : Number(arg.slice(name.length + 3));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const count = flag("count", 20_000);
const stallMs = flag("stall-ms", 2_000);
const deadlineMs = flag("deadline-ms", 30_000);

console.log(`Deno ${Deno.version.deno}; ${count} request/replies between two processes`);
const native = await probeNativeReceive({ mode: "native", count, stallMs, deadlineMs });
console.log(describeProbe(native));
const pump = await probeNativeReceive({ mode: "pump", count, stallMs, deadlineMs });
console.log(describeProbe(pump));
console.log(JSON.stringify({
  probe: "zmq",
  deno: Deno.version.deno,
  native_works: native.works,
  native_completed: native.completed,
  native_us_per_rt: native.usPerRoundTrip,
  pump_works: pump.works,
  pump_completed: pump.completed,
  pump_us_per_rt: pump.usPerRoundTrip,
  pump_p50_us: pump.p50Us,
  pump_p99_us: pump.p99Us,
}));
