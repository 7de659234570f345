import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { Pump } from "../lib/transport/mod.ts";
import { eventually, freePort } from "./_harness.ts";
import { TestCluster } from "./_cluster.ts";
import { openTestClient, type TestClient, testClientConfig } from "./_clients.ts";

// The HTTP plane of real processes (a registry and two nodes on free loopback ports): Prometheus
// metrics checked by a text-format parser, and the registry's /discover as a browser sees it.

/** One family as `parse-prometheus-text-format` returns it. */
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
}

/** Scrapes `/metrics` and parses it; the parser throws on a line that is not the text format. */
async function scrape(port: number): Promise<{ text: string; families: Map<string, Family> }> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const families = new Map<string, Family>();
  for (const family of parsePrometheus(text) as Family[]) families.set(family.name, family);
  return { text, families };
}

/** Every sample line of a counter (`name{labels} value`), by its text before the value. */
function counterSamples(text: string, families: Map<string, Family>): Map<string, number> {
  const counters = new Set(
    [...families.values()].filter((f) => f.type === "COUNTER").map((f) => f.name),
  );
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const name = line.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)![0];
    if (!counters.has(name)) continue;
    const cut = line.lastIndexOf(" ");
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/**
 * Checks each histogram's series line by line (the parser folds a family's labelled series into
 * one): cumulative buckets that never decrease, ending in `+Inf` equal to `_count`.
 */
function checkHistogramLines(text: string, name: string): number {
  const series = new Map<string, { buckets: [string, number][]; count?: number }>();
  for (const line of text.split("\n")) {
    const m = line.match(new RegExp(`^${name}_(bucket|count)\\{(.*)\\} (\\S+)$`));
    if (!m) continue;
    const labels = m[2].replace(/le="[^"]*",?/, "");
    const s = series.get(labels) ?? { buckets: [] };
    series.set(labels, s);
    if (m[1] === "count") s.count = Number(m[3]);
    else s.buckets.push([m[2].match(/le="([^"]*)"/)![1], Number(m[3])]);
  }
  assert.ok(series.size > 0, `${name} has series`);
  for (const [labels, s] of series) {
    assert.ok(s.buckets.length > 2, `${name}{${labels}} has buckets`);
    for (let i = 1; i < s.buckets.length; i++) {
      assert.ok(s.buckets[i][1] >= s.buckets[i - 1][1], `${name}{${labels}} is cumulative`);
    }
    assert.equal(s.buckets.at(-1)![0], "+Inf");
    assert.equal(s.buckets.at(-1)![1], s.count, `${name}{${labels}}: +Inf bucket = _count`);
  }
  return series.size;
}

/** Families every node exposes, with their types. */
const NODE_FAMILIES: Record<string, string> = {
  gameserver_tick_duration_seconds: "HISTOGRAM",
  gameserver_request_duration_seconds: "HISTOGRAM",
  gameserver_tick_start_late_seconds: "HISTOGRAM",
  gameserver_loop_lag_seconds: "HISTOGRAM",
  gameserver_requests_total: "COUNTER",
  gameserver_errors_total: "COUNTER",
  gameserver_connections: "GAUGE",
  gameserver_sessions: "GAUGE",
  gameserver_users: "GAUGE",
  gameserver_role: "GAUGE",
  gameserver_replication_seq: "GAUGE",
  gameserver_replication_lag_seconds: "GAUGE",
  gameserver_received_bytes_total: "COUNTER",
  gameserver_sent_bytes_total: "COUNTER",
  gameserver_snapshots_served_total: "COUNTER",
  gameserver_snapshots_applied_total: "COUNTER",
  gameserver_forwarded_writes_total: "COUNTER",
  gameserver_writes_awaiting_acks: "GAUGE",
  gameserver_election_promises_total: "COUNTER",
  gameserver_role_changes_total: "COUNTER",
  // prom-client's default process metrics.
  process_cpu_seconds_total: "COUNTER",
  process_resident_memory_bytes: "GAUGE",
  nodejs_heap_size_used_bytes: "GAUGE",
};

/** Families the registry exposes, with their types. */
const REGISTRY_FAMILIES: Record<string, string> = {
  gameserver_registry_nodes: "GAUGE",
  gameserver_registry_election_rounds_total: "COUNTER",
  gameserver_registry_promotions_total: "COUNTER",
  gameserver_registry_discovery_requests_total: "COUNTER",
  gameserver_registry_epoch: "GAUGE",
  process_cpu_seconds_total: "COUNTER",
};

function checkFamilies(families: Map<string, Family>, wanted: Record<string, string>): void {
  for (const [name, type] of Object.entries(wanted)) {
    const family = families.get(name);
    assert.ok(family, `family ${name} is exposed`);
    assert.equal(family.type, type, `${name} is a ${type}`);
    assert.ok(family.help.length > 0, `${name} has a HELP line`);
  }
}

async function discover(port: number, query = ""): Promise<Response> {
  return await fetch(`http://127.0.0.1:${port}/discover${query}`, {
    headers: { origin: "http://example.test" },
  });
}

Deno.test("HTTP plane of a cluster: /discover, /metrics of nodes and registry", async (t) => {
  const http = { registry: freePort(), m1: freePort(), s1: freePort() };
  await using cluster = new TestCluster({
    members: ["m1", "s1"],
    registry: { http_port: http.registry, recovery_grace_ms: 500 },
  });
  await cluster.startRegistry();
  await using pump = new Pump();
  const clients: TestClient[] = [];
  try {
    await t.step("/discover without nodes: 503 with the reason, CORS open", async () => {
      const response = await discover(http.registry);
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      const body = await response.json();
      assert.equal(body.error, "NO_NODE_AVAILABLE");
      assert.ok(body.reason.length > 0);
      const master = await discover(http.registry, "?want_master=1");
      assert.equal(master.status, 503);
      await master.body?.cancel();
      const ready = await fetch(`http://127.0.0.1:${http.registry}/readyz`);
      assert.equal(ready.status, 503, "no view of the cluster yet");
      await ready.body?.cancel();
    });

    await t.step("a CORS preflight of /discover is answered", async () => {
      const response = await fetch(`http://127.0.0.1:${http.registry}/discover`, {
        method: "OPTIONS",
        headers: {
          origin: "http://example.test",
          "access-control-request-method": "GET",
        },
      });
      assert.equal(response.status, 204);
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      assert.match(response.headers.get("access-control-allow-methods") ?? "", /GET/);
      await response.body?.cancel();
    });

    const m1 = cluster.spawnNode("m1", "master", { http_port: http.m1 });
    const s1 = cluster.spawnNode("s1", "slave", { http_port: http.s1 });
    await m1.waitFor(/Now MASTER/);
    await s1.waitFor(/Snapshot applied/);

    await t.step("/discover names a node with its endpoint and WebSocket URL", async () => {
      const response = await eventually("a node from /discover", async () => {
        const r = await discover(http.registry, "?want_master=1");
        if (r.status === 200) return r;
        await r.body?.cancel();
        return undefined;
      });
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      const master = await response.json();
      assert.equal(master.node.nodeId, "m1");
      assert.equal(master.endpoint, cluster.clientEndpoint("m1"));
      assert.equal(master.wsUrl, `ws://127.0.0.1:${http.m1}/ws`);
      // Without want_master: the least-loaded live node, either one here.
      const any = await (await discover(http.registry)).json();
      assert.ok(["m1", "s1"].includes(any.node.nodeId), JSON.stringify(any));
      assert.equal(any.endpoint, cluster.clientEndpoint(any.node.nodeId));
      assert.equal(any.wsUrl, `ws://127.0.0.1:${http[any.node.nodeId as "m1" | "s1"]}/ws`);
      const ready = await eventually("registry ready", async () => {
        const r = await fetch(`http://127.0.0.1:${http.registry}/readyz`);
        const body = await r.json();
        return r.status === 200 ? body : undefined;
      });
      assert.match(ready.reason, /master m1/);
    });

    await t.step("/metrics: families, types, histograms; counters only grow", async () => {
      const before = {
        m1: await scrape(http.m1),
        s1: await scrape(http.s1),
        registry: await scrape(http.registry),
      };
      checkFamilies(before.m1.families, NODE_FAMILIES);
      checkFamilies(before.s1.families, NODE_FAMILIES);
      checkFamilies(before.registry.families, REGISTRY_FAMILIES);
      for (const s of [before.m1, before.s1]) {
        checkHistogramLines(s.text, "gameserver_tick_duration_seconds");
        assert.ok(s.families.get("gameserver_tick_duration_seconds")!.metrics[0].buckets);
        assert.match(s.text, /gameserver_requests_total\{transport="zmq",node_id="(m1|s1)"\}/);
      }
      assert.match(before.m1.text, /gameserver_role\{role="master",node_id="m1"\} 1/);
      assert.match(before.s1.text, /gameserver_snapshots_applied_total\{node_id="s1"\} [1-9]/);
      assert.match(before.m1.text, /gameserver_snapshots_served_total\{node_id="m1"\} [1-9]/);
      assert.match(
        before.registry.text,
        /gameserver_registry_nodes\{role="master",state="alive",registry_id="[^"]+"\} 1/,
      );

      // Traffic in between: logins, writes through the slave (forwarded), queries on both.
      for (const id of ["m1", "s1", "s1"]) {
        const c = await openTestClient(
          pump,
          testClientConfig({ node: cluster.clientEndpoint(id) }),
        );
        clients.push(c);
        const login = await c.session.login();
        assert.ok(login.ok, !login.ok ? login.error.message : "");
        assert.ok((await c.session.setVelocity(1, 0)).ok);
        assert.ok((await c.session.queryRect(0, 0, 100, 100)).ok);
        // An error reply, counted by its code.
        assert.equal((await c.session.login()).ok, false);
      }
      await (await discover(http.registry)).body?.cancel();

      const after = {
        m1: await scrape(http.m1),
        s1: await scrape(http.s1),
        registry: await scrape(http.registry),
      };
      for (const name of ["m1", "s1", "registry"] as const) {
        const was = counterSamples(before[name].text, before[name].families);
        const now = counterSamples(after[name].text, after[name].families);
        assert.ok(was.size > 3, `${name} has counters`);
        for (const [sample, value] of was) {
          const later = now.get(sample);
          assert.ok(later !== undefined, `${name}: ${sample} is still exposed`);
          assert.ok(later >= value, `${name}: ${sample} went from ${value} to ${later}`);
        }
      }
      const grew = (name: "m1" | "s1" | "registry", sample: string) => {
        const was = counterSamples(before[name].text, before[name].families).get(sample) ?? 0;
        const now = counterSamples(after[name].text, after[name].families).get(sample);
        assert.ok(now !== undefined && now > was, `${name}: ${sample} grew (${was} -> ${now})`);
      };
      grew("m1", 'gameserver_requests_total{transport="zmq",node_id="m1"}');
      grew("s1", 'gameserver_requests_total{transport="zmq",node_id="s1"}');
      grew("s1", 'gameserver_forwarded_writes_total{side="sent",node_id="s1"}');
      grew("m1", 'gameserver_forwarded_writes_total{side="executed",node_id="m1"}');
      grew("s1", 'gameserver_received_bytes_total{transport="zmq",node_id="s1"}');
      grew("m1", 'gameserver_errors_total{code="ALREADY_LOGGED_IN",node_id="m1"}');
      grew(
        "registry",
        `gameserver_registry_discovery_requests_total{transport="http",result="node",registry_id="127.0.0.1:${cluster.registryPorts.cluster}"}`,
      );
      // Request durations by op and transport, each series a proper histogram.
      assert.ok(checkHistogramLines(after.s1.text, "gameserver_request_duration_seconds") >= 3);
      assert.match(
        after.s1.text,
        /gameserver_request_duration_seconds_count\{op="set_velocity",transport="zmq",node_id="s1"\} 2/,
      );
      assert.match(after.s1.text, /gameserver_sessions\{transport="zmq",node_id="s1"\} 2/);
    });
  } finally {
    for (const c of clients) c.connection.close();
  }
});
