// Sentinel tests: liveness, failover elections, a cluster below a majority of live members.
import assert from "node:assert/strict";
import { Sentinel } from "./sentinel.ts";
import type { NodeLoad } from "./types.ts";
import {
  actionsOf,
  addr,
  answer,
  cluster,
  commands,
  logged,
  make,
  ofType,
  only,
  reg,
  rep,
  run,
  view,
  votersOf,
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
  assert.equal(logged(actions, /s1 removed/, "warn").length, 1);
  assert.equal(view(s, "s1").alive, false);
  assert.equal(view(s, "s1").diedAt, 1000);
  assert.equal(commands(actions).length, 0);
  assert.equal(ofType(actions, "prepare").length, 0);
  assert.equal(s.snapshot().masterId, "m1");
  for (let i = 0; i < 5; i++) {
    const found = s.discover({}, 1000);
    assert.ok(found.type === "node" && found.node.nodeId !== "s1");
  }
  // Removal is reported once.
  assert.equal(ofType(actionsOf(run(s, 1000, 2000, ["m1", "s2"])), "slave_removed").length, 0);
});

Deno.test("tick() elects the most up-to-date live member at epoch + 1 when the master goes silent", () => {
  const s = make();
  // s1 is idle but missed updates; s2 is busy but has everything: s2 must win.
  const loads = {
    s1: { lastSeq: 90, loadFactor: 0.05, connections: 1 },
    s2: { lastSeq: 100, loadFactor: 0.8, connections: 500 },
  };
  cluster(s, 0, loads, { master: { lastSeq: 100 } });
  const timed = run(s, 0, 1500, ["s1", "s2"], loads);
  const actions = actionsOf(timed);
  // The round asks the live members only, for the next epoch.
  assert.deepEqual(ofType(actions, "prepare").map((p) => [p.nodeId, p.epoch]), [
    ["s1", 2],
    ["s2", 2],
  ]);
  assert.equal(timed.find((x) => x.action.type === "prepare")?.at, 1000);
  const convert = only(actions, "convert_to_master");
  assert.equal(convert.nodeId, "s2");
  assert.equal(convert.peer, "peer-s2");
  assert.equal(convert.epoch, 2);
  const change = only(actions, "change_master");
  assert.equal(change.nodeId, "s1");
  assert.equal(change.peer, "peer-s1");
  assert.deepEqual(change.master, addr("s2", "master"));
  assert.equal(change.epoch, 2);
  assert.equal(logged(actions, /Master m1 lost/, "error").length, 1);
  assert.deepEqual(logged(actions, /is master at epoch 2/, "info"), [
    "s2 is master at epoch 2: elected by promises from 2 of 3 members",
  ]);
  const snap = s.snapshot();
  assert.equal(snap.masterId, "s2");
  assert.equal(snap.epoch, 2);
  assert.equal(snap.election, null);
  assert.equal(view(s, "m1").alive, false);
  assert.equal(view(s, "s1").follows, "s2");
  assert.deepEqual(s.discover({ wantMaster: true }, 1500), {
    type: "node",
    node: addr("s2", "master"),
  });
  // No slave_removed goes to the dead master.
  assert.equal(ofType(actions, "slave_removed").length, 0);
});

Deno.test("tick() breaks ties among equally up-to-date members by load, then connections and users, then node id", async (t) => {
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
    ["a member that is behind never wins, however idle", {
      sa: { lastSeq: 49, loadFactor: 0 },
      sb: { lastSeq: 50, loadFactor: 0.99, connections: 1000, users: 1000 },
    }, "sb"],
  ];
  for (const [name, loads, winner] of cases) {
    await t.step(name, () => {
      const s = make();
      cluster(s, 0, loads, { master: { lastSeq: 50 } });
      const actions = actionsOf(run(s, 0, 1100, Object.keys(loads), loads));
      assert.equal(only(actions, "convert_to_master").nodeId, winner);
      const changed = ofType(actions, "change_master").map((c) => c.nodeId).sort();
      assert.deepEqual(changed, Object.keys(loads).filter((id) => id !== winner).sort());
      const elected = ofType(actions, "log").find((l) => /is master at epoch 2/.test(l.message));
      assert.ok(elected?.fields?.candidates, "the election log lists the candidates");
    });
  }
});

Deno.test("tick() elects within 1.1 s of the master's last report with default options", () => {
  const s = new Sentinel({ recoveryGraceMs: 0 });
  assert.equal(s.nodeTimeoutMs, 1000);
  cluster(s, 0, { s1: { lastSeq: 7 }, s2: { lastSeq: 7 } }, { master: { lastSeq: 7 } });
  run(s, 0, 1000, ["m1", "s1", "s2"]);
  const lastMasterReport = 1000;
  const timed = run(s, 1000, 3000, ["s1", "s2"]);
  const convert = timed.find((x) => x.action.type === "convert_to_master");
  assert.ok(convert, "a member was elected");
  assert.ok(convert.at - lastMasterReport >= 1000, `not before the timeout (${convert.at})`);
  assert.ok(convert.at - lastMasterReport <= 1100, `within 1.1 s (${convert.at})`);
});

Deno.test("each failover raises the epoch by one", () => {
  const s = make();
  const loads = { s1: { lastSeq: 10 }, s2: { lastSeq: 9 }, s3: { lastSeq: 8 }, s4: { lastSeq: 7 } };
  cluster(s, 0, loads);
  assert.equal(s.epoch, 1);
  const first = actionsOf(run(s, 0, 1100, ["s1", "s2", "s3", "s4"], loads));
  assert.equal(only(first, "convert_to_master").nodeId, "s1");
  assert.equal(s.epoch, 2);
  const second = actionsOf(run(s, 1100, 2300, ["s2", "s3", "s4"], loads));
  const convert = only(second, "convert_to_master");
  assert.equal(convert.nodeId, "s2");
  assert.equal(convert.epoch, 3);
  assert.equal(s.epoch, 3);
  assert.equal(s.snapshot().masterEpoch, 3);
  const ack = only(rep(s, "s2", 2400), "report_ack");
  assert.equal(ack.epoch, 3);
  assert.equal(ack.master?.nodeId, "s2");
});

Deno.test("deregister() of the master starts a round at once; of a slave tells the master", async (t) => {
  const s = make();
  cluster(s, 0, { s1: { lastSeq: 3 }, s2: { lastSeq: 4 }, s3: { lastSeq: 2 }, s4: { lastSeq: 1 } });

  await t.step("a slave leaving", () => {
    const actions = s.deregister({ nodeId: "s1", runId: "run-s1" }, 100);
    const removed = only(actions, "slave_removed");
    assert.equal(removed.nodeId, "s1");
    assert.equal(removed.peer, "peer-m1");
    assert.equal(removed.reason, "deregistered");
    assert.equal(view(s, "s1").alive, false);
  });

  await t.step("the master leaving: the departing node is not asked", () => {
    const actions = answer(s, s.deregister({ nodeId: "m1", runId: "run-m1" }, 200), 200);
    assert.deepEqual(ofType(actions, "prepare").map((p) => p.nodeId), ["s2", "s3", "s4"]);
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

// --- below a majority ----------------------------------------------------------------------------

Deno.test("no round starts below a majority of live members, and one log line says why", async (t) => {
  const s = make();
  const members = ["m1", "s1", "s2", "s3", "s4"];
  const waiting = /^No master, and no election possible/;

  await t.step("each change in the count is logged once; no prepare", () => {
    const first = reg(s, "m1", 0, { role: "master", members });
    assert.deepEqual(logged(first, waiting, "warn"), [
      "No master, and no election possible: 1 of 5 members live, 3 needed",
    ]);
    const second = reg(s, "s1", 10);
    assert.deepEqual(logged(second, waiting, "warn"), [
      "No master, and no election possible: 2 of 5 members live, 3 needed",
    ]);
    const later = actionsOf(run(s, 0, 900, ["m1", "s1"]));
    assert.equal(logged(later, waiting).length, 0, "the same count is not logged again");
    assert.equal(ofType([...first, ...second, ...later], "prepare").length, 0);
    assert.equal(s.snapshot().election, null);
    assert.equal(s.epoch, 0);
  });

  await t.step("the third member makes a majority: a round asks the three", () => {
    const actions = answer(s, reg(s, "s2", 950), 950);
    assert.deepEqual(ofType(actions, "prepare").map((p) => p.nodeId), ["m1", "s1", "s2"]);
    assert.equal(logged(actions, waiting).length, 0);
    assert.equal(only(actions, "convert_to_master").nodeId, "m1");
  });

  await t.step("the master and one slave lost: masterless, logged again, no round", () => {
    const actions = actionsOf(run(s, 950, 2100, ["s1"]));
    assert.equal(logged(actions, /Master m1 lost/, "error").length, 1);
    assert.deepEqual(logged(actions, waiting, "warn"), [
      "No master, and no election possible: 1 of 5 members live, 3 needed",
    ]);
    assert.equal(ofType(actions, "prepare").length, 0);
    assert.equal(s.snapshot().masterId, null);
    assert.equal(s.epoch, 1);
    assert.deepEqual(s.discover({ wantMaster: true }, 2100), { type: "none", reason: "no master" });
  });
});

Deno.test("a master lost below a majority: it may come back as master, or the members elect by position", async (t) => {
  // m1 is master at epoch 1 and holds (1, 50); both slaves die, then m1: nobody is live.
  const lost = () => {
    const s = make();
    cluster(s, 0, { s1: { lastSeq: 40 }, s2: { lastSeq: 40 } }, { master: { lastSeq: 50 } });
    run(s, 0, 1000, ["m1"], { m1: { lastSeq: 50 } });
    const actions = actionsOf(run(s, 1000, 2100, []));
    assert.equal(logged(actions, /Master m1 lost/, "error").length, 1);
    assert.equal(logged(actions, /0 of 3 members live, 2 needed/, "warn").length, 1);
    assert.equal(s.snapshot().masterId, null);
    assert.deepEqual(s.discover({}, 2100), { type: "none", reason: "no node available" });
    return s;
  };

  await t.step("the old master itself comes back with its epoch: master again, no round", () => {
    const s = lost();
    const back = only(reg(s, "s1", 2100, { runId: "run-s1-b" }), "register_reply");
    assert.equal(back.role, "slave");
    assert.equal(back.master, undefined);
    assert.match(back.reason, /^no master: accepted as slave/);
    const actions = reg(s, "m1", 2200, { role: "master", epoch: 1, load: { lastSeq: 50 } });
    const reply = only(actions, "register_reply");
    assert.equal(reply.role, "master");
    assert.equal(reply.epoch, 1);
    assert.equal(only(actions, "change_master").nodeId, "s1");
    assert.equal(ofType(actions, "prepare").length, 0);
    assert.equal(s.epoch, 1);
  });

  await t.step("a restarted master without its epoch: the round elects it by its position", () => {
    const s = lost();
    votersOf(s).positions.set("s1", { epoch: 1, seq: 40 });
    votersOf(s).positions.set("m1", { epoch: 1, seq: 50 });
    reg(s, "s1", 2100, { runId: "run-s1-b", load: { lastSeq: 40 } });
    const actions = answer(
      s,
      reg(s, "m1", 2200, { role: "master", runId: "run-m1-b", load: { lastSeq: 50 } }),
      2200,
    );
    const reply = only(actions, "register_reply");
    assert.equal(reply.role, "slave", "the registration itself elects no one");
    assert.deepEqual(ofType(actions, "prepare").map((p) => [p.nodeId, p.epoch]), [
      ["m1", 2],
      ["s1", 2],
    ]);
    assert.deepEqual(only(actions, "convert_to_master"), {
      type: "convert_to_master",
      peer: "peer-m1",
      nodeId: "m1",
      epoch: 2,
    });
    assert.equal(only(actions, "change_master").nodeId, "s1");
  });

  await t.step("members behind the lost master: the best of them is elected at once", () => {
    // Writes beyond (1, 40) were never on a majority, so never acknowledged: nothing to wait for.
    const s = lost();
    votersOf(s).positions.set("s1", { epoch: 1, seq: 40 });
    votersOf(s).positions.set("s2", { epoch: 0, seq: 0 });
    reg(s, "s2", 2100, { runId: "run-s2-b" });
    const actions = answer(s, reg(s, "s1", 2150, { runId: "run-s1-b" }), 2150);
    const convert = only(actions, "convert_to_master");
    assert.equal(convert.nodeId, "s1");
    assert.equal(convert.epoch, 2);
    assert.equal(s.snapshot().masterId, "s1");
  });
});
