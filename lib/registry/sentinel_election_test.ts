// Sentinel tests: liveness, election, a cluster without a live slave.
import assert from "node:assert/strict";
import { Sentinel } from "./sentinel.ts";
import type { NodeLoad } from "./types.ts";
import {
  actionsOf,
  addr,
  cluster,
  commands,
  make,
  ofType,
  only,
  reg,
  rep,
  run,
  view,
} from "../../tests/support/sentinel_util.ts";

// --- liveness and election -----------------------------------------------------------------------

Deno.test("tick() removes a silent slave, tells the master and logs it", () => {
  const s = make();
  cluster(s, 0, { s1: {}, s2: {} });
  const early = actionsOf(run(s, 0, 950, ["m1", "s2"]));
  assert.equal(ofType(early, "slave_removed").length, 0);
  assert.equal(view(s, "s1").alive, true);

  const actions = s.tick(1000);
  const removed = only(actions, "slave_removed");
  assert.equal(removed.peer, "peer-m1");
  assert.equal(removed.nodeId, "s1");
  assert.match(removed.reason, /silent for 1000 ms/);
  assert.equal(removed.epoch, 1);
  assert.ok(ofType(actions, "log").some((l) => l.level === "warn" && /s1 removed/.test(l.message)));
  assert.equal(view(s, "s1").alive, false);
  assert.equal(view(s, "s1").diedAt, 1000);
  assert.equal(commands(actions).length, 0);
  assert.equal(s.snapshot().masterId, "m1");
  for (let i = 0; i < 5; i++) {
    const found = s.discover({}, 1000);
    assert.ok(found.type === "node" && found.node.nodeId !== "s1");
  }
  // Removal is reported once.
  assert.equal(ofType(actionsOf(run(s, 1000, 2000, ["m1", "s2"])), "slave_removed").length, 0);
});

Deno.test("tick() promotes the most up-to-date slave when the master goes silent", () => {
  const s = make();
  // s1 is idle but missed updates; s2 is busy but has everything: s2 must win.
  const loads = {
    s1: { lastSeq: 90, loadFactor: 0.05, connections: 1 },
    s2: { lastSeq: 100, loadFactor: 0.8, connections: 500 },
  };
  cluster(s, 0, loads, { lastSeq: 100 });
  const timed = run(s, 0, 1500, ["s1", "s2"], loads);
  const actions = actionsOf(timed);
  const convert = only(actions, "convert_to_master");
  assert.equal(convert.nodeId, "s2");
  assert.equal(convert.peer, "peer-s2");
  assert.equal(convert.epoch, 2);
  const change = only(actions, "change_master");
  assert.equal(change.nodeId, "s1");
  assert.equal(change.peer, "peer-s1");
  assert.deepEqual(change.master, addr("s2", "master"));
  assert.equal(change.epoch, 2);
  assert.ok(
    ofType(actions, "log").some((l) => l.level === "error" && /Master m1 lost/.test(l.message)),
  );
  const snap = s.snapshot();
  assert.equal(snap.masterId, "s2");
  assert.equal(snap.epoch, 2);
  assert.equal(view(s, "m1").alive, false);
  assert.equal(view(s, "s1").follows, "s2");
  assert.deepEqual(s.discover({ wantMaster: true }, 1500), {
    type: "node",
    node: addr("s2", "master"),
  });
  // No slave_removed goes to the dead master.
  assert.equal(ofType(actions, "slave_removed").length, 0);
});

Deno.test("tick() breaks ties among equally up-to-date slaves by load, then connections and users, then node id", async (t) => {
  const cases: [string, Record<string, Partial<NodeLoad>>, string][] = [
    ["lower load factor wins", {
      sa: { lastSeq: 50, loadFactor: 0.5 },
      sb: { lastSeq: 50, loadFactor: 0.2, connections: 900 },
    }, "sb"],
    ["fewer connections + users win at equal load", {
      sa: { lastSeq: 50, loadFactor: 0.3, connections: 4, users: 6 },
      sb: { lastSeq: 50, loadFactor: 0.3, connections: 1, users: 9 },
      sc: { lastSeq: 50, loadFactor: 0.3, connections: 2, users: 2 },
    }, "sc"],
    ["load factors within one 0.05 band count as equal: connections decide", {
      sa: { lastSeq: 50, loadFactor: 0.011, connections: 40 },
      sb: { lastSeq: 50, loadFactor: 0.013, connections: 2 },
    }, "sb"],
    ["node id settles a full tie", {
      sc: { lastSeq: 50, loadFactor: 0.3, connections: 2 },
      sa: { lastSeq: 50, loadFactor: 0.3, connections: 2 },
      sb: { lastSeq: 50, loadFactor: 0.3, connections: 2 },
    }, "sa"],
    ["a behind slave never wins, however idle", {
      sa: { lastSeq: 49, loadFactor: 0 },
      sb: { lastSeq: 50, loadFactor: 0.99, connections: 1000, users: 1000 },
    }, "sb"],
  ];
  for (const [name, loads, winner] of cases) {
    await t.step(name, () => {
      const s = make();
      cluster(s, 0, loads, { lastSeq: 50 });
      const actions = actionsOf(run(s, 0, 1100, Object.keys(loads), loads));
      assert.equal(only(actions, "convert_to_master").nodeId, winner);
      const changed = ofType(actions, "change_master").map((c) => c.nodeId).sort();
      assert.deepEqual(changed, Object.keys(loads).filter((id) => id !== winner).sort());
      const elected = ofType(actions, "log").find((l) => /is master at epoch 2/.test(l.message));
      assert.ok(elected?.fields?.candidates, "the election log lists the candidates");
    });
  }
});

Deno.test("tick() promotes within 1.1 s of the master's last report with default options", () => {
  const s = new Sentinel({ recoveryGraceMs: 0 });
  assert.equal(s.nodeTimeoutMs, 1000);
  cluster(s, 0, { s1: { lastSeq: 7 }, s2: { lastSeq: 7 } }, { lastSeq: 7 });
  run(s, 0, 1000, ["m1", "s1", "s2"]);
  const lastMasterReport = 1000;
  const timed = run(s, 1000, 3000, ["s1", "s2"]);
  const convert = timed.find((x) => x.action.type === "convert_to_master");
  assert.ok(convert, "a slave was promoted");
  assert.ok(convert.at - lastMasterReport >= 1000, `not before the timeout (${convert.at})`);
  assert.ok(convert.at - lastMasterReport <= 1100, `within 1.1 s (${convert.at})`);
});

Deno.test("elections raise the epoch by one each time", () => {
  const s = make();
  const loads = { s1: { lastSeq: 10 }, s2: { lastSeq: 9 } };
  cluster(s, 0, loads);
  assert.equal(s.epoch, 1);
  const first = actionsOf(run(s, 0, 1100, ["s1", "s2"], loads));
  assert.equal(only(first, "convert_to_master").nodeId, "s1");
  assert.equal(s.epoch, 2);
  const second = actionsOf(run(s, 1100, 2300, ["s2"], loads));
  const convert = only(second, "convert_to_master");
  assert.equal(convert.nodeId, "s2");
  assert.equal(convert.epoch, 3);
  assert.equal(s.epoch, 3);
  assert.equal(s.snapshot().masterEpoch, 3);
  const ack = only(rep(s, "s2", 2400), "report_ack");
  assert.equal(ack.epoch, 3);
  assert.equal(ack.master?.nodeId, "s2");
});

Deno.test("deregister() of the master elects at once; of a slave tells the master", async (t) => {
  const s = make();
  cluster(s, 0, { s1: { lastSeq: 3 }, s2: { lastSeq: 4 } });

  await t.step("a slave leaving", () => {
    const actions = s.deregister({ nodeId: "s1", runId: "run-s1" }, 100);
    const removed = only(actions, "slave_removed");
    assert.equal(removed.nodeId, "s1");
    assert.equal(removed.peer, "peer-m1");
    assert.equal(removed.reason, "deregistered");
    assert.equal(view(s, "s1").alive, false);
  });

  await t.step("the master leaving", () => {
    const actions = s.deregister({ nodeId: "m1", runId: "run-m1" }, 200);
    const convert = only(actions, "convert_to_master");
    assert.equal(convert.nodeId, "s2");
    assert.equal(convert.epoch, 2);
    assert.equal(s.snapshot().masterId, "s2");
  });

  await t.step("a goodbye from a node the registry does not know is only logged", () => {
    const actions = s.deregister({ nodeId: "zz", runId: "r" }, 300);
    assert.deepEqual(actions.map((a) => a.type), ["log"]);
  });
});

// --- no live slave ------------------------------------------------------------------------------

Deno.test("a master lost with no live slave leaves the cluster masterless until an up-to-date node returns", async (t) => {
  await t.step("the master dies alone", () => {
    const s = make({ masterlessWaitMs: 5000 });
    reg(s, "m1", 0, { role: "master", load: { lastSeq: 50 } });
    const actions = s.tick(1000);
    assert.ok(
      ofType(actions, "log").some((l) => l.level === "error" && /no live slave/.test(l.message)),
    );
    const snap = s.snapshot();
    assert.equal(snap.masterId, null);
    assert.deepEqual(snap.masterless, { since: 1000, lostSeq: 50 });
    assert.deepEqual(s.discover({ wantMaster: true }, 1000), { type: "none", reason: "no master" });
    assert.deepEqual(s.discover({}, 1000), { type: "none", reason: "no node available" });
  });

  await t.step(
    "the old master itself comes back and is master again, no slave having been promoted",
    () => {
      const s = make({ masterlessWaitMs: 5000 });
      reg(s, "m1", 0, { role: "master", load: { lastSeq: 50 } });
      s.tick(1000);
      // A fresh node waits as a slave: it knows less than the lost master.
      const fresh = only(reg(s, "x1", 1100, { load: { lastSeq: 0 } }), "register_reply");
      assert.equal(fresh.accepted, true);
      assert.equal(fresh.role, "slave");
      assert.equal(fresh.master, undefined);
      assert.match(fresh.reason, /no master: accepted as slave/);
      const actions = reg(s, "m1", 1200, { role: "master", epoch: 1, load: { lastSeq: 50 } });
      const reply = only(actions, "register_reply");
      assert.equal(reply.role, "master");
      assert.equal(reply.epoch, 1);
      assert.equal(only(actions, "change_master").nodeId, "x1");
      assert.equal(s.snapshot().masterless, null);
    },
  );

  await t.step("an up-to-date node registering is elected at once, with a new epoch", () => {
    const s = make({ masterlessWaitMs: 5000 });
    reg(s, "m1", 0, { role: "master", load: { lastSeq: 50 } });
    s.tick(1000);
    reg(s, "x1", 1100, { load: { lastSeq: 0 } });
    // A restarted m1 that kept its world (lastSeq 50) but lost its epoch.
    const actions = reg(s, "m1", 1200, {
      role: "master",
      runId: "run-m1-b",
      load: { lastSeq: 50 },
    });
    const reply = only(actions, "register_reply");
    assert.equal(reply.role, "master");
    assert.equal(reply.epoch, 2);
    assert.match(reply.reason, /elected master at epoch 2/);
    assert.equal(ofType(actions, "convert_to_master").length, 0, "the reply says it");
    assert.equal(only(actions, "change_master").nodeId, "x1");
  });

  await t.step(
    "with only nodes that are behind, the best is elected after masterlessWaitMs",
    () => {
      const s = make({ masterlessWaitMs: 5000 });
      cluster(s, 0, { s1: { lastSeq: 40 } }, { lastSeq: 50 });
      const first = actionsOf(run(s, 0, 900, ["m1"], { m1: { lastSeq: 50 } }));
      // s1 dies first...
      assert.equal(only([...first, ...s.tick(1000)], "slave_removed").nodeId, "s1");
      s.tick(1900); // ...then m1, with no live slave.
      assert.deepEqual(s.snapshot().masterless, { since: 1900, lostSeq: 50 });
      reg(s, "x1", 2000, { load: { lastSeq: 0 } });
      reg(s, "s1", 2000, { load: { lastSeq: 40 } }); // the same process, back from a pause
      const loads = { x1: { lastSeq: 0 }, s1: { lastSeq: 40 } };
      const timed = run(s, 2000, 8000, ["x1", "s1"], loads);
      const convert = timed.find((x) => x.action.type === "convert_to_master");
      assert.ok(convert);
      assert.equal(convert.at, 6900);
      assert.equal((convert.action as { nodeId: string }).nodeId, "s1");
      assert.ok(
        actionsOf(timed).some((a) =>
          a.type === "log" && a.level === "warn" && /behind the lost master/.test(a.message)
        ),
      );
      assert.equal(s.epoch, 2);
    },
  );
});
