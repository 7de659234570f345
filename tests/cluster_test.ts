import assert from "node:assert/strict";
import { Pump } from "../lib/transport/mod.ts";
import { TestCluster } from "./_cluster.ts";
import { openTestClient, testClientConfig } from "./_clients.ts";
import { eventually, freePort, Proc } from "./_harness.ts";
import type { ClientSession } from "../lib/client/mod.ts";

async function statusOf(pump: Pump, endpoint: string) {
  const client = await openTestClient(pump, testClientConfig({ node: endpoint }));
  try {
    const out = await client.session.status(true);
    assert.ok(out.ok, `status of ${endpoint}: ${!out.ok && out.error.message}`);
    return out.value;
  } finally {
    client.connection.close();
  }
}

/** Waits until every endpoint reports the same state checksum (after writes and movement stop). */
async function converged(pump: Pump, endpoints: string[]): Promise<number> {
  return await eventually(
    "identical worlds on every node",
    async () => {
      const sums = await Promise.all(
        endpoints.map(async (e) => (await statusOf(pump, e)).checksum),
      );
      return sums.every((s) => s === sums[0]) ? sums[0]! : undefined;
    },
    20_000,
    200,
  );
}

async function stopMoving(sessions: ClientSession[]): Promise<void> {
  for (const s of sessions) {
    const out = await s.setVelocity(0, 0);
    assert.ok(out.ok, `stop: ${!out.ok && out.error.message}`);
  }
}

Deno.test("registration: a master elected by a majority, and every rejection with its reason", async (t) => {
  await using cluster = new TestCluster({
    members: ["m1", "s1", "s2"],
    cluster: { register_timeout_ms: 2000 },
  });
  const registry = await cluster.startRegistry();
  await using pump = new Pump();

  await t.step("the configured master alone is not master: a majority must promise", async () => {
    const master = await cluster.startNode("m1", "master");
    assert.ok(master.lines.some((l) => /Registered with registry .* as slave/.test(l)));
    await registry.waitFor(/Registered m1 .* as slave: .*a master is elected once 2 of the 3/);
    await registry.waitFor(/No master, and no election possible: 1 of 3 members live, 2 needed/);
  });

  await t.step("a second member makes a majority: the configured master wins epoch 1", async () => {
    const m1 = cluster.proc("m1");
    const mark = m1.mark();
    await cluster.startNode("s1", "slave");
    await m1.waitFor(/Now MASTER at epoch 1/, 10_000, mark);
    assert.ok(registry.lines.some((l) => /m1 is master at epoch 1: elected by promises/.test(l)));
  });

  await t.step("a second master and a duplicate run are refused (exit 3)", async () => {
    const second = cluster.spawnNode("s2", "master");
    assert.equal((await second.status).code, 3);
    assert.ok(second.lines.some((l) => /second master is not allowed/.test(l)));
    const duplicate = new Proc("m1-again", "main.ts", [
      `--config=${cluster.dir.path}/m1.json`,
      "--set",
      "client_port=0",
      "--set",
      "cluster_port=0",
      "--set",
      "publish_port=0",
      "--set",
      "http_port=0",
      "--set",
      `state_file=${cluster.dir.path}/m1-again.state.json`,
      "--set",
      `data_dir=${cluster.dir.path}/m1-again.data`,
    ]);
    assert.equal((await duplicate.status).code, 3);
    assert.ok(
      duplicate.lines.some((l) => /already registered/.test(l)),
      duplicate.lines.join("\n"),
    );
  });

  await t.step(
    "a node with other members is refused (exit 3); one with none cannot start (exit 2)",
    async () => {
      const other = cluster.spawnNode("s2", "slave", {
        cluster: { members: ["m1", "s1", "s2", "s3"], register_timeout_ms: 2000 },
      });
      assert.equal((await other.status).code, 3);
      assert.ok(
        other.lines.some((l) => /differ from the cluster's \[m1, s1, s2\]/.test(l)),
        other.lines.join("\n"),
      );
      const none = cluster.spawnNode("s2", "slave", { cluster: { register_timeout_ms: 2000 } });
      assert.equal((await none.status).code, 2);
      assert.ok(none.lines.some((l) => /cluster\.members/.test(l)), none.lines.join("\n"));
    },
  );

  await t.step("a node without the cluster keys cannot register", async () => {
    const withMembers = (id: string) => ({
      members: [...cluster.members, id],
      register_timeout_ms: 2000,
    });
    const keyless = cluster.spawnNode("keyless", "slave", {
      curve: { public_key: "", secret_key: "" },
      cluster: withMembers("keyless"),
    });
    assert.equal((await keyless.status).code, 3);
    const wrong = cluster.spawnNode("wrongkeys", "slave", {
      curve: {
        public_key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        secret_key: "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
      },
      cluster: withMembers("wrongkeys"),
    });
    assert.equal((await wrong.status).code, 3);
    assert.ok(wrong.lines.some((l) => /Could not register/.test(l)), wrong.lines.join("\n"));
  });

  await t.step("the last slave takes a snapshot; a client discovers a node", async () => {
    await cluster.startNode("s2", "slave");
    const client = await openTestClient(pump, testClientConfig({ registry: [cluster.discovery] }));
    try {
      const out = await client.session.ping();
      assert.ok(out.ok);
      assert.ok(["m1", "s1", "s2"].includes(out.value.nodeId!));
    } finally {
      client.connection.close();
    }
  });
});

Deno.test("replication: writes on any node reach every node, late and lagging slaves converge", async (t) => {
  await using cluster = new TestCluster({ members: ["m", "s1", "s2"] });
  await cluster.startRegistry();
  await cluster.startNode("m", "master");
  await cluster.startNode("s1", "slave");
  await using pump = new Pump();
  const endpoints = [cluster.clientEndpoint("m"), cluster.clientEndpoint("s1")];
  const clients = await Promise.all(
    [0, 1, 2, 3].map((i) => openTestClient(pump, testClientConfig({ node: endpoints[i % 2] }))),
  );
  const sessions = clients.map((c) => c.session);
  try {
    await t.step("logins and writes through the master and a slave", async () => {
      for (const s of sessions) assert.ok((await s.login()).ok);
      for (const [i, s] of sessions.entries()) {
        assert.ok((await s.setVelocity(i + 1, -i)).ok);
        const aoe = await s.aoe(50, 5);
        assert.ok(aoe.ok, !aoe.ok ? aoe.error.message : "");
      }
      // A user logged in through the slave is known on the master by the same id.
      const onMaster = await sessions[0].queryRect(0, 0, 2000, 2000);
      assert.ok(onMaster.ok);
      assert.ok(onMaster.value.users!.some((u) => u.id === sessions[1].userId));
    });

    await t.step("a slave that joins late converges to the master", async () => {
      await cluster.startNode("s2", "slave");
      endpoints.push(cluster.clientEndpoint("s2"));
      await stopMoving(sessions);
      await converged(pump, endpoints);
    });

    await t.step("a slave that misses updates recovers through a snapshot", async () => {
      const s2 = cluster.proc("s2");
      const mark = s2.mark();
      // Cut the slave's subscription (a network fault: its TCP connection is reset) while it is
      // frozen, so the updates published meanwhile are lost to it: a real gap in the sequence.
      s2.kill("SIGSTOP");
      const publishPort = cluster.nodePorts.get("m")!.publish;
      const cut = await new Deno.Command("ss", {
        args: ["-K", "dst", "127.0.0.1", "dport", "=", `:${publishPort}`],
        stdout: "null",
      }).output();
      assert.equal(cut.code, 0, "ss -K (iproute2) resets the slave's connection");
      for (const [i, s] of sessions.entries()) assert.ok((await s.setVelocity(0, i + 1)).ok);
      s2.kill("SIGCONT");
      await s2.waitFor(/Asking master m for a snapshot: (gap|silence)/, 20_000, mark);
      await s2.waitFor(/Snapshot applied/, 20_000, mark);
      await stopMoving(sessions);
      await converged(pump, endpoints);
    });
  } finally {
    for (const c of clients) c.connection.close();
  }
});

Deno.test("liveness: a dead slave is removed; a dead master is replaced once a majority is live", async (t) => {
  await using cluster = new TestCluster({ members: ["m", "s1", "s2"] });
  const registry = await cluster.startRegistry();
  const master = await cluster.startNode("m", "master");
  await cluster.startNode("s1", "slave");
  await cluster.startNode("s2", "slave");
  await using pump = new Pump();
  const writer = await openTestClient(pump, testClientConfig({ registry: [cluster.discovery] }));
  try {
    assert.ok((await writer.session.login()).ok);
    assert.ok((await writer.session.aoe(50, 1)).ok);

    await t.step("kill -9 of a slave: removed, and the master logs it", async () => {
      const mark = master.mark();
      const registryMark = registry.mark();
      cluster.proc("s2").kill("SIGKILL");
      await registry.waitFor(/Slave s2 removed/, 10_000, registryMark);
      await master.waitFor(/Slave s2 removed from the cluster/, 10_000, mark);
    });

    await t.step("kill -9 of the master with one member of three left: no election", async () => {
      const mark = registry.mark();
      master.kill("SIGKILL");
      await registry.waitFor(
        /No master, and no election possible: 1 of 3 members live, 2 needed/,
        10_000,
        mark,
      );
      const out = await writer.session.setVelocity(3, 3);
      assert.ok(!out.ok, "no write is acknowledged without a majority");
    });

    await t.step(
      "a second member returns (empty): the one holding the data is elected",
      async () => {
        const s1 = cluster.proc("s1");
        const mark = s1.mark();
        const startedAt = performance.now();
        cluster.spawnNode("s2", "slave");
        const line = await s1.waitFor(/Now MASTER at epoch (\d+)/, 15_000, mark);
        assert.ok(Number(/epoch (\d+)/.exec(line)![1]) >= 2);
        assert.ok(performance.now() - startedAt < 10_000);
        // The client's user survived the failover and the new master takes its writes.
        await eventually(
          "a write through the new cluster",
          async () => {
            const out = await writer.session.setVelocity(1, 1);
            return out.ok ? true : undefined;
          },
          15_000,
          100,
        );
        const all = await writer.session.queryRect(0, 0, 2000, 2000);
        assert.ok(all.ok && all.value.users!.some((u) => u.id === writer.session.userId));
      },
    );
  } finally {
    writer.connection.close();
  }
});

Deno.test("registry outage: nodes keep serving, re-register, and no failover happens", async () => {
  await using cluster = new TestCluster({ members: ["m", "s1"] });
  const registry = await cluster.startRegistry();
  const master = await cluster.startNode("m", "master");
  const slave = await cluster.startNode("s1", "slave");
  await using pump = new Pump();
  const client = await openTestClient(
    pump,
    testClientConfig({ node: cluster.clientEndpoint("s1") }),
  );
  try {
    assert.ok((await client.session.login()).ok);
    registry.kill("SIGKILL");
    await registry.status;
    await master.waitFor(/Registry .* silent/, 10_000);
    // Nodes keep serving (reads and writes) while the registry is down.
    assert.ok((await client.session.setVelocity(2, 0)).ok);
    assert.ok((await client.session.queryCircle(0, 0, 100)).ok);
    const mMark = master.mark();
    const sMark = slave.mark();
    const restarted = await cluster.startRegistry("registry-2");
    await master.waitFor(/Re-registered with registry .* as master/, 10_000, mMark);
    await slave.waitFor(/Re-registered with registry .* as slave/, 10_000, sMark);
    // Past the recovery grace: still the same master, nobody promoted.
    await new Promise((r) => setTimeout(r, 3500));
    assert.ok(!restarted.lines.some((l) => /Promoting/.test(l)), restarted.lines.join("\n"));
    assert.ok(!master.exited && !slave.exited);
    const status = await statusOf(pump, cluster.clientEndpoint("m"));
    assert.equal(status.role, "ROLE_MASTER");
  } finally {
    client.connection.close();
  }
});

Deno.test("election: of two up-to-date slaves the less loaded one becomes master", async () => {
  const registryHttp = freePort();
  await using cluster = new TestCluster({
    members: ["m", "a-busy", "b-idle"],
    registry: { http_port: registryHttp },
  });
  const registry = await cluster.startRegistry();
  const master = await cluster.startNode("m", "master");
  const busy = await cluster.startNode("a-busy", "slave");
  const idle = await cluster.startNode("b-idle", "slave");
  await using pump = new Pump();
  // "a-busy" sorts first by node id, so only its load can make "b-idle" win.
  const clients = await Promise.all(
    Array.from(
      { length: 30 },
      () => openTestClient(pump, testClientConfig({ node: cluster.clientEndpoint("a-busy") })),
    ),
  );
  try {
    for (const c of clients.slice(0, 10)) assert.ok((await c.session.login()).ok);
    // Wait until the registry itself (the one that elects) has the busy slave's connections.
    await eventually("the registry sees the load", async () => {
      const res = await fetch(`http://127.0.0.1:${registryHttp}/status`);
      const status = await res.json() as {
        nodes: { nodeId: string; load: { connections: number } }[];
      };
      const node = status.nodes.find((n) => n.nodeId === "a-busy");
      return (node?.load.connections ?? 0) >= 30 ? true : undefined;
    });
    const mark = [busy.mark(), idle.mark()];
    master.kill("SIGKILL");
    const winner = await Promise.any([
      busy.waitFor(/Now MASTER/, 10_000, mark[0]).then(() => "a-busy"),
      idle.waitFor(/Now MASTER/, 10_000, mark[1]).then(() => "b-idle"),
    ]);
    assert.equal(
      winner,
      "b-idle",
      registry.lines.filter((l) => /master at epoch/.test(l)).join("\n"),
    );
    await busy.waitFor(/Following master b-idle/, 10_000, mark[0]);
  } finally {
    for (const c of clients) c.connection.close();
  }
});

Deno.test("a node falls over to a standby registry when the first one does not answer", async () => {
  await using cluster = new TestCluster({ members: ["m"] });
  await cluster.startRegistry();
  const dead = `tcp://127.0.0.1:${freePort()}`;
  const live = `tcp://127.0.0.1:${cluster.registryPorts.cluster}`;
  const master = cluster.spawnNode("m", "master", { registry: [dead, live] });
  const line = await master.waitFor(/Registered with registry/, 15_000);
  assert.ok(line.includes(live), line);
});
