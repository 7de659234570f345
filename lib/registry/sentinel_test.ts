// Sentinel tests: discovery, status, housekeeping, options.
import assert from "node:assert/strict";
import { Sentinel } from "./sentinel.ts";
import { SentinelOptionsError } from "./errors.ts";
import {
  actionsOf,
  addr,
  cluster,
  commands,
  load,
  logged,
  make,
  ofType,
  only,
  prom,
  reg,
  rep,
  run,
  view,
} from "../../tests/support/sentinel_util.ts";

// --- discovery -----------------------------------------------------------------------------------

Deno.test("discover() names the least-loaded live node under load factor 1, or the master", async (t) => {
  const s = make();
  const loads = {
    m1: { loadFactor: 0.5, connections: 1 },
    s1: { loadFactor: 0.2, connections: 10 },
    s2: { loadFactor: 0.2, connections: 5 },
    s3: { loadFactor: 1.2, connections: 0 },
  };
  cluster(s, 0, { s1: loads.s1, s2: loads.s2, s3: loads.s3 }, {
    master: loads.m1,
    members: ["m1", "s0", "s1", "s2", "s3"],
  });

  await t.step("lowest load factor, then fewest connections", () => {
    assert.deepEqual(s.discover({}, 10), { type: "node", node: addr("s2") });
  });

  await t.step("the node id settles a tie", () => {
    reg(s, "s0", 20, { load: { loadFactor: 0.2, connections: 5 } });
    assert.deepEqual(s.discover({}, 20), { type: "node", node: addr("s0") });
  });

  await t.step("wantMaster names the master", () => {
    assert.deepEqual(s.discover({ wantMaster: true }, 20), {
      type: "node",
      node: addr("m1", "master"),
    });
  });

  await t.step("silent nodes are skipped even before a tick declares them dead", () => {
    rep(s, "m1", 900, { load: loads.m1 });
    rep(s, "s3", 900, { load: loads.s3 });
    const found = s.discover({}, 1020);
    assert.deepEqual(found, { type: "node", node: addr("m1", "master") });
    assert.equal(view(s, "s0").alive, true, "discover() changes nothing");
  });

  await t.step("every live node overloaded: none", () => {
    assert.deepEqual(s.discover({}, 1900), { type: "none", reason: "no node available" });
  });
});

Deno.test("discover() spreads a burst of clients over equally loaded nodes", () => {
  const s = make();
  cluster(s, 0, {
    s1: { loadFactor: 0.1, connections: 0 },
    s2: { loadFactor: 0.1, connections: 0 },
  }, {
    master: { loadFactor: 0.1, connections: 0 },
  });
  // 300 clients ask before any node reports again: each gets a third, not all the first.
  const sent = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const found = s.discover({}, 50);
    assert.equal(found.type, "node");
    const id = found.type === "node" ? found.node.nodeId ?? "" : "";
    sent.set(id, (sent.get(id) ?? 0) + 1);
  }
  assert.deepEqual([...sent.values()].sort(), [100, 100, 100], JSON.stringify([...sent]));
  // The reports decide again once they show the clients (what was sent fades as they come).
  rep(s, "s1", 900, { load: { loadFactor: 0.1, connections: 150 } });
  rep(s, "s2", 900, { load: { loadFactor: 0.1, connections: 100 } });
  rep(s, "m1", 900, { load: { loadFactor: 0.1, connections: 120 } });
  const next = s.discover({}, 900);
  assert.deepEqual(next.type === "node" ? next.node.nodeId : "", "s2");
});

// --- status, housekeeping, options ---------------------------------------------------------------

Deno.test("snapshot() shows each node's load, role, liveness, the members and the cluster epoch", () => {
  const s = make();
  cluster(s, 0, { s1: { lastSeq: 3, users: 2 } }, { master: { lastSeq: 4, connections: 9 } });
  rep(s, "s1", 100, { load: { lastSeq: 4, users: 3, sessions: 3 } });
  const snap = s.snapshot();
  assert.equal(snap.epoch, 1);
  assert.equal(snap.masterId, "m1");
  assert.equal(snap.masterEpoch, 1);
  assert.equal(snap.recovering, false);
  assert.deepEqual(snap.members, ["m1", "s1"]);
  assert.equal(snap.election, null);
  assert.deepEqual(snap.nodes.map((n) => [n.nodeId, n.role, n.alive, n.follows]), [
    ["m1", "master", true, null],
    ["s1", "slave", true, "m1"],
  ]);
  const s1 = snap.nodes[1];
  assert.equal(s1.runId, "run-s1");
  assert.equal(s1.lastSeen, 100);
  assert.equal(s1.registeredAt, 0);
  assert.equal(s1.epoch, 1);
  assert.deepEqual(s1.load, load({ lastSeq: 4, users: 3, sessions: 3 }));
  assert.deepEqual(s1.address, addr("s1"));
  // A copy: changing it changes nothing.
  s1.load.lastSeq = 1e9;
  s1.address.host = "evil";
  assert.equal(view(s, "s1").load.lastSeq, 4);
  assert.equal(view(s, "s1").address.host, "s1.local");
  assert.deepEqual(JSON.parse(JSON.stringify(snap)).masterId, "m1");
  snap.members?.push("evil");
  assert.deepEqual(s.snapshot().members, ["m1", "s1"]);
});

Deno.test("snapshot().election shows the round in progress and who promised", () => {
  const s = make();
  reg(s, "m1", 0, { role: "master", members: ["m1", "s1", "s2"] });
  assert.equal(s.snapshot().election, null);
  reg(s, "s1", 10);
  assert.deepEqual(s.snapshot().election, { epoch: 1, startedAt: 10, promised: [] });
  prom(s, "s1", 20);
  assert.deepEqual(s.snapshot().election, { epoch: 1, startedAt: 10, promised: ["s1"] });
  prom(s, "m1", 30, { configuredRole: "master" });
  assert.equal(s.snapshot().election, null);
  assert.equal(s.snapshot().masterId, "m1");
});

Deno.test("garbage load figures can neither win an election nor attract clients", () => {
  const s = make();
  const loads = {
    s1: { lastSeq: Number.NaN, loadFactor: Number.NaN },
    s2: { lastSeq: 0, loadFactor: 0.9 },
  };
  cluster(s, 0, loads, { master: { loadFactor: Number.POSITIVE_INFINITY } });
  assert.equal(view(s, "s1").load.lastSeq, 0);
  assert.equal(view(s, "s1").load.loadFactor, Number.POSITIVE_INFINITY);
  assert.deepEqual(s.discover({}, 10), { type: "node", node: addr("s2") });
  const actions = actionsOf(run(s, 0, 1100, ["s1", "s2"], loads));
  assert.equal(only(actions, "convert_to_master").nodeId, "s2");
});

Deno.test("garbage position figures count as 0 and cannot win an election", async (t) => {
  const garbage = [
    { epoch: Number.NaN, seq: Number.POSITIVE_INFINITY },
    { epoch: -2, seq: -1 },
    { epoch: 2 ** 60, seq: 2 ** 60 },
    { epoch: 1.5, seq: 0.5 },
  ];
  for (const position of garbage) {
    await t.step(JSON.stringify(position), () => {
      const s = make();
      reg(s, "m1", 0, { role: "master", members: ["m1", "s1", "s2"] });
      reg(s, "s1", 0);
      // s1 is the least loaded: taken at face value, or as a tie, its position would win.
      prom(s, "s1", 10, { position, load: { loadFactor: 0 } });
      const actions = prom(s, "m1", 20, { position: { epoch: 0, seq: 1 } });
      assert.equal(only(actions, "convert_to_master").nodeId, "m1");
      const elected = ofType(actions, "log").find((l) => /is master/.test(l.message));
      const candidates = elected?.fields?.candidates as { nodeId: string }[];
      assert.deepEqual(candidates.find((c) => c.nodeId === "s1"), {
        nodeId: "s1",
        positionEpoch: 0,
        positionSeq: 0,
        loadFactor: 0,
        connections: 0,
        users: 0,
      });
    });
  }
});

Deno.test("dead nodes are forgotten after forgetAfterMs", () => {
  const s = make({ forgetAfterMs: 5000 });
  cluster(s, 0, { s1: {} });
  run(s, 0, 1000, ["m1"]);
  assert.equal(view(s, "s1").alive, false);
  run(s, 1000, 5950, ["m1"]);
  assert.ok(s.nodes().some((n) => n.nodeId === "s1"));
  s.tick(6000);
  assert.deepEqual(s.nodes().map((n) => n.nodeId), ["m1"]);
});

Deno.test("a registry stall does not declare every node dead", async (t) => {
  await t.step("a 3 s stall: nobody dies, nobody is elected; later silence still counts", () => {
    const s = new Sentinel({ recoveryGraceMs: 0 }); // stall threshold: 500 ms by default
    cluster(s, 0, { s1: { lastSeq: 1 }, s2: { lastSeq: 1 } });
    run(s, 0, 500, ["m1", "s1", "s2"]);
    // Nothing ran for 3 s, then the queued reports arrive.
    const actions = [
      ...rep(s, "s1", 3500),
      ...rep(s, "s2", 3500),
      ...rep(s, "m1", 3500),
      ...s.tick(3550),
    ];
    assert.equal(logged(actions, /Registry stalled for 3000 ms/).length, 1);
    assert.equal(commands(actions).length, 0);
    assert.equal(ofType(actions, "prepare").length, 0);
    assert.equal(ofType(actions, "slave_removed").length, 0);
    assert.equal(s.snapshot().masterId, "m1");
    const later = run(s, 3550, 5000, ["s1", "s2"]);
    const convert = later.find((x) => x.action.type === "convert_to_master");
    assert.equal(convert?.at, 4500, "m1 last reported at 3500");
  });

  await t.step(
    "an adapter ticking too slowly delays death detection but does not prevent it",
    () => {
      const s = new Sentinel({ recoveryGraceMs: 0 });
      cluster(s, 0, { s1: {} });
      const deaths: number[] = [];
      for (let now = 1000; now <= 10_000; now += 1000) {
        const actions = [...rep(s, "m1", now - 10), ...s.tick(now)];
        if (actions.some((a) => a.type === "slave_removed")) deaths.push(now);
      }
      assert.deepEqual(deaths, [2000]);
    },
  );
});

Deno.test("time never runs backwards inside the sentinel", () => {
  const s = make();
  cluster(s, 1000, { s1: {} });
  rep(s, "s1", 500); // an earlier timestamp counts as "now"
  assert.equal(view(s, "s1").lastSeen, 1000);
  rep(s, "s1", Number.NaN);
  assert.equal(view(s, "s1").lastSeen, 1000);
});

Deno.test("the constructor rejects unusable options", () => {
  for (
    const bad of [
      { nodeTimeoutMs: 0 },
      { nodeTimeoutMs: Number.NaN },
      { recoveryGraceMs: -1 },
      { electionTimeoutMs: -5 },
      { electionTimeoutMs: 0 },
      { forgetAfterMs: Number.NaN },
      { stallThresholdMs: 0 },
      { now: Number.POSITIVE_INFINITY },
    ]
  ) {
    assert.throws(() => new Sentinel(bad), SentinelOptionsError, JSON.stringify(bad));
  }
  let err: unknown;
  try {
    new Sentinel({ nodeTimeoutMs: -1 });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SentinelOptionsError);
  assert.equal(err.name, "SentinelOptionsError");
  assert.match(err.message, /^nodeTimeoutMs must be positive/);
});
