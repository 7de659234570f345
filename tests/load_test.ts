import assert from "node:assert/strict";
import { Pump } from "../lib/transport/mod.ts";
import { Connection } from "../lib/client/mod.ts";
import type { LoadReport } from "../lib/client/load_stats.ts";
import { testClientConfig } from "./_clients.ts";
import { eventually, freePort, Proc } from "./_harness.ts";

/** A node on `port` with no persistence, once it listens for clients. */
async function startNode(port: number): Promise<Proc> {
  const node = new Proc("node", "main.ts", [
    `--port=${port}`,
    "--http-port=0",
    "--log-level=info",
    "--data-dir=",
  ]);
  try {
    await node.waitFor(/listening for clients/);
  } catch (error) {
    await node.stop();
    throw error;
  }
  return node;
}

/** The report of a load run that exits 0 within 20 s: the JSON of its last stdout line. */
async function reportOf(load: Proc): Promise<LoadReport> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    load.status,
    new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 20_000))),
  ]).finally(() => clearTimeout(timer));
  assert.ok(
    status,
    `load did not finish in time; last lines:\n${load.lines.slice(-10).join("\n")}`,
  );
  assert.equal(status.code, 0, load.lines.slice(-10).join("\n"));
  const json = load.lines.findLast((l) => l.startsWith('{"load"'));
  assert.ok(json, "no JSON line");
  return (JSON.parse(json) as { load: LoadReport }).load;
}

Deno.test("client load drives 50 simulated clients against a real node and reports", async (t) => {
  const port = freePort();
  const endpoint = `tcp://127.0.0.1:${port}`;
  await using _node = await startNode(port);

  await using load = new Proc("load", "client.ts", [
    "load",
    `--node=${endpoint}`,
    "--clients=50",
    "--connections=3",
    "--duration=3",
    "--velocity-every=2",
    "--log-level=info",
  ]);

  await t.step("the node serves 50 sessions while the load runs", async () => {
    await using pump = new Pump();
    const config = testClientConfig({ node: endpoint });
    const probeId = crypto.randomUUID();
    const probe = new Connection({ pump, config, clientId: probeId });
    probe.start();
    try {
      await probe.ready(15_000);
      const sessions = await eventually(
        "50 sessions on the node",
        async () => {
          const reply = await probe.request(probeId, { status: {} }, 2000);
          const n = reply.statusReply?.load?.sessions ?? 0;
          return n >= 50 ? n : undefined;
        },
        15_000,
        100,
      );
      assert.ok(sessions >= 50);
    } finally {
      probe.close();
    }
  });

  await t.step("it exits 0 with a report whose last stdout line is the JSON", async () => {
    const report = await reportOf(load);
    assert.equal(report.clients, 50);
    assert.equal(report.logged_in, 50);
    assert.equal(report.connections, 3);
    for (const op of ["login", "set_velocity", "query_circle", "aoe", "logout"]) {
      assert.ok((report.ops[op]?.count ?? 0) > 0, `${op} count: ${JSON.stringify(report.ops[op])}`);
      assert.equal(report.ops[op].errors, 0, op);
    }
    assert.deepEqual(report.errors, {});
    assert.equal(report.total.errors, 0);
    assert.ok(report.total.p99_ms > 0 && report.total.p99_ms <= report.total.max_ms);
    assert.ok(report.measured_s >= 2.5, `measured ${report.measured_s} s`);
    // Read from the node at the end (before the clients logged out).
    assert.ok(report.node, "no node figures");
    assert.ok(report.node.sessions >= 50, `node sessions ${report.node.sessions}`);
    assert.ok(report.node.sessions_max >= 50);
    assert.ok(report.node.connections >= 50);
    assert.ok(report.node.tick_rate_hz > 0);

    // A progress line went to stderr at least once; the table precedes the JSON.
    assert.ok(load.lines.some((l) => /^load \d+s .*ops\/s/.test(l)), "no progress line");
    assert.ok(load.lines.some((l) => /^total\s+\d+/.test(l)), "no report table");
  });

  await t.step("the clients logged out at the end", async () => {
    await using pump = new Pump();
    const probe = new Connection({
      pump,
      config: testClientConfig({ node: endpoint }),
      clientId: crypto.randomUUID(),
    });
    probe.start();
    try {
      await probe.ready(15_000);
      const reply = await probe.request(crypto.randomUUID(), { status: {} }, 2000);
      assert.equal(reply.statusReply?.load?.users, 0);
    } finally {
      probe.close();
    }
  });
});

Deno.test("client load with a connection per client: the node knows one client id per connection", async () => {
  const port = freePort();
  await using _node = await startNode(port);
  await using load = new Proc("load", "client.ts", [
    "load",
    `--node=tcp://127.0.0.1:${port}`,
    "--clients=30",
    "--connections=30",
    "--duration=2",
    "--warmup=0",
    "--logout=false",
    "--log-level=info",
  ]);
  const report = await reportOf(load);
  assert.equal(report.logged_in, 30);
  // Each simulated client heartbeats as itself, as a game client does: 30 ids, plus the few the
  // generator's status polls use — not 60 (a second id per connection for its heartbeats).
  const ids = report.node?.connections ?? 0;
  assert.ok(ids >= 30 && ids <= 34, `the node knew ${ids} client ids for 30 connections`);
});

Deno.test("client load exits 1 when no node answers and 2 for bad flags", async () => {
  const port = freePort();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "client.ts",
      "load",
      `--node=tcp://127.0.0.1:${port}`,
      "--clients=5",
      "--duration=1",
      "--set",
      "server_timeout_ms=300",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1, new TextDecoder().decode(out.stderr));
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "client.ts", "load", "--clients=nope"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /load\.clients/);
});
