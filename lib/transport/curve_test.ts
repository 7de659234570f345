import assert from "node:assert/strict";
import {
  curveAvailable,
  CurveError,
  DealerSocket,
  generateCurveKeyPair,
  PublisherSocket,
  RouterSocket,
  SubscriberSocket,
} from "./mod.ts";
import { z85Decode, z85Encode } from "./_z85.ts";
import { bytes, text } from "../../tests/support/transport/test_util.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";

Deno.test("Z85 round-trips CURVE keys", () => {
  const pair = generateCurveKeyPair();
  for (const key of [pair.publicKey, pair.secretKey]) {
    const raw = z85Decode(key)!;
    assert.equal(raw.length, 32);
    assert.equal(z85Encode(raw), key);
  }
  // RFC 32 test vector.
  assert.equal(
    z85Encode(new Uint8Array([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])),
    "HelloWorld",
  );
  assert.equal(z85Decode("bad"), undefined);
});

Deno.test({
  name: "CURVE: only listed client keys can exchange messages",
  ignore: !curveAvailable(),
  fn: async (t) => {
    await using pump = new TestPump();
    const server = generateCurveKeyPair();
    const allowed = generateCurveKeyPair();
    const stranger = generateCurveKeyPair();
    const seen: string[] = [];
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      seen.push(text(frames[0]));
      router.send(peer, frames);
    }, { curve: { ...server, allowedClientKeys: [allowed.publicKey] } });

    await t.step("an unlisted keypair is refused and its messages never arrive", async () => {
      const client = DealerSocket.connect(pump, router.endpoint, () => {
        throw new Error("A refused client must not get replies");
      }, { curve: { serverPublicKey: server.publicKey, ...stranger } });
      try {
        client.send(bytes("from stranger"));
        await pump.until(() => pump.stats.authDenied >= 1, 10_000, "the ZAP handler to refuse");
      } finally {
        client.close();
      }
    });

    await t.step("a listed keypair exchanges messages", async () => {
      const reply = Promise.withResolvers<string>();
      const client = DealerSocket.connect(pump, router.endpoint, (frames) => {
        reply.resolve(text(frames[0]));
      }, { curve: { serverPublicKey: server.publicKey, ...allowed } });
      try {
        client.send(bytes("from friend"));
        assert.equal(await pump.within(reply.promise, 10_000, "the allowed reply"), "from friend");
        assert.ok(pump.stats.authAllowed >= 1);
      } finally {
        client.close();
      }
    });

    await t.step("a client with the wrong server key never gets through", async () => {
      const impostor = generateCurveKeyPair();
      const client = DealerSocket.connect(pump, router.endpoint, () => {
        throw new Error("Must not get replies");
      }, { curve: { serverPublicKey: impostor.publicKey, ...allowed } });
      client.send(bytes("wrong server key"));
      // The allowed client's round trip above and this one's handshake use the same loop; a
      // further allowed round trip shows the pump moved on without delivering the bad one.
      const reply = Promise.withResolvers<void>();
      const friend = DealerSocket.connect(pump, router.endpoint, () => reply.resolve(), {
        curve: { serverPublicKey: server.publicKey, ...allowed },
      });
      friend.send(bytes("ping"));
      await pump.within(reply.promise, 10_000, "a second allowed reply");
      client.close();
      friend.close();
    });

    assert.deepEqual(seen.filter((m) => m !== "ping"), ["from friend"]);

    await t.step("plain sockets in the same pump are unaffected by ZAP", async () => {
      const plain = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
        plain.send(peer, frames);
      });
      const reply = Promise.withResolvers<void>();
      const client = DealerSocket.connect(pump, plain.endpoint, () => reply.resolve());
      client.send(bytes("plain"));
      await pump.within(reply.promise, 10_000, "a plain reply");
    });
  },
});

Deno.test({
  name: "CURVE: a publisher serves only listed subscribers",
  ignore: !curveAvailable(),
  fn: async () => {
    await using pump = new TestPump();
    const server = generateCurveKeyPair();
    const allowed = generateCurveKeyPair();
    const stranger = generateCurveKeyPair();
    const publisher = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0", {
      curve: { ...server, allowedClientKeys: [allowed.publicKey] },
    });
    const got = Promise.withResolvers<void>();
    let strangerGot = 0;
    SubscriberSocket.connect(pump, publisher.endpoint, [""], () => got.resolve(), {
      curve: { serverPublicKey: server.publicKey, ...allowed },
    });
    SubscriberSocket.connect(pump, publisher.endpoint, [""], () => strangerGot++, {
      curve: { serverPublicKey: server.publicKey, ...stranger },
    });
    const timer = setInterval(() => publisher.publish("t", bytes("x")), 10);
    try {
      await pump.within(got.promise, 10_000, "the allowed subscriber to receive");
      await pump.until(() => pump.stats.authDenied >= 1, 10_000, "the stranger to be refused");
    } finally {
      clearInterval(timer);
    }
    assert.equal(strangerGot, 0);
  },
});

Deno.test("malformed CURVE keys are rejected before any socket is made", async () => {
  await using pump = new TestPump();
  await assert.rejects(
    RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {}, {
      curve: { publicKey: "short", secretKey: "short", allowedClientKeys: [] },
    }),
    CurveError,
  );
  assert.throws(
    () =>
      DealerSocket.connect(pump, "tcp://127.0.0.1:1", () => {}, {
        curve: { serverPublicKey: "x", publicKey: "y", secretKey: "z" },
      }),
    CurveError,
  );
  assert.equal(pump.stats.sockets, 0);
});
