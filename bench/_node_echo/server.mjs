// Plain zeromq.js echo server under Node.js: the baseline the Deno transport is compared with.
// Usage: node server.mjs [--port=0] [--max-seconds=120]; prints "READY <port>", echoes every
// message to its sender, exits when stdin closes or at the deadline. Binds 127.0.0.1 only.
import * as zmq from "zeromq";

const flags = new Map(
  process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")).map((
    [k, v],
  ) => [k, v ?? "true"]),
);
const port = Number(flags.get("port") ?? 0);
const maxSeconds = Number(flags.get("max-seconds") ?? 120);
setTimeout(() => process.exit(3), maxSeconds * 1000).unref();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();

const router = new zmq.Router({ linger: 0, sendHighWaterMark: 10000, receiveHighWaterMark: 10000 });
await router.bind(`tcp://127.0.0.1:${port}`);
process.stdout.write(`READY ${router.lastEndpoint.split(":").pop()}\n`);
for await (const message of router) {
  await router.send(message);
}
