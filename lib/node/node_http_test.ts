import assert from "node:assert/strict";
import { Pump } from "../transport/mod.ts";
import { defaults, NODE_SCHEMA, type NodeConfig } from "../config/mod.ts";
import { NodeServer } from "./node_server.ts";
import { ScriptedRegistry } from "../../tests/support/scripted_registry.ts";
import { eventually, freePort, TempDir } from "../../tests/_harness.ts";

// Real nodes in this process on loopback sockets and HTTP ports, driven by a registry whose every
// answer the test decides: readiness follows registration, the snapshot and the master's silence.

function nodeConfig(dir: TempDir, registry: ScriptedRegistry, nodeId: string): NodeConfig {
  const c = defaults(NODE_SCHEMA);
  c.mode = "cluster";
  c.node_id = nodeId;
  c.role = nodeId === "m" ? "master" : "slave";
  c.client_port = 0;
  c.cluster_port = 0;
  c.publish_port = 0;
  c.http_port = freePort();
  c.registry = [registry.endpoint];
  c.state_file = `${dir.path}/${nodeId}.state.json`;
  c.data_dir = "";
  c.world.width = 1000;
  c.world.height = 1000;
  c.cluster.members = ["m", "s"];
  c.cluster.report_interval_ms = 50;
  c.cluster.register_timeout_ms = 30_000;
  c.cluster.registry_timeout_ms = 300;
  c.cluster.retry_max_ms = 200;
  c.cluster.replica_silence_ms = 300;
  c.log_level = "error";
  return c;
}

interface Probe {
  status: number;
  body: { ready?: boolean; ok?: boolean; reason: string };
}

async function probe(port: number, path: string): Promise<Probe | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: response.status, body: await response.json() };
  } catch {
    return undefined; // not listening yet
  }
}

Deno.test("/readyz of a slave: 503 while registering, 200 replicating live, 503 once its master is gone", async (t) => {
  await using dir = new TempDir();
  await using pump = new Pump();
  await using registry = await ScriptedRegistry.start(pump);
  registry.masterId = "m";
  const mConfig = nodeConfig(dir, registry, "m");
  const m = await NodeServer.start(mConfig, { pump });
  const sConfig = nodeConfig(dir, registry, "s");
  let s: NodeServer | undefined;
  try {
    await t.step("the master is ready and healthy", async () => {
      const ready = await probe(mConfig.http_port, "/readyz");
      assert.equal(ready?.status, 200, JSON.stringify(ready));
      assert.match(ready!.body.reason, /Master at epoch 1/);
      const health = await probe(mConfig.http_port, "/healthz");
      assert.equal(health?.status, 200, JSON.stringify(health));
    });

    await t.step("a starting slave answers 503 until the registry accepts it", async () => {
      registry.answering = false;
      const starting = NodeServer.start(sConfig, { pump });
      try {
        const early = await eventually(
          "/readyz answering",
          () => probe(sConfig.http_port, "/readyz"),
        );
        assert.equal(early.status, 503);
        assert.equal(early.body.ready, false);
        assert.match(early.body.reason, /Not registered/);
        const health = await probe(sConfig.http_port, "/healthz");
        assert.equal(health?.status, 200, "alive while it registers");
        assert.match(health!.body.reason, /Starting/);
      } finally {
        registry.answering = true;
        s = await starting;
      }
    });

    await t.step("the slave turns ready once it replicates its master live", async () => {
      const ready = await eventually("/readyz 200", async () => {
        const r = await probe(sConfig.http_port, "/readyz");
        return r?.status === 200 ? r : undefined;
      });
      assert.match(ready.body.reason, /Slave replicating live from m/);
      assert.equal(s!.node.role, "ROLE_SLAVE");
      assert.ok(s!.node.lastSeq > 0);
    });

    await t.step("the master stops: the slave is no longer ready, and says why", async () => {
      await m.close();
      const gone = await eventually("/readyz 503", async () => {
        const r = await probe(sConfig.http_port, "/readyz");
        return r?.status === 503 ? r : undefined;
      });
      assert.equal(gone.body.ready, false);
      assert.match(gone.body.reason, /from m/);
      const health = await probe(sConfig.http_port, "/healthz");
      assert.equal(health?.status, 200, "still alive and ticking");
    });
  } finally {
    await m.close();
    await s?.close();
  }
});

Deno.test("/readyz and /healthz of a single node: 200 once listening and ticking, not ready once closed", async () => {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.http_port = freePort();
  config.data_dir = "";
  config.log_level = "error";
  await using pump = new Pump();
  const server = await NodeServer.start(config, { pump });
  try {
    const ready = await probe(config.http_port, "/readyz");
    assert.equal(ready?.status, 200);
    assert.match(ready!.body.reason, /Single node listening/);
    const health = await eventually("a tick", async () => {
      const r = await probe(config.http_port, "/healthz");
      return r?.status === 200 && /Ticking/.test(r.body.reason) ? r : undefined;
    });
    assert.equal(health.body.ok, true);
  } finally {
    await server.close();
  }
  assert.equal(server.readiness().ready, false);
  assert.equal(server.health(performance.now()).ok, false);
});
