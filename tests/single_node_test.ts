import assert from "node:assert/strict";
import { DealerSocket, Pump } from "../lib/transport/mod.ts";
import { CLIENT_SCHEMA, defaults } from "../lib/config/mod.ts";
import { ClientSession, Connection } from "../lib/client/mod.ts";
import { freePort, Proc, readOthersWrite, TempDir } from "./_harness.ts";

function clientConfig(endpoint: string) {
  return {
    ...defaults(CLIENT_SCHEMA),
    node: endpoint,
    heartbeat_interval_ms: 200,
    server_timeout_ms: 2000,
  };
}

async function runClient(args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "client.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return { code: out.code, json: text ? JSON.parse(text.split("\n").at(-1)!) : {} };
}

Deno.test("a single-mode node on defaults serves the client end to end", async (t) => {
  const port = freePort();
  await using node = new Proc("node", "main.ts", [
    `--port=${port}`,
    "--http-port=0",
    "--log-level=debug",
    "--data-dir=",
  ]);
  await node.waitFor(/listening for clients on tcp:\/\/127\.0\.0\.1:\d+/);
  const endpoint = `tcp://127.0.0.1:${port}`;

  await t.step("one-shot commands print JSON", async () => {
    const query = await runClient([`--node=${endpoint}`, "query", "0", "0", "10000", "10000"]);
    assert.equal(query.code, 0);
    assert.equal(query.json.ok, true);
    const aoe = await runClient([`--node=${endpoint}`, "aoe", "50", "5"]);
    assert.equal(aoe.code, 0, JSON.stringify(aoe.json));
    assert.ok((aoe.json.login as { userId: number }).userId > 0);
    const bad = await runClient([`--node=${endpoint}`, "query", "--circle", "0", "0", "999999"]);
    assert.equal(bad.code, 1);
    assert.equal((bad.json.error as { code: string }).code, "INVALID_ARGUMENT");
  });

  await t.step("a session logs in, moves, queries, casts an aoe and logs out", async () => {
    await using pump = new Pump();
    const config = clientConfig(endpoint);
    const a = new Connection({ pump, config, clientId: crypto.randomUUID() });
    const b = new Connection({ pump, config, clientId: crypto.randomUUID() });
    a.start();
    b.start();
    try {
      await a.ready(10_000);
      await b.ready(10_000);
      const alice = new ClientSession(a);
      const bob = new ClientSession(b);
      const la = await alice.login();
      const lb = await bob.login();
      assert.ok(la.ok && lb.ok);
      assert.notEqual(alice.userId, bob.userId);
      assert.equal(la.value.user?.vx ?? 0, 0, "a new user has no velocity");

      const moved = await alice.setVelocity(3, 4);
      assert.ok(moved.ok);
      assert.equal(moved.value.user?.vx, 3);

      const tooFast = await alice.setVelocity(1e6, 0);
      assert.ok(!tooFast.ok && tooFast.error.code === "INVALID_ARGUMENT");

      const everyone = await bob.queryRect(0, 0, 10_000, 10_000);
      assert.ok(everyone.ok);
      const ids = everyone.value.users?.map((u) => u.id) ?? [];
      assert.ok(ids.includes(alice.userId) && ids.includes(bob.userId));

      // Put the aoe where bob is: find bob, query a circle around him.
      const me = everyone.value.users!.find((u) => u.id === bob.userId)!;
      const around = await bob.queryCircle(me.x!, me.y!, 0);
      assert.ok(around.ok && around.value.users!.some((u) => u.id === bob.userId));

      // Whom it reaches is checked in a crowded world by the aoe test below.
      const aoe = await bob.aoe(50, 7);
      assert.ok(aoe.ok);
      assert.ok(!(aoe.value.userIds ?? []).includes(bob.userId), "the caster is not affected");

      const anonymous = new ClientSession(a);
      const denied = await anonymous.aoe(10, 1);
      assert.ok(!denied.ok && denied.error.code === "NOT_LOGGED_IN");
      const readOnly = await anonymous.queryCircle(0, 0, 100);
      assert.ok(readOnly.ok, "queries need no login");

      const out = await alice.logout();
      assert.ok(out.ok);
      // Alice's logout, read by bob: with reader workers, from the next tick on.
      const gone = (r: Awaited<ReturnType<typeof bob.queryRect>>) =>
        r.ok && !r.value.users!.some((u) => u.id === la.value.userId);
      const after = await readOthersWrite(() => bob.queryRect(0, 0, 10_000, 10_000), gone);
      assert.ok(gone(after));

      const status = await bob.status();
      assert.ok(status.ok);
      assert.equal(status.value.role, "ROLE_SINGLE");
      // Every tick since the start is counted by how late it started.
      const ticked = (status.value.load?.tickLateCounts ?? []).reduce((a, b) => a + b, 0);
      assert.ok(ticked > 0 && ticked <= (status.value.tick ?? 0) + 1, `${ticked} ticks counted`);
      assert.ok(
        (status.value.load?.connections ?? 0) >= 3,
        "not-logged-in clients count as connections",
      );
    } finally {
      a.close();
      b.close();
    }
  });

  await t.step("a client that moves to a new connection gets its user back", async () => {
    await using pump = new Pump();
    const connection = new Connection({
      pump,
      config: clientConfig(endpoint),
      clientId: crypto.randomUUID(),
    });
    connection.start();
    try {
      await connection.ready(10_000);
      const session = new ClientSession(connection);
      assert.ok((await session.login()).ok);
      const userId = session.userId;
      connection.reconnectNow("test");
      await connection.ready(10_000).catch(() => {});
      // The new connection is a new ZeroMQ peer: the node detached the session until it resumes.
      const { promise, resolve } = Promise.withResolvers<void>();
      const poll = () => {
        if (connection.connected) resolve();
        else setTimeout(poll, 20);
      };
      poll();
      await promise;
      // The node detached the session from the old connection; the session resumes it on its own
      // (NOT_LOGGED_IN → resume with the token → retry) and acts as the same user.
      const moved = await session.setVelocity(1, 0);
      assert.ok(moved.ok, JSON.stringify(moved));
      assert.equal(moved.value.user?.id, userId);
      assert.equal(session.userId, userId);
      const again = await session.resume();
      assert.ok(again && !again.ok && again.error.code === "ALREADY_LOGGED_IN");
    } finally {
      connection.close();
    }
  });

  await t.step("JSON frames from a plain ZeroMQ socket get JSON replies", async () => {
    await using pump = new Pump();
    const { promise, resolve } = Promise.withResolvers<string>();
    const socket = DealerSocket.connect(
      pump,
      endpoint,
      (frames) => resolve(new TextDecoder().decode(frames[0])),
    );
    try {
      const clientId = crypto.randomUUID();
      socket.send(new TextEncoder().encode(JSON.stringify({
        client_id: clientId,
        request_id: 9,
        query_circle: { x: 100, y: 100, radius: 50 },
      })));
      const reply = JSON.parse(await promise);
      assert.equal(reply.clientId, clientId);
      assert.equal(reply.requestId, 9);
      assert.ok("queryReply" in reply);
    } finally {
      socket.close();
    }
  });

  await t.step("SIGTERM stops the node in order with exit code 0", async () => {
    node.kill("SIGTERM");
    const status = await node.status;
    assert.equal(status.code, 0);
    assert.ok(node.lines.some((l) => /Node .* stopped/.test(l)));
  });
});

Deno.test("an aoe adds its amount to every other user within its radius, and to no one else", async () => {
  // A 30 m square: every user spawns within 42.5 m of every other, inside an aoe's 50 m reach.
  const port = freePort();
  await using node = new Proc("node", "main.ts", [
    `--port=${port}`,
    "--http-port=0",
    "--data-dir=",
    "--set",
    "world.width=30",
    "--set",
    "world.height=30",
  ]);
  await node.waitFor(/listening for clients/);
  await using pump = new Pump();
  const config = clientConfig(`tcp://127.0.0.1:${port}`);
  const connections = [0, 1, 2].map(() =>
    new Connection({ pump, config, clientId: crypto.randomUUID() })
  );
  try {
    const [bob, alice, carol] = await Promise.all(connections.map(async (c) => {
      c.start();
      await c.ready(10_000);
      const session = new ClientSession(c);
      assert.ok((await session.login()).ok);
      return session;
    }));
    const users = async () => {
      const all = await bob.queryRect(0, 0, 30, 30);
      assert.ok(all.ok);
      return new Map((all.value.users ?? []).map((u) => [u.id, u]));
    };
    const start = await users();
    const money = (id: number) => start.get(id)?.money ?? 0;
    assert.equal(start.size, 3);

    const hit = await bob.aoe(50, 7);
    assert.ok(hit.ok, JSON.stringify(hit));
    assert.deepEqual(
      [...(hit.value.userIds ?? [])].sort(),
      [alice.userId, carol.userId].sort(),
      "both others are in range, the caster is not",
    );
    const afterHit = await users();
    assert.equal(afterHit.get(bob.userId)?.money, money(bob.userId), "the caster is unchanged");
    assert.equal(afterHit.get(alice.userId)?.money, money(alice.userId) + 7);
    assert.equal(afterHit.get(carol.userId)?.money, money(carol.userId) + 7);

    // A radius between the two others' distances reaches the nearer one only.
    const at = (id: number) => start.get(id)!;
    const distance = (id: number) =>
      Math.hypot(at(id).x! - at(bob.userId).x!, at(id).y! - at(bob.userId).y!);
    const [near, far] = [alice.userId, carol.userId].sort((a, b) => distance(a) - distance(b));
    if (distance(far) - distance(near) > 0.01) {
      const partial = await bob.aoe((distance(near) + distance(far)) / 2, -3);
      assert.ok(partial.ok);
      assert.deepEqual(partial.value.userIds, [near]);
      const afterPartial = await users();
      assert.equal(afterPartial.get(near)?.money, money(near) + 7 - 3);
      assert.equal(
        afterPartial.get(far)?.money,
        money(far) + 7,
        "the farther user is out of range",
      );
      assert.equal(afterPartial.get(bob.userId)?.money, money(bob.userId));
    }
  } finally {
    for (const c of connections) c.close();
  }
});

Deno.test("bad config files and flags exit with code 2 and name the field", async () => {
  await using dir = new TempDir();
  const path = dir.writeJson("bad.json", { world: { tick_time: -1 } });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", `--config=${path}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  const err = new TextDecoder().decode(out.stderr);
  assert.match(err, /bad\.json: field "world\.tick_time" must be between/);

  const unknown = dir.writeJson("unknown.json", { colour: "red" });
  const out2 = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", `--config=${unknown}`],
    stderr: "piped",
  }).output();
  assert.equal(out2.code, 2);
  assert.match(new TextDecoder().decode(out2.stderr), /unknown field "colour"/);

  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--help"],
    stdout: "piped",
  }).output();
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /world\.tick_time/);
});

Deno.test("a silent client is dropped after the idle timeout and logged", async () => {
  const port = freePort();
  await using node = new Proc("node", "main.ts", [
    `--port=${port}`,
    "--http-port=0",
    "--data-dir=",
    "--set",
    "clients.idle_timeout_ms=300",
  ]);
  await node.waitFor(/listening for clients/);
  await using pump = new Pump();
  const socket = DealerSocket.connect(pump, `tcp://127.0.0.1:${port}`, () => {});
  try {
    const clientId = crypto.randomUUID();
    socket.send(
      new TextEncoder().encode(JSON.stringify({ client_id: clientId, request_id: 1, login: {} })),
    );
    // With a user it is logged at info (an id without one goes quietly, at debug).
    await node.waitFor(
      new RegExp(`Client ${clientId} silent for 300 ms: dropped \\(user \\d+ kept`),
      10_000,
    );
  } finally {
    socket.close();
  }
});
