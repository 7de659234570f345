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
  c.registry = [registry.endpoint];
  c.state_file = `${dir.path}/${nodeId}.state.json`;
  c.world.width = 1000;
  c.world.height = 1000;
  c.cluster.report_interval_ms = 50;
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
  } finally {
    for (const c of clients) c.connection.close();
  }
});
