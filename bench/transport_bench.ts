/**
 * `deno task bench:transport` (issue #7): round trips through our transport against zeromq.js
 * under Node.js, in the same run, on 127.0.0.1.
 *
 * For each stack an echo server process and a client process: pipelined (`--sockets` DEALERs with
 * `--inflight` requests outstanding each) and sequential (one DEALER, one request at a time).
 * Also the CPU an idle pump burns (from /proc/self/stat). Prints a table, then one JSON line last.
 * `--quick` (CI): one short round, a few seconds. Every loop is bounded in count and time.
 *
 * Our stack as shipped speaks ZMTP itself at both ends (`lib/zmtp/`): the node's client port on raw
 * sockets in one epoll set, the client on Deno's TCP. The row "pump both" is libzmq through FFI on
 * the pump at both ends (the `libzmq` engine, and the cluster's own sockets).
 *
 * Criteria (full and `--quick`): our pipelined round trips per second are at least 0.70× those of
 * zeromq.js under Node.js in the same run, and our sequential round trip's p50 at most theirs
 * (ratio ≥ 1.0); exit code 1 otherwise. Where CI requires the FFI paths
 * (`GAMESERVER_TEST_FFI=required`) the "pump both" stack is started with epoll waits and FFI
 * sockets explicitly, so a missing FFI fails the run instead of measuring the fallback under
 * that name.
 *
 * @module
 */

import { DealerSocket, Pump, type PumpWaitMode, RouterSocket } from "../lib/transport/mod.ts";
import { ffiRequired, loadAverage } from "./_bench_util.ts";

const args = new Map(
  Deno.args.map((a) => a.replace(/^--/, "").split("=")).map(([k, v]) => [k, v ?? "true"]),
);
const quick = args.has("quick");
const sockets = Number(args.get("sockets") ?? 50);
const inflight = Number(args.get("inflight") ?? 4);
const pipelinedCount = Number(args.get("count") ?? (quick ? 60_000 : 200_000));
const sequentialCount = Number(args.get("seq-count") ?? (quick ? 2_000 : 10_000));
const rounds = Number(args.get("rounds") ?? (quick ? 1 : 3));
const idleSeconds = Number(args.get("idle-seconds") ?? (quick ? 2 : 5));
const withTimerMode = !quick || args.has("timer");
const maxSeconds = 60;

const root = new URL("../", import.meta.url).pathname;
const node = args.get("node") ?? "/usr/bin/node";
const RATIO_TARGET = 0.7;
/** Our sequential round trip's p50 against zeromq.js under Node: at least as fast. */
const SEQ_RATIO_TARGET = 1.0;
/** Where CI requires FFI, the default stack must run on it: no silent fallback. */
const required = ffiRequired();
const ffiFlags = required ? ["--wait=epoll", "--backend=ffi"] : [];

interface Run {
  completed: number;
  rps: number;
  p50Us: number;
  p99Us: number;
  serverCpuUsPerRt: number;
}

interface Stack {
  name: string;
  server: string[];
  client: string[];
}

/** A Deno child process of the transport's test support (echo server or client) with `flags`. */
const denoChild = (script: string, ...flags: string[]) => [
  Deno.execPath(),
  "run",
  "-A",
  `${root}tests/support/transport/${script}`,
  ...flags,
];

const stacks: Record<string, Stack> = {
  // Ours as shipped: the node's client port (raw sockets) and a client (Deno's TCP) speak ZMTP.
  deno: {
    name: "deno: zmtp both",
    server: denoChild("echo_server.ts", "--engine=zmtp"),
    client: denoChild("echo_client.ts", "--engine=zmtp"),
  },
  // libzmq through FFI on the pump at both ends (`zmq_engine: libzmq`; the cluster's sockets).
  pump: {
    name: required ? "deno: pump (ffi) both" : "deno: pump both",
    server: denoChild("echo_server.ts", ...ffiFlags),
    client: denoChild("echo_client.ts", ...ffiFlags),
  },
  zmqjs: {
    name: "deno, zeromq.js sockets",
    server: denoChild("echo_server.ts", "--backend=zeromq.js"),
    client: denoChild("echo_client.ts", "--backend=zeromq.js"),
  },
  timer: {
    name: "deno + pump (timer)",
    server: denoChild("echo_server.ts", "--wait=timer"),
    client: denoChild("echo_client.ts", "--wait=timer"),
  },
  node: {
    name: "node + zeromq.js",
    server: [node, `${root}bench/_node_echo/server.mjs`],
    client: [node, `${root}bench/_node_echo/client.mjs`],
  },
};

/** utime + stime of a process in microseconds (Linux /proc; 0 elsewhere). */
function cpuMicros(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

async function readLine(
  reader: ReadableStreamDefaultReader<string>,
  prefix: string,
  timeoutMs: number,
): Promise<string> {
  let buffered = "";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const newline = buffered.indexOf("\n");
    if (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith(prefix)) return line.slice(prefix.length).trim();
      continue;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      reader.read(),
      new Promise<{ done: true; value: undefined }>((resolve) => {
        timer = setTimeout(() => resolve({ done: true, value: undefined }), deadline - Date.now());
      }),
    ]);
    clearTimeout(timer);
    if (next.done) break;
    buffered += next.value;
  }
  throw new Error(`No "${prefix}" line within ${timeoutMs} ms`);
}

function spawn(argv: string[]): Deno.ChildProcess {
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function stop(child: Deno.ChildProcess, reader: ReadableStreamDefaultReader<string>) {
  try {
    child.kill("SIGKILL");
  } catch { /* exited */ }
  await child.stdin.close().catch(() => {});
  await reader.cancel().catch(() => {});
  await child.status;
}

/** One client run against a fresh server of `stack`. */
async function run(stack: Stack, clientArgs: string[]): Promise<Run> {
  const server = spawn([...stack.server, `--max-seconds=${maxSeconds + 10}`]);
  const serverOut = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let client: Deno.ChildProcess | undefined;
  let clientOut: ReadableStreamDefaultReader<string> | undefined;
  try {
    const port = await readLine(serverOut, "READY", 20_000);
    const cpuBefore = cpuMicros(server.pid);
    client = spawn([
      ...stack.client,
      `--endpoint=tcp://127.0.0.1:${port}`,
      `--max-seconds=${maxSeconds}`,
      "--progress=100000000",
      ...clientArgs,
    ]);
    clientOut = client.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const result = JSON.parse(await readLine(clientOut, "RESULT", (maxSeconds + 5) * 1000));
    const serverCpu = cpuMicros(server.pid) - cpuBefore;
    return {
      completed: result.completed,
      rps: result.rps,
      p50Us: result.p50Us,
      p99Us: result.p99Us,
      serverCpuUsPerRt: Math.round(serverCpu / Math.max(1, result.completed)),
    };
  } finally {
    if (client && clientOut) await stop(client, clientOut);
    await stop(server, serverOut);
  }
}

function median(runs: Run[]): Run {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor(sorted.length / 2)];
}

/** CPU share of one core that an idle pump with a bound ROUTER and a connected DEALER uses. */
async function idleCpuPercent(wait: PumpWaitMode): Promise<number> {
  await using pump = new Pump({ wait });
  const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
    router.send(peer, frames);
  });
  const replied = Promise.withResolvers<void>();
  const dealer = DealerSocket.connect(pump, router.endpoint, () => replied.resolve());
  dealer.send(new Uint8Array(8));
  await replied.promise;
  // Let the pump fall idle (busy window, connection chatter), then measure.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const cpu0 = cpuMicros("self");
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  const cpu = cpuMicros("self") - cpu0;
  const wallUs = (performance.now() - t0) * 1000;
  return Math.round((cpu / wallUs) * 1000) / 10;
}

const pipelinedArgs = [
  `--count=${pipelinedCount}`,
  `--sockets=${sockets}`,
  `--inflight=${inflight}`,
];
const sequentialArgs = [`--count=${sequentialCount}`, "--sockets=1", "--inflight=1"];
const names = withTimerMode
  ? ["deno", "node", "zmqjs", "pump", "timer"]
  : ["deno", "node", "zmqjs", "pump"];
const loadAtStart = loadAverage();
// Idle CPU first, while this process has done nothing else yet.
const idleEpoll = await idleCpuPercent(required ? "epoll" : "auto");
const idleTimer = await idleCpuPercent("timer");
const pipelined: Record<string, Run[]> = {};
const sequential: Record<string, Run[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const name of names) {
    (pipelined[name] ??= []).push(await run(stacks[name], pipelinedArgs));
    (sequential[name] ??= []).push(await run(stacks[name], sequentialArgs));
  }
}
const { mode: pumpMode, socketMode } = (() => {
  const probe = new Pump(required ? { wait: "epoll", sockets: "ffi" } : {});
  probe.close();
  return probe.stats;
})();

const rows = names.map((name) => ({
  name: stacks[name].name,
  pipe: median(pipelined[name]),
  seq: median(sequential[name]),
}));
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(
  `transport round trips on 127.0.0.1 — pipelined: ${sockets} DEALERs × ${inflight} in flight, ` +
    `${pipelinedCount} rt; sequential: 1 DEALER, ${sequentialCount} rt; median of ${rounds} round(s); ` +
    `load average ${loadAtStart} at the start`,
);
console.log(
  `| ${"stack".padEnd(24)} | ${pad("rt/s", 7)} | ${pad("p50 µs", 7)} | ${pad("p99 µs", 7)} | ` +
    `${pad("srv CPU µs/rt", 13)} | ${pad("seq rt/s", 8)} | ${pad("seq p50", 7)} | ${
      pad("seq p99", 7)
    } |`,
);
console.log(
  `|${"-".repeat(26)}|${"-".repeat(9)}|${"-".repeat(9)}|${"-".repeat(9)}|${"-".repeat(15)}|${
    "-".repeat(10)
  }|${"-".repeat(9)}|${"-".repeat(9)}|`,
);
for (const row of rows) {
  console.log(
    `| ${row.name.padEnd(24)} | ${pad(row.pipe.rps, 7)} | ${pad(row.pipe.p50Us, 7)} | ` +
      `${pad(row.pipe.p99Us, 7)} | ${pad(row.pipe.serverCpuUsPerRt, 13)} | ${
        pad(row.seq.rps, 8)
      } | ` +
      `${pad(row.seq.p50Us, 7)} | ${pad(row.seq.p99Us, 7)} |`,
  );
}
console.log(
  `idle pump CPU over ${idleSeconds} s (ROUTER + DEALER, no traffic): ` +
    `${pumpMode} ${idleEpoll} % of a core, timer ${idleTimer} %`,
);
const deno = rows[0];
const nodeRow = rows[1];
const ratio = Math.round((deno.pipe.rps / nodeRow.pipe.rps) * 100) / 100;
// Sequential: how much faster our median round trip is (node p50 / ours).
const seqRatio = Math.round((nodeRow.seq.p50Us / Math.max(1, deno.seq.p50Us)) * 100) / 100;
const pipePass = ratio >= RATIO_TARGET;
const seqPass = seqRatio >= SEQ_RATIO_TARGET;
const pass = pipePass && seqPass;
console.log(
  `deno/node pipelined: ${ratio} (target ≥ ${RATIO_TARGET}: ${pipePass ? "pass" : "FAIL"}); ` +
    `sequential p50 node/deno: ${seqRatio} (target ≥ ${SEQ_RATIO_TARGET}: ${
      seqPass ? "pass" : "FAIL"
    }); load average ${loadAverage()} at the end`,
);
const json: Record<string, unknown> = {
  bench: "transport",
  quick,
  pass,
  ratio_target: RATIO_TARGET,
  seq_ratio_target: SEQ_RATIO_TARGET,
  seq_ratio: seqRatio,
  ffi_required: required,
  pump_mode: pumpMode,
  socket_mode: socketMode,
  deno_rps: deno.pipe.rps,
  node_rps: nodeRow.pipe.rps,
  ratio,
  deno_p50_us: deno.pipe.p50Us,
  deno_p99_us: deno.pipe.p99Us,
  node_p50_us: nodeRow.pipe.p50Us,
  node_p99_us: nodeRow.pipe.p99Us,
  deno_seq_rps: deno.seq.rps,
  node_seq_rps: nodeRow.seq.rps,
  deno_seq_p50_us: deno.seq.p50Us,
  deno_seq_p99_us: deno.seq.p99Us,
  node_seq_p50_us: nodeRow.seq.p50Us,
  node_seq_p99_us: nodeRow.seq.p99Us,
  deno_server_cpu_us_per_rt: deno.pipe.serverCpuUsPerRt,
  node_server_cpu_us_per_rt: nodeRow.pipe.serverCpuUsPerRt,
  idle_cpu_pct: idleEpoll,
  idle_cpu_pct_timer: idleTimer,
};
json.zeromq_js_rps = rows[2].pipe.rps;
json.zeromq_js_seq_rps = rows[2].seq.rps;
json.zeromq_js_server_cpu_us_per_rt = rows[2].pipe.serverCpuUsPerRt;
json.pump_client_rps = rows[3].pipe.rps;
json.pump_client_seq_p50_us = rows[3].seq.p50Us;
if (withTimerMode) {
  json.timer_rps = rows[4].pipe.rps;
  json.timer_seq_rps = rows[4].seq.rps;
}
console.log(JSON.stringify(json));
Deno.exit(pass ? 0 : 1);
