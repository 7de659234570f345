/**
 * Hostile clients against live nodes (a single-mode node process, and a cluster of a registry, a
 * master and a slave): each attack of issue #13, spoken the way any ZeroMQ client can (our own
 * DEALER with the README's JSON or protobuf frames, or a DEALER written by hand over TCP that never
 * reads), and the bound it must meet.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DealerSocket } from "../lib/transport/mod.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../lib/protocol/mod.ts";
import { DEMO_PUBLIC_KEY } from "../lib/config/mod.ts";
import { TestPump } from "./support/transport/test_pump.ts";
import { RawDealer } from "./support/transport/raw_zmtp.ts";
import { TestCluster } from "./_cluster.ts";
import { eventually, freePort, Proc, TEST_READ_WORKERS } from "./_harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A reply as it arrived: its text (JSON), decoded form and arrival time. */
interface Received {
  text: string;
  envelope: Envelope;
  at: number;
}

/**
 * A client as a pyzmq script would be one: a DEALER sending envelopes in the README's JSON (or
 * protobuf), keeping every reply it gets, whatever it is.
 */
class WireClient {
  readonly replies: Received[] = [];
  /** Replies arrived (kept or not). */
  count = 0;
  readonly #socket: DealerSocket;
  readonly #json: boolean;

  /** With `keep` false, replies are only counted (a flooder need not pay for reading them). */
  constructor(
    pump: TestPump,
    endpoint: string,
    format: "json" | "binary" = "json",
    keep = true,
  ) {
    this.#json = format === "json";
    this.#socket = DealerSocket.connect(pump, endpoint, (frames) => {
      this.count++;
      if (!keep) return;
      const frame = frames[frames.length - 1];
      this.replies.push({
        text: decoder.decode(frame),
        envelope: decodeEnvelope(frame),
        at: performance.now(),
      });
    });
  }

  /** Sends one request: `body` in the JSON mapping's field names (e.g. `{ login: {} }`). */
  send(clientId: string, requestId: number, body: Record<string, unknown>): void {
    const frame = this.#json
      ? encoder.encode(JSON.stringify({ client_id: clientId, request_id: requestId, ...body }))
      : encodeEnvelope({ clientId, requestId, ...camel(body) } as Envelope);
    assert.ok(this.#socket.send(frame), "the DEALER took the request");
  }

  /** The replies to `clientId`'s request `requestId`. */
  repliesTo(clientId: string, requestId: number): Envelope[] {
    return this.replies
      .map((r) => r.envelope)
      .filter((e) => e.clientId === clientId && e.requestId === requestId);
  }

  /** Waits until `count` replies arrived in all. */
  async replied(count: number, what: string, timeoutMs = 20_000): Promise<void> {
    await eventually(
      `${what} (${this.replies.length}/${count} replies)`,
      () => this.replies.length >= count ? true : undefined,
      timeoutMs,
      10,
    );
  }

  close(): void {
    this.#socket.close();
  }
}

function camel(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return out;
}

/** A single-mode node process on free loopback ports, with its HTTP status. */
class SingleNode implements AsyncDisposable {
  readonly proc: Proc;
  readonly port = freePort();
  readonly http = freePort();

  constructor(sets: string[] = []) {
    this.proc = new Proc("node", "main.ts", [
      `--port=${this.port}`,
      "--log-level=warning",
      // Nothing here is about persistence: no data_dir (the default ./data would be shared).
      "--data-dir=",
      "--set",
      `http_port=${this.http}`,
      ...sets.flatMap((s) => ["--set", s]),
    ]);
  }

  get endpoint(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  async started(): Promise<this> {
    await eventually(
      "the node's status page",
      async () => {
        const r = await fetch(`http://127.0.0.1:${this.http}/status`).catch(() => undefined);
        if (!r) return undefined;
        await r.body?.cancel();
        return r.ok ? true : undefined;
      },
      20_000,
      100,
    );
    return this;
  }

  status(): Promise<NodeStatus> {
    return fetchStatus(this.http);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.proc.stop(3000);
  }
}

interface NodeStatus {
  load: { users?: number; connections?: number; sessions?: number; tickP99Ms?: number };
  counters: Record<string, number>;
}

async function fetchStatus(http: number): Promise<NodeStatus> {
  const r = await fetch(`http://127.0.0.1:${http}/status`);
  return await r.json() as NodeStatus;
}

/** The resident set of a process, bytes (Linux). */
function rssOf(pid: number): number {
  const line = Deno.readTextFileSync(`/proc/${pid}/status`).split("\n").find((l) =>
    l.startsWith("VmRSS:")
  );
  return Number(line?.match(/(\d+)/)?.[1] ?? 0) * 1024;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The session-token theft of the issue: a victim logs in, and a thief on another connection sends
 * requests with the victim's client id a moment later (while the login is in flight through a
 * slave). No reply ever reaches a connection other than the one that sent its request, and the
 * thief gets nothing of a victim's: no token, no user.
 */
async function tokenTheft(pump: TestPump, endpoint: string, tries: number): Promise<void> {
  const victim = new WireClient(pump, endpoint);
  const thief = new WireClient(pump, endpoint, "binary");
  try {
    const ids = Array.from({ length: tries }, () => crypto.randomUUID());
    for (const [i, id] of ids.entries()) {
      victim.send(id, 1, { login: {} });
      // Half the thefts come once the victim's login was answered, half while it is in flight
      // (which connection's request a node reads first is then a race: the thief may win it).
      if (i % 2 === 0) await victim.replied(i + 1, "the victim's login reply");
      else await delay(1 + (i % 3));
      thief.send(id, 2, { ping: {} });
      thief.send(id, 3, { login: {} });
      thief.send(id, 4, { set_velocity: { vx: 1, vy: 1 } });
      thief.send(id, 5, { logout: {} });
    }
    await victim.replied(tries, "the victims' login replies");
    await thief.replied(4 * tries, "an answer to each of the thief's requests");
    // Each got exactly the replies to its own requests.
    assert.equal(victim.replies.length, tries);
    for (const r of victim.replies) assert.equal(r.envelope.requestId, 1, r.text);
    assert.equal(thief.replies.length, 4 * tries);
    for (const r of thief.replies) assert.ok((r.envelope.requestId ?? 0) >= 2, r.text);
    const victims = victim.replies.filter((r) => r.envelope.loginReply);
    // Every victim answered before its thief asked is logged in (a thief winning the race of an
    // in-flight login just logs in as a user of its own, checked below).
    assert.ok(victims.length >= tries / 2, `${victims.length} of ${tries} victims logged in`);
    const tokens = new Set(victims.map((r) => r.envelope.loginReply!.sessionToken));
    const users = new Set(victims.map((r) => r.envelope.loginReply!.userId));
    for (const r of thief.replies) {
      assert.ok(!tokens.has(r.envelope.loginReply?.sessionToken ?? ""), r.text);
      const user = r.envelope.loginReply?.userId ?? r.envelope.setVelocityReply?.user?.id ??
        r.envelope.logoutReply?.userId;
      assert.ok(user === undefined || !users.has(user), `the thief acted as user ${user}`);
      const victimsToken = [...tokens].some((t) => t && r.text.includes(t as string));
      assert.ok(!victimsToken, `a victim's token in ${r.text}`);
    }
    // The victims still hold their sessions.
    const loggedIn = victims.map((r) => r.envelope.clientId!);
    for (const id of loggedIn) victim.send(id, 10, { set_velocity: { vx: 2 } });
    await victim.replied(tries + loggedIn.length, "the victims' writes");
    for (const id of loggedIn) {
      assert.ok(victim.repliesTo(id, 10)[0]?.setVelocityReply, `victim ${id} lost its session`);
    }
  } finally {
    victim.close();
    thief.close();
  }
}

/** 200 logins back to back under one client id, and 4 each under 50 more: one user per id. */
async function pipelinedLogins(
  pump: TestPump,
  endpoint: string,
  users: () => Promise<number>,
): Promise<void> {
  const before = await users();
  const client = new WireClient(pump, endpoint);
  try {
    const id = crypto.randomUUID();
    for (let i = 1; i <= 200; i++) client.send(id, i, { login: {} });
    const rotating = Array.from({ length: 50 }, () => crypto.randomUUID());
    for (let i = 1; i <= 4; i++) for (const other of rotating) client.send(other, i, { login: {} });
    await client.replied(400, "an answer to every login");
    const ok = client.replies.filter((r) => r.envelope.loginReply);
    assert.equal(ok.length, 51, "one login reply per client id");
    for (const r of client.replies) {
      if (!r.envelope.loginReply) assert.equal(r.envelope.error?.code, "ALREADY_LOGGED_IN", r.text);
    }
    await eventually("the users count", async () => (await users()) === before + 51 || undefined);
  } finally {
    client.close();
  }
}

Deno.test("hostile clients against a single-mode node", async (t) => {
  await using node = await new SingleNode([
    "clients.max_clients=1000",
    "clients.max_ids_per_connection=100",
  ]).started();
  await using pump = new TestPump();

  await t.step("a stolen client id gets nothing of its owner's", async () => {
    await tokenTheft(pump, node.endpoint, 20);
  });

  await t.step("pipelined logins create at most one user per client id", async () => {
    await pipelinedLogins(pump, node.endpoint, async () => (await node.status()).load.users ?? 0);
  });

  await t.step("one connection cannot hold max_clients: others still get in", async () => {
    const before = (await node.status()).load.connections ?? 0;
    const hog = new WireClient(pump, node.endpoint);
    const honest = new WireClient(pump, node.endpoint);
    try {
      for (let i = 0; i < 1000; i++) hog.send(crypto.randomUUID(), 1, { ping: {} });
      await hog.replied(1000, "an answer to every ping");
      const pongs = hog.replies.filter((r) => r.envelope.pong).length;
      assert.equal(pongs, 100, "max_ids_per_connection client ids, no more");
      for (const r of hog.replies) {
        if (!r.envelope.pong) assert.match(r.text, /max_ids_per_connection/);
      }
      for (let i = 0; i < 10; i++) honest.send(crypto.randomUUID(), 1, { login: {} });
      await honest.replied(10, "the honest logins");
      assert.equal(honest.replies.filter((r) => r.envelope.loginReply).length, 10);
      const status = await node.status();
      assert.ok((status.load.connections ?? 0) <= before + 110);
      assert.ok(status.counters.idsRefused >= 900);
    } finally {
      hog.close();
      honest.close();
    }
  });

  await t.step(
    "FRAME_TOO_LARGE for a 200 KB frame; a 2 MB one is hung up on, and counted",
    async () => {
      const client = new WireClient(pump, node.endpoint);
      try {
        // Too large to be decoded: the reply carries no ids.
        client.send(crypto.randomUUID(), 1, { ping: {}, pad: "x".repeat(200_000) });
        await client.replied(1, "the answer to a 200 KB frame");
        assert.equal(client.replies[0].envelope.error?.code, "FRAME_TOO_LARGE");
      } finally {
        client.close();
      }
      const before = (await node.status()).counters.disconnects;
      await using rude = await RawDealer.connect(node.port);
      // The node may hang up before the whole frame is written.
      await rude.send(new Uint8Array(2 * 1024 * 1024).fill(0x7b)).catch(() => {});
      assert.equal(await rude.closedByServer(10_000), true, "the node closed the connection");
      await eventually(
        "the disconnect counted",
        async () => (await node.status()).counters.disconnects > before || undefined,
      );
    },
  );
});

Deno.test("a connection that does not read cannot pin the node's memory", async () => {
  // 1,500 users: a whole-world query's reply lists 1,000 of them, ~85 KB in JSON.
  await using node = await new SingleNode(["world.width=1000", "world.height=1000"]).started();
  await using pump = new TestPump();
  const filler = new WireClient(pump, node.endpoint);
  for (let i = 0; i < 1500; i++) filler.send(crypto.randomUUID(), 1, { login: {} });
  await filler.replied(1500, "1,500 logins", 30_000);
  filler.close();
  const whole = (id: string, n: number) =>
    encoder.encode(JSON.stringify({
      client_id: id,
      request_id: n,
      query_rect: { x1: 0, y1: 0, x2: 1000, y2: 1000 },
    }));
  const base = rssOf(node.proc.pid);
  const readers = 10;
  const flooders = await Promise.all(
    Array.from({ length: readers }, () => RawDealer.connect(node.port)),
  );
  const honest = new WireClient(pump, node.endpoint);
  let most = base;
  try {
    // For 30 s every flooder pipelines whole-world queries under 50 client ids and never reads.
    const ids = flooders.map(() => Array.from({ length: 50 }, () => crypto.randomUUID()));
    const until = performance.now() + 30_000;
    let n = 0;
    let asked = 0;
    while (performance.now() < until) {
      n++;
      await Promise.all(flooders.map((f, i) => f.send(whole(ids[i][n % 50], n))));
      honest.send("0f8fad5b-d9cb-469f-a165-70867728950e", n, { ping: {} });
      asked++;
      if (n % 10 === 0) most = Math.max(most, rssOf(node.proc.pid));
      await delay(5);
    }
    most = Math.max(most, rssOf(node.proc.pid));
    // The honest connection was answered all along.
    await honest.replied(asked, "an answer to every honest ping", 20_000);
    assert.ok(honest.replies.every((r) => r.envelope.pong), "the honest pings got pongs");
    const status = await node.status();
    // Per connection at most send_hwm (100) replies in ZeroMQ plus max_backlog_bytes (1 MiB):
    // ~9.5 MB of 85 KB replies; 10 connections ≈ 95 MB, and some room for the JS heap. A reader
    // worker (GAMESERVER_TEST_READ_WORKERS) adds its own isolate (18–20 MB idle, measured) and
    // fills its 16 MiB reply ring under such a flood: 48 MB each.
    const bound = (160 + 48 * TEST_READ_WORKERS) * 1024 * 1024;
    console.log(
      `RSS ${Math.round(base / 1048576)} MB before, at most ${
        Math.round(most / 1048576)
      } MB while ${readers} connections flooded without reading (growth bound ${
        bound / 1048576
      } MB); ${n * readers} queries sent; counters ${JSON.stringify(status.counters)}`,
    );
    assert.ok(most - base <= bound, `RSS grew by ${Math.round((most - base) / 1048576)} MB`);
    assert.ok(status.counters.stalled > 0, "requests of connections that do not read were dropped");
  } finally {
    honest.close();
    for (const f of flooders) f.close();
  }
});

Deno.test("an honest client is answered while one connection floods the costliest requests", async () => {
  await using node = await new SingleNode(["world.width=1000", "world.height=1000"]).started();
  await using pump = new TestPump();
  const filler = new WireClient(pump, node.endpoint, "binary");
  for (let i = 0; i < 1500; i++) filler.send(crypto.randomUUID(), 1, { login: {} });
  await filler.replied(1500, "1,500 logins", 30_000);
  filler.close();
  const flood = new WireClient(pump, node.endpoint, "binary", false);
  const honest = new WireClient(pump, node.endpoint, "binary");
  const ids = Array.from({ length: 200 }, () => crypto.randomUUID());
  const sentAt = new Map<number, number>();
  try {
    const until = performance.now() + 4000;
    let n = 0;
    while (performance.now() < until) {
      // As fast as it may: whole-world queries and checksums, many client ids, one connection.
      for (let i = 0; i < 40; i++) {
        n++;
        flood.send(ids[n % ids.length], n, {
          ...(n % 4 === 0
            ? { status: { with_checksum: true } }
            : { query_rect: { x1: 0, y1: 0, x2: 1000, y2: 1000 } }),
        });
      }
      sentAt.set(n, performance.now());
      honest.send("7c9e6679-7425-40de-944b-e07fc1f90ae7", n, {
        query_circle: { x: 500, y: 500, radius: 20 },
      });
      await delay(10);
    }
    await honest.replied(sentAt.size, "an answer to every honest query", 20_000);
    for (const r of honest.replies) assert.ok(r.envelope.queryReply, r.text);
    const status = await node.status();
    const latencies = honest.replies
      .map((r) => r.at - (sentAt.get(r.envelope.requestId ?? 0) ?? 0))
      .sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    console.log(
      `honest replies during the flood: ${latencies.length}, p99 ${
        Math.round(p99)
      } ms (the test process, flooding too, shares the 2 cores); node tick p99 ${status.load.tickP99Ms} ms; flood ${n} requests; counters ${
        JSON.stringify(status.counters)
      }`,
    );
    assert.ok(
      status.counters.rateLimited + status.counters.unanswered > 0,
      "the flood was bounded",
    );
  } finally {
    flood.close();
    honest.close();
  }
});

Deno.test("hostile clients against a cluster: through a slave", async (t) => {
  await using cluster = new TestCluster({ members: ["master", "slave1", "slave2"] });
  await cluster.startRegistry();
  const masterHttp = freePort();
  const slaveHttp = freePort();
  const master = cluster.spawnNode("master", "master", { http_port: masterHttp });
  await master.waitFor(/Registered with registry/);
  const slave = cluster.spawnNode("slave1", "slave", { http_port: slaveHttp });
  await slave.waitFor(/Snapshot applied/, 30_000);
  await master.waitFor(/Now MASTER/, 30_000);
  await using pump = new TestPump();
  const endpoint = cluster.clientEndpoint("slave1");

  await t.step("a stolen client id gets nothing of its owner's login through a slave", async () => {
    await tokenTheft(pump, endpoint, 20);
  });

  await t.step(
    "pipelined logins through a slave create at most one user per client id",
    async () => {
      await pipelinedLogins(
        pump,
        endpoint,
        async () => (await fetchStatus(masterHttp)).load.users ?? 0,
      );
    },
  );

  await t.step("forwarded writes with the same request id each get their reply", async () => {
    const a = new WireClient(pump, endpoint);
    const b = new WireClient(pump, endpoint);
    try {
      const ida = crypto.randomUUID();
      const idb = crypto.randomUUID();
      a.send(ida, 7, { login: {} });
      b.send(idb, 7, { login: {} });
      await a.replied(1, "a's login");
      await b.replied(1, "b's login");
      // Same request id from two clients at once, and twice from one client.
      for (let i = 0; i < 2; i++) {
        a.send(ida, 8, { set_velocity: { vx: 1 } });
        b.send(idb, 8, { set_velocity: { vx: 2 } });
      }
      await a.replied(3, "a's two writes");
      await b.replied(3, "b's two writes");
      assert.equal(a.repliesTo(ida, 8).filter((e) => e.setVelocityReply?.user?.vx === 1).length, 2);
      assert.equal(b.repliesTo(idb, 8).filter((e) => e.setVelocityReply?.user?.vx === 2).length, 2);
    } finally {
      a.close();
      b.close();
    }
  });

  await t.step("the slave's counters show the refusals", async () => {
    const status = await fetchStatus(slaveHttp);
    assert.ok(status.counters.foreign > 0);
    assert.ok(status.counters.loginsRefused >= 199);
  });
});

Deno.test("cluster mode refuses the configs' demo keypair off loopback", async () => {
  const proc = new Proc("node", "main.ts", [
    "--data-dir=",
    "--http-port=0",
    "--set",
    "mode=cluster",
    "--set",
    "bind=0.0.0.0",
    "--set",
    `client_port=${freePort()}`,
    "--set",
    "cluster.members=node-1",
    "--set",
    `curve.public_key=${DEMO_PUBLIC_KEY}`,
    "--set",
    "curve.secret_key=wiS}0an0bL6J2{[RK!BatY5nNXNSo^d+14$I4s0U",
  ]);
  const status = await proc.status;
  assert.equal(status.code, 2, proc.lines.join("\n"));
  assert.ok(proc.lines.some((l) => /demo keypair/.test(l) && /deno task keys/.test(l)));
});
