/**
 * Child process for the pump tests: uses every socket kind once, disposes the pump and then
 * simply ends. The test checks that the process exits by itself (nothing keeps it alive).
 *
 * @module
 */

import {
  DealerSocket,
  PublisherSocket,
  Pump,
  type PumpWaitMode,
  RouterSocket,
  SubscriberSocket,
} from "../../../lib/transport/mod.ts";
import { parseFlags, printLine } from "./child_util.ts";

const flags = parseFlags(Deno.args);
const pump = new Pump({ wait: (flags.get("wait") ?? "auto") as PumpWaitMode });
const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
  router.send(peer, frames);
});
const publisher = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0");
const { promise: replied, resolve } = Promise.withResolvers<void>();
const dealer = DealerSocket.connect(pump, router.endpoint, () => resolve());
SubscriberSocket.connect(pump, publisher.endpoint, [""], () => {});
dealer.send(new Uint8Array([1]));
await replied;
publisher.publish("t", new Uint8Array([2]));
await pump[Symbol.asyncDispose]();
printLine(`DISPOSED ${pump.stats.mode}`);
