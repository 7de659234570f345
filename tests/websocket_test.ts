import assert from "node:assert/strict";
import { Pump } from "../lib/transport/mod.ts";
import type { ClientSession } from "../lib/client/mod.ts";
import type { Envelope } from "../lib/protocol/mod.ts";
import { TestCluster } from "./_cluster.ts";
import { openTestClient, type TestClient, testClientConfig } from "./_clients.ts";
import { eventually, freePorts, Proc, readOthersWrite } from "./_harness.ts";

/** A single node process with HTTP on, in a 20 × 20 world (everyone within aoe range). */
async function startNode(): Promise<{ proc: Proc; endpoint: string; url: string; http: number }> {
  const [port, http] = freePorts(2);
  const proc = new Proc("node", "main.ts", [
    `--port=${port}`,
    `--http-port=${http}`,
    "--data-dir=",
    "--log-level=debug",
    "--set",
    "world.width=20",
    "--set",
    "world.height=20",
  ]);
  await proc.waitFor(/serves HTTP on/);
  await proc.waitFor(/listening for clients/);
  return { proc, endpoint: `tcp://127.0.0.1:${port}`, url: `ws://127.0.0.1:${http}/ws`, http };
}

function wsClient(pump: Pump, url: string, format: "binary" | "json" = "binary") {
  return openTestClient(pump, { ...testClientConfig({}), ws: url, format });
}

function value<T>(out: { ok: true; value: T } | { ok: false; error: Error }): T {
  if (!out.ok) throw new Error(`unexpected error: ${out.error.message}`);
  return out.value;
}

async function money(session: ClientSession, userId: number): Promise<number> {
  const all = value(await session.queryRect(0, 0, 20, 20));
  return all.users?.find((u) => u.id === userId)?.money ?? NaN;
}

async function runClient(args: string[]): Promise<{ code: number; lines: string[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "client.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return { code: out.code, lines };
}

Deno.test("ZeroMQ and WebSocket clients share one world, and a session moves between them", async (t) => {
  const node = await startNode();
  await using _node = node.proc;
  await using pump = new Pump();
  const clients: TestClient[] = [];
  try {
    const zmq = await openTestClient(pump, testClientConfig({ node: node.endpoint }));
    const ws = await wsClient(pump, node.url);
    const text = await wsClient(pump, node.url, "json");
    clients.push(zmq, ws, text);
    const ids: number[] = [];
    for (const c of clients) ids.push(value(await c.session.login()).userId!);
    const [zmqUser, wsUser, textUser] = ids;

    await t.step("each sees the others", async () => {
      // The others' logins, read: with reader workers, from the next tick on.
      const everyone = JSON.stringify([...ids].sort());
      for (const c of clients) {
        const seen = await readOthersWrite(
          async () => value(await c.session.queryRect(0, 0, 20, 20)).users?.map((u) => u.id).sort(),
          (got) => JSON.stringify(got) === everyone,
        );
        assert.deepEqual(seen, [...ids].sort());
      }
    });

    await t.step("they hit each other with aoe across transports", async () => {
      const fromWs = value(await ws.session.aoe(50, 10));
      assert.deepEqual(fromWs.userIds?.sort(), [zmqUser, textUser].sort());
      const fromZmq = value(await zmq.session.aoe(50, 3));
      assert.deepEqual(fromZmq.userIds?.sort(), [wsUser, textUser].sort());
      // Other clients' aoe, read: with reader workers, from the next tick on.
      const read = (session: ClientSession, userId: number, expected: number) =>
        readOthersWrite(() => money(session, userId), (m) => m === expected);
      assert.equal(await read(text.session, zmqUser, 1010), 1010);
      assert.equal(await read(text.session, wsUser, 1003), 1003);
      assert.equal(await read(zmq.session, textUser, 1013), 1013);
    });

    await t.step("a ZeroMQ user resumes over WebSocket with its token, and back", async () => {
      const clientId = crypto.randomUUID();
      const overZmq = await zmq.connection.request(clientId, { login: {} });
      const login = overZmq.loginReply!;
      const resume: Envelope = {
        login: { userId: login.userId, sessionToken: login.sessionToken },
      };
      const overWs = await ws.connection.request(clientId, { ...resume });
      assert.equal(overWs.loginReply?.resumed, true, JSON.stringify(overWs));
      const moved = await ws.connection.request(clientId, { setVelocity: { vx: 1, vy: 0 } });
      assert.equal(moved.setVelocityReply?.user?.id, login.userId);
      // The ZeroMQ connection no longer holds the session.
      const stale = await zmq.connection.request(clientId, { setVelocity: { vx: 2, vy: 0 } });
      assert.equal(stale.error?.code, "NOT_LOGGED_IN");
      const back = await zmq.connection.request(clientId, { ...resume });
      assert.equal(back.loginReply?.resumed, true, JSON.stringify(back));
      const out = await zmq.connection.request(clientId, { logout: {} });
      assert.equal(out.logoutReply?.userId, login.userId);
    });

    await t.step("/status counts connections by transport", async () => {
      const status = await (await fetch(`http://127.0.0.1:${node.http}/status`)).json();
      assert.equal(status.transports.ws.open, 2, JSON.stringify(status.transports));
      assert.ok(status.transports.zmq.open >= 1, JSON.stringify(status.transports));
      assert.equal(status.counters.wsAccepted, 2);
    });
  } finally {
    for (const c of clients) c.connection.close();
  }
});

Deno.test("the console, one-shot commands and the load generator work over --ws", async (t) => {
  const node = await startNode();
  await using _node = node.proc;

  await t.step("one-shot commands print JSON, in either format", async () => {
    const aoe = await runClient([`--ws=${node.url}`, "aoe", "50", "5"]);
    assert.equal(aoe.code, 0, aoe.lines.join("\n"));
    assert.equal(JSON.parse(aoe.lines.at(-1)!).ok, true);
    const query = await runClient([
      `--ws=${node.url}`,
      "--format=json",
      "query",
      "0",
      "0",
      "20",
      "20",
    ]);
    assert.equal(query.code, 0, query.lines.join("\n"));
    assert.equal(JSON.parse(query.lines.at(-1)!).result.total, 1);
    const bad = await runClient([`--ws=${node.url}`, "query", "--circle", "0", "0", "1e9"]);
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.lines.at(-1)!).error.code, "INVALID_ARGUMENT");
  });

  await t.step("bad WebSocket flags exit 2 with the reason", async () => {
    const noUrl = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "client.ts", "--transport=ws", "status"],
      stderr: "piped",
      stdout: "null",
    }).output();
    assert.equal(noUrl.code, 2);
    assert.match(new TextDecoder().decode(noUrl.stderr), /--transport=ws needs --ws/);
    const badUrl = await runClient(["--ws=http://127.0.0.1:1/ws", "status"]);
    assert.equal(badUrl.code, 2);
  });

  await t.step("the console logs in, moves and reads status", async () => {
    await using console = new Proc("console", "client.ts", [`--ws=${node.url}`], { stdin: true });
    await console.waitFor(/Connected to node/);
    await console.send("login");
    await console.waitFor(/logged in as user \d+/);
    await console.send("velocity 1 0 2");
    await console.waitFor(/velocity set: \(2, 0\)/);
    await console.send("status");
    await console.waitFor(/connections \d+, sessions 1/);
    await console.send("quit");
    assert.equal((await console.status).code, 0);
  });

  await t.step("load --ws runs one WebSocket per simulated client", async () => {
    await using load = new Proc("load", "client.ts", [
      "load",
      `--ws=${node.url}`,
      "--clients=20",
      "--duration=2",
      "--progress=false",
      "--log-level=warning",
    ]);
    assert.equal((await load.status).code, 0, load.lines.slice(-10).join("\n"));
    const report = JSON.parse(load.stdout.at(-1)!).load;
    assert.equal(report.connections, 20);
    assert.equal(report.logged_in, 20);
    assert.deepEqual(report.errors, {});
    assert.ok(report.ops.query_circle.count > 0 && report.ops.aoe.count > 0);
  });
});

Deno.test("a WebSocket client's writes go through a slave and survive a master kill", async (t) => {
  await using cluster = new TestCluster({ http: true, world: { width: 20, height: 20 } });
  await cluster.startRegistry();
  await cluster.startNode("master", "master");
  await cluster.startNode("slave1", "slave");
  await cluster.startNode("slave2", "slave");
  await cluster.proc("master").waitFor(/Now MASTER at epoch 1/);
  await using pump = new Pump();
  const onSlave1 = await wsClient(pump, cluster.wsUrl("slave1"));
  const onSlave2 = await wsClient(pump, cluster.wsUrl("slave2"), "json");
  try {
    let hitUser = 0;
    await t.step(
      "logins and an aoe through the slaves are acknowledged by the master",
      async () => {
        const a = await onSlave1.session.login();
        assert.ok(a.ok && a.writeAck?.masterId === "master", JSON.stringify(a));
        const b = await onSlave2.session.login();
        assert.ok(b.ok && b.writeAck?.masterId === "master", JSON.stringify(b));
        hitUser = b.value.userId!;
        const aoe = await onSlave1.session.aoe(50, 25);
        assert.ok(aoe.ok, JSON.stringify(aoe));
        assert.deepEqual(aoe.value.userIds, [hitUser]);
        assert.equal(aoe.writeAck?.masterId, "master");
      },
    );

    let survivor = "";
    await t.step(
      "kill -9 of the master: a slave takes over with the acknowledged writes",
      async () => {
        const marks = ["slave1", "slave2"].map((n) => cluster.proc(n).mark());
        cluster.proc("master").kill("SIGKILL");
        const promoted = await Promise.any(
          ["slave1", "slave2"].map((n, i) =>
            cluster.proc(n).waitFor(/Now MASTER at epoch/, 20_000, marks[i]).then(() => n)
          ),
        );
        survivor = promoted === "slave1" ? "slave2" : "slave1";
        const reader = survivor === "slave1" ? onSlave1 : onSlave2;
        const hit = await eventually("the new master's world on the slave", async () => {
          const m = await money(reader.session, hitUser);
          return m === 1025 ? m : undefined;
        });
        assert.equal(hit, 1025);
      },
    );

    await t.step(
      "the WebSocket client on the remaining slave writes through the new master",
      async () => {
        const writer = survivor === "slave1" ? onSlave1 : onSlave2;
        const ack = await eventually("a write acknowledged by the new master", async () => {
          const out = await writer.session.setVelocity(1, 0);
          return out.ok && out.writeAck && out.writeAck.masterId !== "master"
            ? out.writeAck
            : undefined;
        });
        assert.ok(Number(ack.epoch) >= 2, JSON.stringify(ack));
        assert.equal(value(await writer.session.status()).role, "ROLE_SLAVE");
      },
    );

    await t.step("--transport=ws finds a node's WebSocket port through the registry", async () => {
      const found = await openTestClient(pump, {
        ...testClientConfig({ registry: [cluster.discovery] }),
        transport: "ws",
      });
      try {
        assert.match(found.connection.endpoint, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
        const all = value(await found.session.queryRect(0, 0, 20, 20));
        assert.equal(all.total, 2);
      } finally {
        found.connection.close();
      }
    });
  } finally {
    onSlave1.connection.close();
    onSlave2.connection.close();
  }
});
