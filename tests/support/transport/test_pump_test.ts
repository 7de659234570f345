import assert from "node:assert/strict";
import { DealerSocket, HandlerError, RouterSocket } from "../../../lib/transport/mod.ts";
import { TestPump } from "./test_pump.ts";
import { bytes, within } from "./test_util.ts";

/** An echo ROUTER and a DEALER with `onReply` that has sent one message. */
async function exchange(pump: TestPump, onReply: () => void): Promise<void> {
  const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
    router.send(peer, frames);
  });
  DealerSocket.connect(pump, router.endpoint, onReply).send(bytes("x"));
}

Deno.test("within() fails at once with an assertion that failed in a callback", async () => {
  await using pump = new TestPump();
  await exchange(pump, () => assert.equal(1, 2, "inside the callback"));
  const started = performance.now();
  const never = Promise.withResolvers<void>().promise;
  const error = await pump.within(never, 10_000, "nothing").catch((error) => error);
  assert.ok(error instanceof HandlerError, String(error));
  assert.match((error.cause as Error).message, /inside the callback/);
  assert.ok(performance.now() - started < 5_000, "long before the timeout");
});

Deno.test("until() fails with an error thrown in a callback", async () => {
  await using pump = new TestPump();
  await exchange(pump, () => {
    throw new Error("boom");
  });
  await assert.rejects(pump.until(() => false, 10_000, "nothing"), HandlerError);
});

Deno.test("disposing throws an error no wait has seen", async () => {
  const pump = new TestPump();
  const replied = Promise.withResolvers<void>();
  await exchange(pump, () => {
    replied.resolve();
    throw new Error("late");
  });
  await within(replied.promise, 10_000, "the reply");
  assert.equal(pump.errors.length, 1);
  await assert.rejects(pump[Symbol.asyncDispose](), HandlerError);
});
