import assert from "node:assert/strict";
import { DealerSocket } from "../lib/transport/mod.ts";
import { TestPump } from "./support/transport/test_pump.ts";
import { defaults, NODE_SCHEMA } from "../lib/config/mod.ts";
import { NodeServer } from "../lib/node/mod.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../lib/protocol/mod.ts";
import { mulberry32 } from "../lib/random/mod.ts";

const rng = mulberry32;

const WEIRD_NUMBERS = [
  NaN,
  Infinity,
  -Infinity,
  1e308,
  -1e308,
  0,
  -0,
  1e-320,
  2 ** 53,
  -1,
  50.0000001,
];
const WEIRD_JSON = [
  "NaN",
  "Infinity",
  "-Infinity",
  "1e999",
  "abc",
  "",
  "0x10",
  null,
  true,
  [],
  {},
  1.5,
];

function frameGenerator(random: () => number) {
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  const num = () => (random() < 0.5 ? pick(WEIRD_NUMBERS) : (random() - 0.5) * 20_000);
  const ids = Array.from({ length: 8 }, () => crypto.randomUUID());
  const valid = (): Envelope => {
    const clientId = random() < 0.9 ? pick(ids) : pick(["", "not-a-uuid", crypto.randomUUID()]);
    const requestId = Math.floor(random() * 0xffffffff);
    switch (Math.floor(random() * 8)) {
      case 0:
        return {
          clientId,
          requestId,
          login: random() < 0.7 ? {} : {
            userId: Math.floor(random() * 50),
            sessionToken: pick(["", "00", "g".repeat(32), "a".repeat(32)]),
          },
        };
      case 1:
        return { clientId, requestId, setVelocity: { vx: num(), vy: num() } };
      case 2:
        return { clientId, requestId, queryRect: { x1: num(), y1: num(), x2: num(), y2: num() } };
      case 3:
        return { clientId, requestId, queryCircle: { x: num(), y: num(), radius: num() } };
      case 4:
        return {
          clientId,
          requestId,
          aoe: { radius: num(), amount: Math.floor((random() - 0.5) * 4e6) },
        };
      case 5:
        return { clientId, requestId, logout: {} };
      case 6:
        return { clientId, requestId, pongReply: undefined, pong: { nodeId: "x" } } as Envelope;
      default:
        return { clientId, requestId, ping: { clientTimeMs: num() } };
    }
  };
  return (): Uint8Array[] => {
    const kind = random();
    if (kind < 0.15) {
      return [crypto.getRandomValues(new Uint8Array(Math.floor(random() * 200)))];
    }
    if (kind < 0.45) {
      let bytes: Uint8Array;
      try {
        bytes = encodeEnvelope(valid());
      } catch {
        bytes = new Uint8Array([1, 2, 3]);
      }
      const copy = new Uint8Array(bytes);
      const flips = 1 + Math.floor(random() * 4);
      for (let i = 0; i < flips && copy.length; i++) {
        copy[Math.floor(random() * copy.length)] = random() * 256;
      }
      return [random() < 0.2 ? copy.subarray(0, Math.floor(random() * copy.length)) : copy];
    }
    if (kind < 0.75) {
      const env = valid() as Record<string, unknown>;
      const json: Record<string, unknown> = { client_id: env.clientId, request_id: env.requestId };
      const op = Object.keys(env).find((k) => k !== "clientId" && k !== "requestId")!;
      const body = { ...(env[op] as Record<string, unknown>) };
      for (const k of Object.keys(body)) if (random() < 0.3) body[k] = pick(WEIRD_JSON);
      if (random() < 0.1) body.extra = 1;
      json[op.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())] = random() < 0.05 ? "oops" : body;
      let text = JSON.stringify(json);
      if (random() < 0.1) text = text.slice(0, Math.floor(random() * text.length));
      return [new TextEncoder().encode(text)];
    }
    if (kind < 0.8) return [new Uint8Array(5000).fill(0x7b)]; // over max_frame_bytes
    if (kind < 0.85) return [encodeEnvelope(valid()), new Uint8Array([1])]; // two frames
    return [encodeEnvelope(valid())];
  };
}

Deno.test("10,000 random and mutated frames get error replies and leave the world intact", async () => {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.data_dir = "";
  config.log_level = "error";
  config.clients.max_frame_bytes = 4096;
  config.world.width = 1000;
  config.world.height = 1000;
  await using pump = new TestPump();
  const server = await NodeServer.start(config, { pump });
  const endpoint = `tcp://127.0.0.1:${server.clientPort}`;
  const total = 10_000;
  let replies = 0;
  const done = Promise.withResolvers<void>();
  const sockets = Array.from({ length: 4 }, () =>
    DealerSocket.connect(pump, endpoint, (frames) => {
      assert.equal(frames.length, 1);
      // Every reply must itself be a valid envelope.
      decodeEnvelope(frames[0]);
      if (++replies === total) done.resolve();
    }));
  try {
    const next = frameGenerator(rng(42));
    let sent = 0;
    while (sent < total) {
      // Keep at most 400 in flight so no queue overflows: every frame must get its reply.
      if (sent - replies < 400) {
        sockets[sent % sockets.length].send(next());
        sent++;
      } else {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    const timer = setTimeout(
      () => done.reject(new Error(`only ${replies}/${total} replies`)),
      30_000,
    );
    try {
      // A failed assertion in the reply handler fails the test now, not at the timeout.
      await Promise.race([done.promise, pump.failed]);
    } finally {
      clearTimeout(timer);
    }

    server.node.state.world.checkInvariants();
    assert.equal(server.node.counters.dropped, 0);

    // The node still answers a well-behaved client correctly.
    const clientId = crypto.randomUUID();
    const answers: Envelope[] = [];
    const { promise, resolve } = Promise.withResolvers<void>();
    const good = DealerSocket.connect(pump, endpoint, (frames) => {
      answers.push(decodeEnvelope(frames[0]));
      if (answers.length === 3) resolve();
    });
    good.send(encodeEnvelope({ clientId, requestId: 1, login: {} }));
    good.send(encodeEnvelope({ clientId, requestId: 2, setVelocity: { vx: 1, vy: 2 } }));
    good.send(
      encodeEnvelope({ clientId, requestId: 3, queryRect: { x1: 0, y1: 0, x2: 1000, y2: 1000 } }),
    );
    await pump.within(promise, 10_000, "three answers to a well-behaved client");
    good.close();
    const [login, velocity, query] = answers;
    assert.ok(login.loginReply?.userId, JSON.stringify(login));
    assert.equal(velocity.setVelocityReply?.user?.vy, 2);
    assert.equal(query.queryReply?.total, server.node.state.world.size);
    server.node.state.world.checkInvariants();
  } finally {
    for (const s of sockets) s.close();
    await server.close();
  }
});

Deno.test("a flood from one client is rate-limited with a reply per request; others are served", async () => {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.data_dir = "";
  config.log_level = "error";
  config.clients.max_requests_per_second = 200;
  await using pump = new TestPump();
  const server = await NodeServer.start(config, { pump });
  const endpoint = `tcp://127.0.0.1:${server.clientPort}`;
  const codes = new Map<string, number>();
  const total = 1000;
  let replies = 0;
  const done = Promise.withResolvers<void>();
  const flooder = DealerSocket.connect(pump, endpoint, (frames) => {
    const reply = decodeEnvelope(frames[0]);
    const code = reply.error?.code ?? "OK";
    codes.set(code, (codes.get(code) ?? 0) + 1);
    if (++replies === total) done.resolve();
  });
  try {
    const clientId = crypto.randomUUID();
    for (let i = 1; i <= total; i++) {
      flooder.send(encodeEnvelope({ clientId, requestId: i, ping: {} }));
    }
    const timer = setTimeout(
      () => done.reject(new Error(`only ${replies}/${total} replies`)),
      20_000,
    );
    try {
      await Promise.race([done.promise, pump.failed]);
    } finally {
      clearTimeout(timer);
    }
    assert.ok((codes.get("RATE_LIMITED") ?? 0) > 0, JSON.stringify([...codes]));
    assert.ok((codes.get("OK") ?? 0) >= 200);

    const other = Promise.withResolvers<Envelope>();
    const polite = DealerSocket.connect(
      pump,
      endpoint,
      (frames) => other.resolve(decodeEnvelope(frames[0])),
    );
    polite.send(encodeEnvelope({ clientId: crypto.randomUUID(), requestId: 1, ping: {} }));
    const reply = await pump.within(other.promise, 10_000, "the polite client's pong");
    polite.close();
    assert.ok(reply.pong, JSON.stringify(reply));
  } finally {
    flooder.close();
    await server.close();
  }
});
