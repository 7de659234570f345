/**
 * Child process for tests, the probe and the benchmark: a ROUTER echo server on 127.0.0.1.
 *
 * Prints `READY <port>` once bound, echoes every message to its sender, and exits when stdin
 * closes or after `--max-seconds`. `--mode=native` uses zeromq's own `await receive()` loop
 * instead of the pump (for the native wake-up probe); `--engine=zmtp` our ZMTP ROUTER on raw sockets
 * (`lib/zmtp/`, the node's client port).
 *
 * @module
 */

import * as zmq from "zeromq";
import {
  Pump,
  type PumpSocketMode,
  type PumpWaitMode,
  RouterSocket,
} from "../../../lib/transport/mod.ts";
import { ZmtpRouter } from "../../../lib/zmtp/mod.ts";
import { exitAfter, exitWithParent, numberFlag, parseFlags, printLine } from "./child_util.ts";

const flags = parseFlags(Deno.args);
const port = numberFlag(flags, "port", 0);
exitAfter(numberFlag(flags, "max-seconds", 120));
exitWithParent();
const endpoint = `tcp://127.0.0.1:${port}`;

if (flags.get("mode") === "native") {
  const router = new zmq.Router({ linger: 0 });
  await router.bind(endpoint);
  printLine(`READY ${new URL(router.lastEndpoint!.replace("tcp:", "http:")).port}`);
  while (true) {
    const message = await router.receive();
    await router.send(message);
  }
} else if (flags.get("engine") === "zmtp") {
  const bound = ZmtpRouter.bind(endpoint, (peer, frames) => void server.send(peer, frames));
  if (bound === undefined) throw new Error("--engine=zmtp needs Linux and --allow-ffi");
  const server: ZmtpRouter = bound;
  printLine(`READY ${server.port}`);
} else {
  const pump = new Pump({
    wait: (flags.get("wait") ?? "auto") as PumpWaitMode,
    sockets: (flags.get("backend") ?? "auto") as PumpSocketMode,
    idleDelayMs: numberFlag(flags, "idle-delay-ms", 1),
    busyWindowMs: numberFlag(flags, "busy-window-ms", 2),
  });
  const server = await RouterSocket.bind(pump, endpoint, (peer, frames) => {
    server.send(peer, frames);
  });
  printLine(`READY ${server.port}`);
  Deno.addSignalListener("SIGTERM", () => {
    pump.close();
    Deno.exit(0);
  });
}
