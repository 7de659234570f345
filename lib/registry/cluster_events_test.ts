import assert from "node:assert/strict";
import { ClusterEvents } from "./cluster_events.ts";
import type { NodeView, SentinelSnapshot } from "./types.ts";
import { addr, load } from "../../tests/support/sentinel_util.ts";

function node(nodeId: string, over: Partial<NodeView> = {}): NodeView {
  const role = over.role ?? "slave";
  return {
    nodeId,
    runId: `run-${nodeId}`,
    role,
    alive: true,
    address: addr(nodeId, role),
    load: load(),
    lastSeen: 0,
    registeredAt: 0,
    epoch: 1,
    follows: null,
    diedAt: null,
    deathReason: null,
    ...over,
  };
}

function snap(nodes: NodeView[], over: Partial<SentinelSnapshot> = {}): SentinelSnapshot {
  return {
    epoch: 1,
    masterId: null,
    masterEpoch: 0,
    recovering: false,
    recoveryEndsAt: null,
    members: ["m", "a", "b"],
    election: null,
    nodes,
    ...over,
  };
}

Deno.test("ClusterEvents records registrations, an election, a master, a death and a failover", () => {
  const events = new ClusterEvents(1000, { registryId: "r1" });
  events.observe(snap([node("m"), node("a"), node("b")]), 1001);
  events.observe(
    snap([node("m"), node("a"), node("b")], {
      election: { epoch: 1, startedAt: 0, promised: [] },
    }),
    1002,
  );
  const masterAt1 = { masterId: "m", masterEpoch: 1 };
  events.observe(snap([node("m", { role: "master" }), node("a"), node("b")], masterAt1), 1003);
  // The same picture again adds nothing.
  events.observe(snap([node("m", { role: "master" }), node("a"), node("b")], masterAt1), 1004);
  const dead = node("m", { role: "master", alive: false, deathReason: "silent for 1000 ms" });
  events.observe(snap([dead, node("a"), node("b")], { epoch: 1 }), 1005);
  events.observe(
    snap([dead, node("a", { role: "master" }), node("b")], { masterId: "a", masterEpoch: 2 }),
    1006,
  );
  const kinds = events.since().map((e) => `${e.kind}:${e.nodeId ?? ""}@${e.at}`);
  assert.deepEqual(kinds, [
    "registry_started:@1000",
    "registered:m@1001",
    "registered:a@1001",
    "registered:b@1001",
    "election:@1002",
    "master:m@1003",
    "died:m@1005",
    "no_master:m@1005",
    "master:a@1006",
  ]);
  assert.match(events.since(8)[0].text, /a is master at epoch 2/);
  assert.equal(events.since(9).length, 0);
  assert.equal(events.nextId, 10);
});

Deno.test("ClusterEvents notes a restarted node and a role change, and keeps only the newest", () => {
  const events = new ClusterEvents(0, { capacity: 3 });
  events.observe(snap([node("a")]), 1);
  events.observe(snap([node("a", { runId: "run-2" })]), 2);
  events.observe(snap([node("a", { runId: "run-2", role: "master" })]), 3);
  const kept = events.since();
  assert.deepEqual(kept.map((e) => e.kind), ["registered", "registered", "role"]);
  assert.deepEqual(kept.map((e) => e.id), [2, 3, 4]);
  assert.match(kept[2].text, /a: slave → master/);
});
