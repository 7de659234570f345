import assert from "node:assert/strict";
import { Pump } from "../../transport/mod.ts";
import { defaults, NODE_SCHEMA, type NodeConfig } from "../../config/mod.ts";
import { NodeServer } from "../node_server.ts";
import { ScriptedRegistry } from "../../../tests/support/scripted_registry.ts";
import { eventually, TempDir } from "../../../tests/_harness.ts";
import { openTestClient, type TestClient, testClientConfig } from "../../../tests/_clients.ts";

// Two real nodes in this process, on real loopback sockets, driven by a registry whose every
// decision the test makes: the sequence of registry messages is the input, the nodes' roles,
// replication and write routing the output.

function nodeConfig(
  dir: TempDir,
  registry: ScriptedRegistry,
  nodeId: string,
  role: "master" | "slave",
): NodeConfig {
  const c = defaults(NODE_SCHEMA);
  c.mode = "cluster";
  c.node_id = nodeId;
  c.role = role;
  c.client_port = 0;
  c.cluster_port = 0;
  c.publish_port = 0;
  c.http_port = 0;
  c.registry = [registry.endpoint];
  c.state_file = `${dir.path}/${nodeId}.state.json`;
  c.data_dir = `${dir.path}/${nodeId}.data`;
  c.world.width = 1000;
  c.world.height = 1000;
  c.cluster.report_interval_ms = 50;
  c.cluster.members = ["m", "s"];
  c.cluster.ack_timeout_ms = 300;
  c.log_level = "error";
  return c;
}

function remembered(dir: TempDir, nodeId: string): { epoch: number; role: string } {
  return JSON.parse(Deno.readTextFileSync(`${dir.path}/${nodeId}.state.json`));
}

async function client(pump: Pump, server: NodeServer): Promise<TestClient> {
  return await openTestClient(
    pump,
    testClientConfig({ node: `tcp://127.0.0.1:${server.clientPort}` }),
  );
}

Deno.test("ClusterCoordinator follows the registry's commands: roles, replication, forwarded writes", async (t) => {
  await using dir = new TempDir();
  await using pump = new Pump();
  await using registry = await ScriptedRegistry.start(pump);
  registry.masterId = "m";
  await using m = await NodeServer.start(nodeConfig(dir, registry, "m", "master"), { pump });
  await using s = await NodeServer.start(nodeConfig(dir, registry, "s", "slave"), { pump });
  const clients: TestClient[] = [];
  try {
    await t.step(
      "registration gives each node its role; the slave replicates the master",
      async () => {
        assert.equal(m.node.role, "ROLE_MASTER");
        assert.equal(s.node.role, "ROLE_SLAVE");
        assert.equal(s.node.masterId, "m");
        await eventually(
          "the slave applying updates",
          () => s.node.lastSeq > 5 || undefined,
          10_000,
        );
        assert.equal(remembered(dir, "m").role, "ROLE_MASTER");
        assert.equal(remembered(dir, "s").role, "ROLE_SLAVE");
      },
    );

    await t.step(
      "writes through the slave run on the master; each reply reaches its own connection",
      async () => {
        const a = await client(pump, s);
        const b = await client(pump, s);
        clients.push(a, b);
        const [la, lb] = await Promise.all([a.session.login(), b.session.login()]);
        assert.ok(la.ok && lb.ok, "both logins succeed");
        assert.notEqual(la.value.userId, lb.value.userId);
        assert.equal(a.session.userId, la.value.userId);
        assert.equal(b.session.userId, lb.value.userId);
        // The master executed them: its world holds both users before the slave's does or not.
        assert.ok(m.node.state.world.has(la.value.userId!));
        assert.ok(m.node.state.world.has(lb.value.userId!));
        const set = await a.session.setVelocity(3, 0);
        assert.ok(set.ok, !set.ok ? set.error.message : "");
        assert.equal(m.node.state.world.getUser(la.value.userId!)?.vx, 3);
        // The slave's session is bound to the user the master created, for this client only.
        const [ea, eb] = [
          s.node.clients.get(a.session.clientId),
          s.node.clients.get(b.session.clientId),
        ];
        assert.equal(ea?.userId, la.value.userId);
        assert.equal(eb?.userId, lb.value.userId);
      },
    );

    await t.step(
      "change_master at a new epoch swaps the roles; writes follow the new master",
      async () => {
        registry.epoch = 2;
        registry.masterId = "s";
        const sAddress = registry.address("s");
        registry.send("m", { changeMaster: { master: sAddress } });
        registry.send("s", { changeMaster: { master: sAddress } });
        await eventually(
          "m following s and s master at epoch 2",
          () =>
            m.node.role === "ROLE_SLAVE" && m.node.masterId === "s" && m.node.epoch === 2 &&
              s.node.role === "ROLE_MASTER" && s.node.epoch === 2 || undefined,
          10_000,
        );
        assert.deepEqual(remembered(dir, "m"), { nodeId: "m", epoch: 2, role: "ROLE_SLAVE" });
        assert.deepEqual(remembered(dir, "s"), { nodeId: "s", epoch: 2, role: "ROLE_MASTER" });
        const lastSeqOfS = s.node.lastSeq;
        await eventually("m replicating from s", () => m.node.lastSeq > lastSeqOfS || undefined);
        const c = await client(pump, m);
        clients.push(c);
        const login = await c.session.login();
        assert.ok(login.ok, !login.ok ? login.error.message : "");
        assert.ok(s.node.state.world.has(login.value.userId!), "the new master holds the user");
        // The old master's users are still there: s was a replica of m.
        assert.ok(s.node.state.world.has(clients[0].session.userId));
      },
    );

    await t.step("a command from an older epoch changes nothing", async () => {
      registry.send("m", { epoch: 1, convertToMaster: {} });
      const reports = registry.nodes.get("m")!.reports;
      // Two more reports from m: the command, sent before them, has been handled.
      await eventually(
        "two more reports",
        () => registry.nodes.get("m")!.reports >= reports + 2 || undefined,
      );
      assert.equal(m.node.role, "ROLE_SLAVE");
      assert.equal(m.node.epoch, 2);
      assert.equal(registry.nodes.get("m")!.lastRole, "ROLE_SLAVE");
    });
    await t.step(
      "a slave that promised a newer epoch refuses its master: no write is acknowledged",
      async () => {
        registry.send("m", { epoch: 3, prepare: { registryId: "r1" } });
        const promise = await eventually(
          "m's promise",
          () => registry.received.find((msg) => msg.promise?.nodeId === "m")?.promise ?? undefined,
        );
        assert.equal(promise.granted, true);
        assert.equal(promise.epoch, 3);
        assert.equal(promise.positionEpoch, 2, "m holds updates of epoch 2");
        assert.ok((promise.positionSeq ?? 0) > 0);
        assert.equal(remembered(dir, "m").epoch, 3, "the promise is on disk");
        const frozenAt = m.node.lastSeq;
        // s is still master at epoch 2, but its only replica no longer applies nor acks epoch 2.
        const set = await clients[0].session.setVelocity(7, 0);
        assert.ok(!set.ok && set.error.code === "TIMEOUT", JSON.stringify(set));
        assert.equal(m.node.lastSeq, frozenAt, "m applied nothing of epoch 2 after promising 3");
        assert.equal(
          Math.abs(m.node.state.world.getUser(clients[0].session.userId)?.vx ?? 0),
          3,
          "not on m",
        );
      },
    );

    await t.step(
      "a master that promises steps down; a second prepare of the same epoch is refused",
      async () => {
        registry.send("s", { epoch: 3, prepare: { registryId: "r1" } });
        registry.send("s", { epoch: 3, prepare: { registryId: "r2" } });
        const promises = await eventually("both answers from s", () => {
          const p = registry.received.flatMap((msg) =>
            msg.promise?.nodeId === "s" ? [msg.promise] : []
          );
          return p.length === 2 ? p : undefined;
        });
        assert.deepEqual(promises.map((p) => [p.granted, p.promisedEpoch]), [[true, 3], [
          false,
          3,
        ]]);
        assert.equal(s.node.role, "ROLE_SLAVE", "s is no longer master");
        const set = await clients[1].session.setVelocity(5, 0);
        assert.ok(!set.ok, "nothing acknowledges writes between the promise and the new master");
      },
    );

    await t.step(
      "the winner of the round becomes master; writes are acknowledged in its epoch",
      async () => {
        registry.epoch = 3;
        registry.masterId = "m";
        registry.send("m", { convertToMaster: {} });
        registry.send("s", { changeMaster: { master: registry.address("m") } });
        await eventually(
          "m master and s following at epoch 3",
          () =>
            m.node.role === "ROLE_MASTER" && s.node.masterId === "m" && s.node.epoch === 3 ||
            undefined,
        );
        const out = await eventually("a write through s acknowledged", async () => {
          const set = await clients[1].session.setVelocity(4, 0);
          return set.ok ? set : undefined;
        });
        assert.ok(out.ok);
        assert.equal(m.node.state.world.getUser(clients[1].session.userId)?.vx, 4);
      },
    );

    await t.step(
      "the same change_master again (a registry repeating itself) keeps the replica in step",
      async () => {
        const asked = s.cluster!.replicaStats!.snapshotRequests;
        for (let i = 0; i < 5; i++) {
          registry.send("s", { changeMaster: { master: registry.address("m") } });
        }
        const reports = registry.nodes.get("s")!.reports;
        await eventually(
          "two more reports",
          () => registry.nodes.get("s")!.reports >= reports + 2 || undefined,
        );
        assert.equal(s.cluster!.replicaStats!.snapshotRequests, asked, "no new snapshot asked for");
        assert.equal(s.node.masterId, "m");
      },
    );
  } finally {
    for (const c of clients) c.connection.close();
  }
});
