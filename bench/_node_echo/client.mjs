// Plain zeromq.js echo client under Node.js (native `for await` receive), same protocol and
// output as tests/support/transport/echo_client.ts: `--endpoint --count --sockets --inflight --payload`,
// prints "RESULT {json}". Exits 2 on lost/duplicate replies, 3 at --max-seconds.
import * as zmq from "zeromq";

const flags = new Map(
  process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")).map(([k, ...v]) => [
    k,
    v.length ? v.join("=") : "true",
  ]),
);
const endpoint = flags.get("endpoint");
const count = Number(flags.get("count") ?? 10000);
const sockets = Math.max(1, Number(flags.get("sockets") ?? 1));
const inflight = Math.max(1, Number(flags.get("inflight") ?? 1));
const payloadSize = Math.max(8, Number(flags.get("payload") ?? 64));
const maxSeconds = Number(flags.get("max-seconds") ?? 60);
setTimeout(() => {
  process.stdout.write(`DEADLINE ${maxSeconds}s\n`);
  process.exit(3);
}, maxSeconds * 1000).unref();

const sentAt = new Float64Array(count);
const latencies = new Float64Array(count);
const seen = new Uint8Array(count);
let next = 0;
let done = 0;
let duplicates = 0;

function request(id) {
  const payload = new Uint8Array(payloadSize);
  new DataView(payload.buffer).setUint32(0, id);
  sentAt[id] = performance.now();
  return payload;
}

function onReply(frame) {
  const id = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
  if (id >= count || seen[id] === 1) {
    duplicates++;
    return;
  }
  seen[id] = 1;
  latencies[done] = performance.now() - sentAt[id];
  done++;
}

const started = performance.now();
const dealers = [];
for (let s = 0; s < sockets; s++) {
  const dealer = new zmq.Dealer({
    linger: 0,
    sendHighWaterMark: 10000,
    receiveHighWaterMark: 10000,
  });
  dealer.connect(endpoint);
  dealers.push(dealer);
}
await Promise.all(dealers.map(async (dealer) => {
  let outstanding = 0;
  for (let w = 0; w < inflight && next < count; w++) {
    await dealer.send(request(next++));
    outstanding++;
  }
  while (outstanding > 0) {
    const [frame] = await dealer.receive();
    outstanding--;
    onReply(frame);
    if (next < count) {
      await dealer.send(request(next++));
      outstanding++;
    }
  }
}));
const elapsedMs = performance.now() - started;
for (const dealer of dealers) dealer.close();
const sorted = latencies.slice(0, done).sort();
const q = (
  p,
) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);
process.stdout.write(
  "RESULT " + JSON.stringify({
    completed: done,
    duplicates,
    elapsedMs: Math.round(elapsedMs),
    rps: Math.round(done / (elapsedMs / 1000)),
    p50Us: Math.round(q(0.5) * 1000),
    p99Us: Math.round(q(0.99) * 1000),
  }) + "\n",
);
process.exit(done === count && duplicates === 0 ? 0 : 2);
