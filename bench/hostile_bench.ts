/**
 * Hostile-client benchmark (issue #13): what an honest client and the tick feel while one connection
 * floods a node with the costliest requests it may send.
 *
 * A single-mode node process (1,500 users in a 1 km world, so a whole-world query lists 1,000 of
 * them) is asked, from one connection, 4,000 requests a second under 200 client ids: three whole-
 * world `query_rect`s for each `status {with_checksum}`. Beside it, one honest client on its own
 * connection sends a 20 m `query_circle` every 10 ms. Two phases of the same length, in one run: the
 * honest client alone, then with the flood. For each: the honest replies' p50/p99 (from send to
 * reply, in this process) and the node's tick p99 (its status, sampled every 500 ms: the median and
 * the worst sample), and what the node refused.
 *
 *   deno task bench:hostile           10 s per phase; passes when, under the flood, the honest p99
 *                                     is ≤ 50 ms and the median tick p99 ≤ 20 ms
 *   deno task bench:hostile --quick   3 s per phase; exits 1 when, under the flood, the honest p99
 *                                     is over 250 ms, the median tick p99 over 50 ms, a reply is
 *                                     missing, or nothing was refused (the flood went unbounded)
 *
 * The flood, the honest client and the node share the machine's cores: the load average is printed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DealerSocket, Pump } from "../lib/transport/mod.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../lib/protocol/mod.ts";
import { delay, fmt, loadAverage, median } from "./_bench_util.ts";
import { eventually, freePort, Proc } from "../tests/_harness.ts";

interface Phase {
  name: string;
  honestSent: number;
  honestAnswered: number;
  p50: number;
  p99: number;
  tickP99Median: number;
  tickP99Worst: number;
  floodSent: number;
  refused: number;
}

const { values } = parseArgs({ args: Deno.args, options: { quick: { type: "boolean" } } });
const quick = values.quick ?? false;
const phaseMs = quick ? 3000 : 10_000;
const limits = quick ? { p99: 250, tick: 50 } : { p99: 50, tick: 20 };
const loadAtStart = loadAverage();

const port = freePort();
const http = freePort();
await using _node = new Proc("node", "main.ts", [
  `--port=${port}`,
  "--log-level=warning",
  "--data-dir=",
  "--set",
  `http_port=${http}`,
  "--set",
  "world.width=1000",
  "--set",
  "world.height=1000",
]);
const status = async () => {
  const r = await fetch(`http://127.0.0.1:${http}/status`);
  return await r.json() as { load: { tickP99Ms: number }; counters: Record<string, number> };
};
await eventually("the node's status page", () => status().catch(() => undefined), 20_000, 100);

await using pump = new Pump();
const endpoint = `tcp://127.0.0.1:${port}`;

// 1,500 users, each its own client id, from one filler connection.
let filled = 0;
const filler = DealerSocket.connect(pump, endpoint, () => filled++);
for (let i = 0; i < 1500; i++) {
  filler.send(encodeEnvelope({ clientId: crypto.randomUUID(), requestId: 1, login: {} }));
}
await eventually("1,500 logins answered", () => filled >= 1500 || undefined, 30_000, 10);
filler.close();

const honestId = crypto.randomUUID();
const sentAt = new Map<number, number>();
const latencies: number[] = [];
const honest = DealerSocket.connect(pump, endpoint, (frames) => {
  const reply: Envelope = decodeEnvelope(frames[frames.length - 1]);
  const at = sentAt.get(reply.requestId ?? 0);
  if (at !== undefined && reply.queryReply) latencies.push(performance.now() - at);
});
const flood = DealerSocket.connect(pump, endpoint, () => {}, { sendHwm: 100_000 });
const floodIds = Array.from({ length: 200 }, () => crypto.randomUUID());

async function phase(name: string, flooding: boolean): Promise<Phase> {
  latencies.length = 0;
  sentAt.clear();
  const before = (await status()).counters;
  const ticks: number[] = [];
  let requestId = 0;
  let floodSent = 0;
  const start = performance.now();
  let nextSample = start + 500;
  while (performance.now() - start < phaseMs) {
    if (flooding) {
      for (let i = 0; i < 40; i++) {
        floodSent++;
        flood.send(encodeEnvelope({
          clientId: floodIds[floodSent % floodIds.length],
          requestId: floodSent,
          ...(floodSent % 4 === 0
            ? { status: { withChecksum: true } }
            : { queryRect: { x1: 0, y1: 0, x2: 1000, y2: 1000 } }),
        }));
      }
    }
    requestId++;
    sentAt.set(requestId, performance.now());
    honest.send(encodeEnvelope({
      clientId: honestId,
      requestId,
      queryCircle: { x: 500, y: 500, radius: 20 },
    }));
    if (performance.now() >= nextSample) {
      nextSample += 500;
      ticks.push((await status()).load.tickP99Ms);
    }
    await delay(10);
  }
  const sent = requestId;
  await eventually("the honest replies", () => latencies.length >= sent || undefined, 20_000, 10)
    .catch(() => undefined);
  const after = (await status()).counters;
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  const refused = ["rateLimited", "unanswered", "stalled", "idsRefused"]
    .reduce((sum, k) => sum + (after[k] ?? 0) - (before[k] ?? 0), 0);
  return {
    name,
    honestSent: sent,
    honestAnswered: sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    tickP99Median: median(ticks),
    tickP99Worst: Math.max(0, ...ticks),
    floodSent,
    refused,
  };
}

const phases = [await phase("honest alone", false), await phase("with the flood", true)];
honest.close();
flood.close();

console.log(
  "phase            honest sent  answered  p50_ms  p99_ms  tick_p99_ms(median/worst)  flood sent  refused",
);
for (const p of phases) {
  console.log(
    `${p.name.padEnd(16)} ${String(p.honestSent).padStart(11)} ${
      String(p.honestAnswered).padStart(9)
    } ${fmt(p.p50).padStart(7)} ${fmt(p.p99).padStart(7)} ${
      `${fmt(p.tickP99Median)} / ${fmt(p.tickP99Worst)}`.padStart(26)
    } ${String(p.floodSent).padStart(11)} ${String(p.refused).padStart(8)}`,
  );
}
const flooded = phases[1];
const problems: string[] = [];
if (flooded.p99 > limits.p99) {
  problems.push(`honest p99 ${fmt(flooded.p99)} ms > ${limits.p99} ms under the flood`);
}
if (flooded.tickP99Median > limits.tick) {
  problems.push(`tick p99 (median) ${fmt(flooded.tickP99Median)} ms > ${limits.tick} ms`);
}
if (flooded.honestAnswered < flooded.honestSent) {
  problems.push(`${flooded.honestSent - flooded.honestAnswered} honest requests unanswered`);
}
if (flooded.refused === 0) problems.push("the node refused nothing of the flood");
for (const p of problems) console.log(`FAIL ${p}`);
console.log(`load average at the start ${loadAtStart}, at the end ${loadAverage()}`);
console.log(JSON.stringify({
  bench: "hostile",
  quick,
  pass: problems.length === 0,
  limits,
  phases,
  problems,
}));
if (problems.length > 0) Deno.exitCode = 1;
