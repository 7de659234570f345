/**
 * A subscriber in a process of its own, for tests that freeze it (SIGSTOP): connects a SUB to the
 * endpoint in its argument, prints `received N` for the first message and every 100th after, and
 * ends when stdin closes.
 *
 * Usage: `deno run -A tests/support/transport/subscriber_child.ts tcp://127.0.0.1:PORT`
 *
 * @module
 */
import { Pump, SubscriberSocket } from "../../../lib/transport/mod.ts";

const endpoint = Deno.args[0];
if (!endpoint) throw new Error("usage: subscriber_child.ts ENDPOINT");
await using pump = new Pump();
let received = 0;
SubscriberSocket.connect(pump, endpoint, [""], () => {
  received++;
  if (received === 1 || received % 100 === 0) console.log(`received ${received}`);
});
// Runs until the test closes stdin.
for await (const _ of Deno.stdin.readable) { /* nothing to read */ }
