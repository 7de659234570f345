/**
 * Child process for tests, the probe and the benchmark: drives round trips against an echo server.
 *
 * `--endpoint=tcp://127.0.0.1:PORT --count=N` round trips over `--sockets` DEALERs with
 * `--inflight` requests outstanding per socket (pipelining). Prints `P <n>` every `--progress`
 * replies, then one `RESULT {json}` line with throughput, latency percentiles and pump counters.
 * `--mode=native` runs one sequential DEALER on zeromq's own `await receive()` instead of the pump;
 * `--engine=zmtp` runs the DEALERs on our ZMTP over Deno's TCP (`lib/zmtp/`) instead of libzmq,
 * `--engine=epoll` on raw sockets in one epoll set.
 * Exits 2 if replies are lost or duplicated, 3 at `--max-seconds`.
 *
 * @module
 */

import * as zmq from "zeromq";
import {
  DealerSocket,
  Pump,
  type PumpSocketMode,
  type PumpWaitMode,
} from "../../../lib/transport/mod.ts";
import {
  exitAfter,
  exitWithParent,
  numberFlag,
  parseFlags,
  printLine,
  quantile,
} from "./child_util.ts";
import {
  type Dealer,
  RawZmtpDealer,
  ZmtpDealer,
  type ZmtpDealerOptions,
} from "../../../lib/zmtp/mod.ts";

const flags = parseFlags(Deno.args);
const endpoint = flags.get("endpoint") ?? "";
const count = numberFlag(flags, "count", 10_000);
const sockets = Math.max(1, numberFlag(flags, "sockets", 1));
const inflight = Math.max(1, numberFlag(flags, "inflight", 1));
const payloadSize = Math.max(8, numberFlag(flags, "payload", 64));
const progressEvery = Math.max(1, numberFlag(flags, "progress", 1000));
exitAfter(numberFlag(flags, "max-seconds", 60));
exitWithParent();

const sentAt = new Float64Array(count);
const latencies = new Float64Array(count);
const seen = new Uint8Array(count);
let next = 0;
let done = 0;
let duplicates = 0;

function request(id: number): Uint8Array {
  const payload = new Uint8Array(payloadSize);
  new DataView(payload.buffer).setUint32(0, id);
  sentAt[id] = performance.now();
  return payload;
}

function onReply(frame: Uint8Array): void {
  const id = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
  if (id >= count || seen[id] === 1) {
    duplicates++;
    return;
  }
  seen[id] = 1;
  latencies[done] = performance.now() - sentAt[id];
  done++;
  if (done % progressEvery === 0) printLine(`P ${done}`);
}

const started = performance.now();
let pumpStats: unknown = undefined;

if (flags.get("mode") === "native") {
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(endpoint);
  while (next < count) {
    await dealer.send(request(next++));
    const [frame] = await dealer.receive();
    onReply(frame);
  }
  dealer.close();
} else {
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  /** Each reply sends the next request on the same socket, until `count` were sent. */
  const onFrame = (send: (frame: Uint8Array) => unknown) => (frame: Uint8Array) => {
    onReply(frame);
    if (next < count) send(request(next++));
    if (done === count) resolve();
  };
  let pump: Pump | undefined;
  const dealers: { send(frame: Uint8Array): unknown; close(): void }[] = [];
  const engine = flags.get("engine");
  if (engine === "zmtp" || engine === "epoll") {
    const connect = (e: string, o: ZmtpDealerOptions): Dealer =>
      engine === "epoll" ? RawZmtpDealer.connect(e, o)! : ZmtpDealer.connect(e, o);
    for (let s = 0; s < sockets; s++) {
      const dealer: Dealer = connect(endpoint, {
        onMessage: (frames) => reply(frames[0]),
      });
      const reply = onFrame((f) => dealer.send(f));
      dealers.push(dealer);
    }
  } else {
    pump = new Pump({
      wait: (flags.get("wait") ?? "auto") as PumpWaitMode,
      sockets: (flags.get("backend") ?? "auto") as PumpSocketMode,
      idleDelayMs: numberFlag(flags, "idle-delay-ms", 1),
      busyWindowMs: numberFlag(flags, "busy-window-ms", 2),
    });
    for (let s = 0; s < sockets; s++) {
      const dealer: DealerSocket = DealerSocket.connect(
        pump,
        endpoint,
        (frames) => reply(frames[0]),
      );
      const reply = onFrame((f) => dealer.send(f));
      dealers.push(dealer);
    }
  }
  for (let w = 0; w < inflight; w++) {
    for (const dealer of dealers) if (next < count) dealer.send(request(next++));
  }
  await finished;
  for (const dealer of dealers) dealer.close();
  pumpStats = pump?.stats;
  await pump?.[Symbol.asyncDispose]();
}

const elapsedMs = performance.now() - started;
const sorted = latencies.slice(0, done).sort();
printLine(
  "RESULT " + JSON.stringify({
    completed: done,
    duplicates,
    elapsedMs: Math.round(elapsedMs),
    rps: Math.round(done / (elapsedMs / 1000)),
    p50Us: Math.round(quantile(sorted, 0.5) * 1000),
    p99Us: Math.round(quantile(sorted, 0.99) * 1000),
    pump: pumpStats,
  }),
);
Deno.exit(done === count && duplicates === 0 ? 0 : 2);
