// Sentinel tests: discovery, status, housekeeping, options, and a random-sequence property.
import assert from "node:assert/strict";
import { Sentinel } from "./sentinel.ts";
import type { Role, SentinelAction } from "./types.ts";
import { SentinelOptionsError } from "./errors.ts";
import { mulberry32 } from "../random/mod.ts";
import {
  actionsOf,
  addr,
  cluster,
  commands,
  load,
  make,
  ofType,
  only,
  reg,
  rep,
  roleOf,
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
  cluster(s, 0, { s1: loads.s1, s2: loads.s2, s3: loads.s3 }, loads.m1);

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

// --- status, housekeeping, options ---------------------------------------------------------------

Deno.test("snapshot() shows each node's load, role, liveness and the cluster epoch", () => {
  const s = make();
  cluster(s, 0, { s1: { lastSeq: 3, users: 2 } }, { lastSeq: 4, connections: 9 });
  rep(s, "s1", 100, { load: { lastSeq: 4, users: 3, sessions: 3 } });
  const snap = s.snapshot();
  assert.equal(snap.epoch, 1);
  assert.equal(snap.masterId, "m1");
  assert.equal(snap.recovering, false);
  assert.equal(snap.masterless, null);
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
});

Deno.test("garbage load figures can neither win an election nor attract clients", () => {
  const s = make();
  const loads = {
    s1: { lastSeq: Number.NaN, loadFactor: Number.NaN },
    s2: { lastSeq: 0, loadFactor: 0.9 },
  };
  cluster(s, 0, loads, { loadFactor: Number.POSITIVE_INFINITY });
  assert.equal(view(s, "s1").load.lastSeq, 0);
  assert.equal(view(s, "s1").load.loadFactor, Number.POSITIVE_INFINITY);
  assert.deepEqual(s.discover({}, 10), { type: "node", node: addr("s2") });
  const actions = actionsOf(run(s, 0, 1100, ["s1", "s2"], loads));
  assert.equal(only(actions, "convert_to_master").nodeId, "s2");
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
    cluster(s, 0, { s1: { lastSeq: 1 } });
    run(s, 0, 500, ["m1", "s1"]);
    // Nothing ran for 3 s, then the queued reports arrive.
    const actions = [...rep(s, "s1", 3500), ...rep(s, "m1", 3500), ...s.tick(3550)];
    assert.ok(ofType(actions, "log").some((l) => /Registry stalled for 3000 ms/.test(l.message)));
    assert.equal(commands(actions).length, 0);
    assert.equal(ofType(actions, "slave_removed").length, 0);
    assert.equal(s.snapshot().masterId, "m1");
    const later = run(s, 3550, 5000, ["s1"]);
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
      { masterlessWaitMs: -5 },
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

// --- property ------------------------------------------------------------------------------------

const rng = mulberry32;

Deno.test("over random event sequences there is never more than one live master and the epoch never decreases", () => {
  const ids = ["n1", "n2", "n3", "n4", "n5"];
  for (let seed = 1; seed <= 150; seed++) {
    const rand = rng(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const s = new Sentinel({
      recoveryGraceMs: rand() < 0.5 ? 0 : 2000,
      masterlessWaitMs: 3000,
      stallThresholdMs: rand() < 0.5 ? Infinity : 500,
      forgetAfterMs: 20_000,
    });
    const runs = new Map(ids.map((id) => [id, 0]));
    const seqs = new Map(ids.map((id) => [id, 0]));
    let now = 0;
    let epoch = 0;
    for (let step = 0; step < 300; step++) {
      now += Math.floor(rand() * (rand() < 0.1 ? 1500 : 200));
      const id = pick(ids);
      const runId = `${id}-${runs.get(id)}`;
      seqs.set(id, seqs.get(id)! + Math.floor(rand() * 3));
      const l = load({
        lastSeq: seqs.get(id)!,
        loadFactor: rand(),
        connections: Math.floor(rand() * 9),
      });
      const claim = Math.max(0, s.epoch + pick([-1, 0, 0, 0, 1]));
      const kind = rand();
      let actions: SentinelAction[];
      const context = () => `seed ${seed} step ${step} at ${now}`;
      if (kind < 0.15) {
        if (rand() < 0.3) runs.set(id, runs.get(id)! + 1); // a restart
        actions = s.register({
          peer: id,
          address: addr(id),
          runId: `${id}-${runs.get(id)}`,
          role: pick<Role>(["master", "slave", "slave"]),
          load: l,
          masterId: rand() < 0.5 ? pick(ids) : undefined,
          epoch: pick([0, claim]),
        }, now);
        assert.equal(ofType(actions, "register_reply").length, 1, context());
      } else if (kind < 0.75) {
        actions = s.report({
          peer: id,
          nodeId: id,
          runId: rand() < 0.05 ? `${id}-old` : runId,
          role: rand() < 0.9 ? roleOf(s, id) : pick<Role>(["master", "slave"]),
          load: l,
          epoch: rand() < 0.9 ? s.epoch : claim,
        }, now);
        assert.equal(ofType(actions, "report_ack").length, 1, context());
      } else if (kind < 0.8) {
        actions = s.deregister({ nodeId: id, runId }, now);
      } else {
        actions = s.tick(now);
      }

      const snap = s.snapshot();
      assert.ok(snap.epoch >= epoch, `epoch went from ${epoch} to ${snap.epoch}: ${context()}`);
      const masters = snap.nodes.filter((n) => n.alive && n.role === "master");
      assert.ok(masters.length <= 1, `live masters ${masters.map((m) => m.nodeId)}: ${context()}`);
      assert.equal(masters[0]?.nodeId ?? null, snap.masterId, context());
      for (const a of actions) {
        if (a.type === "convert_to_master" || a.type === "change_master") {
          assert.ok(a.epoch <= snap.epoch, context());
        }
        if (a.type === "convert_to_master" && a.epoch > epoch) {
          // A fresh election: the winner knows at least as much as every other live node.
          const winner = snap.nodes.find((n) => n.nodeId === a.nodeId)!;
          for (const n of snap.nodes) {
            if (n.alive) {
              assert.ok(winner.load.lastSeq >= n.load.lastSeq, `${n.nodeId} ahead: ${context()}`);
            }
          }
        }
      }
      epoch = snap.epoch;
    }
  }
});
