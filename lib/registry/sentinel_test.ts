import assert from "node:assert/strict";
import { Sentinel } from "./sentinel.ts";
import type { SentinelOptions } from "./sentinel_options.ts";
import { SentinelOptionsError } from "./errors.ts";
import type { ChangeMasterAction, NodeAddress, NodeLoad, Role, SentinelAction } from "./types.ts";
import { mulberry32 } from "../random/mod.ts";

// --- helpers -------------------------------------------------------------------------------------

function addr(nodeId: string, role: Role = "slave"): NodeAddress {
  return {
    nodeId,
    host: `${nodeId}.local`,
    clientPort: 7000,
    clusterPort: 7001,
    publishPort: 7002,
    httpPort: 7003,
    role,
  };
}

function load(over: Partial<NodeLoad> = {}): NodeLoad {
  return {
    connections: 0,
    users: 0,
    tickAvgMs: 2,
    tickP99Ms: 4,
    loadFactor: 0.1,
    lastSeq: 0,
    sessions: 0,
    ...over,
  };
}

/** Test sentinel: no recovery grace and no stall detection unless a test asks for them. */
function make(options: SentinelOptions = {}): Sentinel {
  return new Sentinel({ recoveryGraceMs: 0, stallThresholdMs: Infinity, ...options });
}

interface NodeOpts {
  role?: Role;
  runId?: string;
  peer?: string;
  load?: Partial<NodeLoad>;
  masterId?: string;
  epoch?: number;
}

function reg(s: Sentinel, nodeId: string, now: number, o: NodeOpts = {}): SentinelAction[] {
  return s.register({
    peer: o.peer ?? `peer-${nodeId}`,
    address: addr(nodeId, o.role ?? "slave"),
    runId: o.runId ?? `run-${nodeId}`,
    role: o.role ?? "slave",
    load: load(o.load),
    masterId: o.masterId,
    epoch: o.epoch ?? 0,
  }, now);
}

/** A report from a well-behaved node: its role as the registry sees it, the cluster epoch. */
function rep(s: Sentinel, nodeId: string, now: number, o: NodeOpts = {}): SentinelAction[] {
  return s.report({
    peer: o.peer ?? `peer-${nodeId}`,
    nodeId,
    runId: o.runId ?? `run-${nodeId}`,
    role: o.role ?? roleOf(s, nodeId),
    load: load(o.load),
    epoch: o.epoch ?? s.epoch,
  }, now);
}

function roleOf(s: Sentinel, nodeId: string): Role {
  return s.nodes().find((n) => n.nodeId === nodeId)?.role ?? "slave";
}

function view(s: Sentinel, nodeId: string) {
  const v = s.nodes().find((n) => n.nodeId === nodeId);
  assert.ok(v, `${nodeId} is in the view`);
  return v;
}

function ofType<T extends SentinelAction["type"]>(
  actions: SentinelAction[],
  type: T,
): Extract<SentinelAction, { type: T }>[] {
  return actions.filter((a): a is Extract<SentinelAction, { type: T }> => a.type === type);
}

function only<T extends SentinelAction["type"]>(
  actions: SentinelAction[],
  type: T,
): Extract<SentinelAction, { type: T }> {
  const found = ofType(actions, type);
  assert.equal(found.length, 1, `exactly one ${type} in ${JSON.stringify(actions)}`);
  return found[0];
}

function commands(actions: SentinelAction[]): SentinelAction[] {
  return actions.filter((a) => a.type === "convert_to_master" || a.type === "change_master");
}

/**
 * Runs time from `from` (exclusive, a multiple of 50) to `to` (inclusive): a tick every 50 ms, a
 * report from each of `reporters` every 100 ms (with the load given for it). Returns every action
 * with its time.
 */
function run(
  s: Sentinel,
  from: number,
  to: number,
  reporters: string[],
  loads: Record<string, Partial<NodeLoad>> = {},
): { at: number; action: SentinelAction }[] {
  assert.equal(from % 50, 0, "run() starts on a multiple of 50");
  const out: { at: number; action: SentinelAction }[] = [];
  for (let t = from + 50; t <= to; t += 50) {
    if (t % 100 === 0) {
      for (const id of reporters) {
        for (const action of rep(s, id, t, { load: loads[id] })) out.push({ at: t, action });
      }
    }
    for (const action of s.tick(t)) out.push({ at: t, action });
  }
  return out;
}

function actionsOf(timed: { at: number; action: SentinelAction }[]): SentinelAction[] {
  return timed.map((x) => x.action);
}

/** A master m1 and the given slaves, all registered at `t` (the master with `masterLoad`). */
function cluster(
  s: Sentinel,
  t: number,
  slaves: Record<string, Partial<NodeLoad>>,
  masterLoad: Partial<NodeLoad> = {},
): void {
  assert.equal(
    only(reg(s, "m1", t, { role: "master", load: masterLoad }), "register_reply").accepted,
    true,
  );
  for (const [id, l] of Object.entries(slaves)) {
    assert.equal(only(reg(s, id, t, { load: l }), "register_reply").accepted, true);
  }
}

// --- registration --------------------------------------------------------------------------------

Deno.test("register() appoints the first master of a new cluster at epoch 1", () => {
  const s = make();
  const actions = reg(s, "m1", 0, { role: "master" });
  const reply = only(actions, "register_reply");
  assert.equal(reply.accepted, true);
  assert.equal(reply.role, "master");
  assert.equal(reply.peer, "peer-m1");
  assert.equal(reply.epoch, 1);
  assert.deepEqual(reply.master, addr("m1", "master"));
  assert.match(reply.reason, /new cluster/);
  assert.equal(commands(actions).length, 0);
  assert.ok(ofType(actions, "log").some((l) => l.level === "info"));
  const snap = s.snapshot();
  assert.equal(snap.masterId, "m1");
  assert.equal(snap.epoch, 1);
  assert.equal(snap.masterEpoch, 1);
});

Deno.test("register() rejects a slave before any master exists", () => {
  const s = make();
  const actions = reg(s, "s1", 0);
  const reply = only(actions, "register_reply");
  assert.equal(reply.accepted, false);
  assert.equal(reply.role, "slave");
  assert.equal(reply.master, undefined);
  assert.match(reply.reason, /no master yet/);
  assert.ok(ofType(actions, "log").some((l) => l.level === "warn"));
  assert.deepEqual(s.nodes(), []);
  assert.equal(s.epoch, 0);
});

Deno.test("register() accepts a slave of the live master and names the master", () => {
  const s = make();
  reg(s, "m1", 0, { role: "master" });
  const actions = reg(s, "s1", 10, { load: { lastSeq: 5 } });
  const reply = only(actions, "register_reply");
  assert.equal(reply.accepted, true);
  assert.equal(reply.role, "slave");
  assert.deepEqual(reply.master, addr("m1", "master"));
  assert.equal(reply.epoch, 1);
  assert.equal(commands(actions).length, 0);
  assert.equal(view(s, "s1").follows, "m1");
  assert.equal(view(s, "s1").load.lastSeq, 5);
});

Deno.test("register() rejects a second master while a live master exists", () => {
  const s = make();
  reg(s, "m1", 0, { role: "master" });
  const reply = only(reg(s, "m2", 10, { role: "master" }), "register_reply");
  assert.equal(reply.accepted, false);
  assert.equal(reply.role, "master");
  assert.match(reply.reason, /master m1 .* is alive: a second master is not allowed/);
  assert.deepEqual(reply.master, addr("m1", "master"));
  assert.equal(s.snapshot().masterId, "m1");
  assert.equal(s.nodes().length, 1);
});

Deno.test("register() rejects malformed registrations with a reason", async (t) => {
  const s = make();
  reg(s, "m1", 0, { role: "master" });
  const base = {
    peer: "p",
    address: addr("x1"),
    runId: "run-x1",
    role: "slave" as Role,
    load: load(),
  };
  const cases: [string, Parameters<Sentinel["register"]>[0], RegExp][] = [
    ["empty node id", { ...base, address: addr("") }, /nodeId is empty/],
    ["empty host", { ...base, address: { ...addr("x1"), host: "" } }, /host is empty/],
    ["empty run id", { ...base, runId: "" }, /runId is empty/],
    ["single role", { ...base, role: "single" }, /single-mode/],
    ["bad epoch", { ...base, epoch: -1 }, /epoch -1/],
    ["fractional epoch", { ...base, epoch: 1.5 }, /epoch 1.5/],
  ];
  for (const [name, input, reason] of cases) {
    await t.step(name, () => {
      const reply = only(s.register(input, 10), "register_reply");
      assert.equal(reply.accepted, false);
      assert.match(reply.reason, reason);
    });
  }
  assert.equal(s.nodes().length, 1);
});

Deno.test("register() refuses a duplicate node id from another run until the first run is dead", async (t) => {
  const s = make();
  cluster(s, 0, { s1: {} });

  await t.step("another run while the first is alive is rejected", () => {
    const reply = only(reg(s, "s1", 500, { runId: "run-s1-b" }), "register_reply");
    assert.equal(reply.accepted, false);
    assert.match(reply.reason, /already registered by run run-s1/);
    assert.equal(view(s, "s1").runId, "run-s1");
  });

  await t.step("the same run again is an idempotent refresh that uses the new peer", () => {
    const before = s.snapshot();
    const actions = reg(s, "s1", 600, { peer: "peer-s1-new", load: { lastSeq: 9 } });
    const reply = only(actions, "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.equal(reply.peer, "peer-s1-new");
    assert.match(reply.reason, /refreshed/);
    assert.equal(commands(actions).length, 0);
    assert.equal(s.epoch, before.epoch);
    assert.equal(view(s, "s1").lastSeen, 600);
    assert.equal(view(s, "s1").load.lastSeq, 9);
    assert.equal(view(s, "s1").registeredAt, 0);
    // The master's own refresh keeps it master.
    const m = only(reg(s, "m1", 600, { role: "master", epoch: 1 }), "register_reply");
    assert.equal(m.role, "master");
    assert.equal(s.snapshot().masterId, "m1");
  });

  await t.step("once the first run is silent past the timeout, the new run replaces it", () => {
    run(s, 600, 1550, ["m1"]);
    assert.equal(view(s, "s1").alive, true, "950 ms after its refresh");
    assert.equal(only(reg(s, "s1", 1599, { runId: "run-s1-b" }), "register_reply").accepted, false);
    // No tick in between: the registration itself sees that the old run has gone silent.
    const reply = only(reg(s, "s1", 1600, { runId: "run-s1-b" }), "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(view(s, "s1").runId, "run-s1-b");
    assert.equal(view(s, "s1").alive, true);
  });
});

Deno.test("register() accepts a returning old master as a slave of the newer master", async (t) => {
  const s = make();
  cluster(s, 0, { s1: { lastSeq: 10 } }, { lastSeq: 10 });
  const timed = run(s, 0, 1100, ["s1"], { s1: { lastSeq: 10 } });
  assert.equal(only(actionsOf(timed), "convert_to_master").nodeId, "s1");
  assert.equal(s.epoch, 2);

  await t.step("a restarted process (new run, epoch 0) wishing master", () => {
    const actions = reg(s, "m1", 1200, { role: "master", runId: "run-m1-b" });
    const reply = only(actions, "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.deepEqual(reply.master, addr("s1", "master"));
    assert.match(reply.reason, /master s1 \(epoch 2\) is alive .* accepted as slave/);
    assert.ok(
      ofType(actions, "log").some((l) => l.level === "warn" && /accepted as slave/.test(l.message)),
    );
    assert.equal(s.snapshot().masterId, "s1");
    assert.equal(view(s, "m1").role, "slave");
  });

  await t.step("the same process again with its old epoch", () => {
    const s2 = make();
    cluster(s2, 0, { s1: { lastSeq: 10 } }, { lastSeq: 10 });
    run(s2, 0, 1100, ["s1"], { s1: { lastSeq: 10 } });
    const reply = only(reg(s2, "m1", 1200, { role: "master", epoch: 1 }), "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.equal(reply.master?.nodeId, "s1");
    assert.equal(reply.epoch, 2);
  });
});

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

// --- run ids and epochs --------------------------------------------------------------------------

Deno.test("events from an older run of a node never refresh or remove the new run", async (t) => {
  const s = make();
  cluster(s, 0, { s1: {} });
  run(s, 0, 1100, ["m1"]);
  assert.equal(view(s, "s1").alive, false);
  assert.equal(only(reg(s, "s1", 1150, { runId: "run-s1-b" }), "register_reply").accepted, true);

  await t.step("a late report from the old run is answered known=false and changes nothing", () => {
    const actions = rep(s, "s1", 1200, { runId: "run-s1", load: { lastSeq: 999 } });
    const ack = only(actions, "report_ack");
    assert.equal(ack.known, false);
    assert.ok(
      ofType(actions, "log").some((l) => /Ignored a report from run run-s1 of s1/.test(l.message)),
    );
    const v = view(s, "s1");
    assert.equal(v.runId, "run-s1-b");
    assert.equal(v.lastSeen, 1150);
    assert.equal(v.load.lastSeq, 0);
  });

  await t.step("a late goodbye from the old run does not remove the new run", () => {
    const actions = s.deregister({ nodeId: "s1", runId: "run-s1" }, 1250);
    assert.equal(ofType(actions, "slave_removed").length, 0);
    assert.equal(view(s, "s1").alive, true);
  });

  await t.step("the new run's own goodbye does", () => {
    s.deregister({ nodeId: "s1", runId: "run-s1-b" }, 1300);
    assert.equal(view(s, "s1").alive, false);
  });
});

Deno.test("a node that died comes back with a new run id as a slave", () => {
  const s = make();
  cluster(s, 0, { s1: { lastSeq: 4 } });
  const removed = actionsOf(run(s, 0, 1100, ["m1"]));
  assert.equal(only(removed, "slave_removed").nodeId, "s1");
  // Its reports are no longer accepted: it must register again.
  assert.equal(only(rep(s, "s1", 1150), "report_ack").known, false);
  const actions = reg(s, "s1", 1200, { runId: "run-s1-b", peer: "peer-s1-b" });
  const reply = only(actions, "register_reply");
  assert.equal(reply.accepted, true);
  assert.equal(reply.role, "slave");
  assert.equal(reply.peer, "peer-s1-b");
  assert.equal(reply.master?.nodeId, "m1");
  const v = view(s, "s1");
  assert.equal(v.alive, true);
  assert.equal(v.runId, "run-s1-b");
  assert.equal(v.diedAt, null);
  assert.equal(only(rep(s, "s1", 1300, { runId: "run-s1-b" }), "report_ack").known, true);
});

Deno.test("report() from an unknown node answers known=false so it registers again", () => {
  const s = make();
  reg(s, "m1", 0, { role: "master" });
  const actions = rep(s, "s9", 10, { role: "slave", epoch: 1 });
  const ack = only(actions, "report_ack");
  assert.equal(ack.known, false);
  assert.equal(ack.peer, "peer-s9");
  assert.equal(ack.master?.nodeId, "m1");
  assert.equal(commands(actions).length, 0);
  assert.equal(s.nodes().length, 1);
});

Deno.test("a stale master with an older epoch is told to step down", async (t) => {
  const s = make();
  cluster(s, 0, { s1: { lastSeq: 10 } }, { lastSeq: 10 });
  // m1 pauses; s1 is promoted at epoch 2.
  run(s, 0, 1100, ["s1"], { s1: { lastSeq: 10 } });
  assert.equal(s.snapshot().masterId, "s1");

  await t.step(
    "its report after the pause: known=false and change_master to the new master",
    () => {
      const actions = rep(s, "m1", 1150, { role: "master", epoch: 1 });
      const ack = only(actions, "report_ack");
      assert.equal(ack.known, false);
      assert.equal(ack.master?.nodeId, "s1");
      const change = only(actions, "change_master");
      assert.equal(change.nodeId, "m1");
      assert.equal(change.peer, "peer-m1");
      assert.deepEqual(change.master, addr("s1", "master"));
      assert.equal(change.epoch, 2);
      assert.equal(s.snapshot().masterId, "s1");
    },
  );

  await t.step("it re-registers wishing master and is accepted as a slave", () => {
    const reply = only(reg(s, "m1", 1200, { role: "master", epoch: 1 }), "register_reply");
    assert.equal(reply.role, "slave");
    assert.equal(reply.master?.nodeId, "s1");
  });

  await t.step("still reporting as master, it is told again, with known=true", () => {
    const actions = rep(s, "m1", 1300, { role: "master", epoch: 1 });
    assert.equal(only(actions, "report_ack").known, true);
    assert.equal(only(actions, "change_master").master.nodeId, "s1");
    assert.equal(s.snapshot().masterId, "s1");
    assert.equal(view(s, "m1").role, "slave");
  });

  await t.step("once it follows, nothing more is sent", () => {
    const actions = rep(s, "m1", 1400, { role: "slave", epoch: 2 });
    assert.equal(commands(actions).length, 0);
  });
});

Deno.test("report() repeats a convert_to_master or change_master the node missed", () => {
  const s = make();
  const loads = { s1: { lastSeq: 5 }, s2: { lastSeq: 6 } };
  cluster(s, 0, loads);
  run(s, 0, 1100, ["s1", "s2"], loads);
  assert.equal(s.snapshot().masterId, "s2");

  const toMaster = rep(s, "s2", 1150, { role: "slave", epoch: 1 });
  assert.equal(only(toMaster, "report_ack").known, true);
  const convert = only(toMaster, "convert_to_master");
  assert.equal(convert.nodeId, "s2");
  assert.equal(convert.epoch, 2);

  const toSlave = rep(s, "s1", 1150, { role: "slave", epoch: 1 });
  const change = only(toSlave, "change_master") as ChangeMasterAction;
  assert.equal(change.master.nodeId, "s2");
  assert.equal(change.epoch, 2);

  assert.equal(commands(rep(s, "s1", 1200, { role: "slave", epoch: 2 })).length, 0);
  assert.equal(commands(rep(s, "s2", 1200, { role: "master", epoch: 2 })).length, 0);
});

// --- registry restart ----------------------------------------------------------------------------

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) =>
    permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest])
  );
}

Deno.test("a restarted registry rebuilds the cluster from re-registrations in any order without a failover", async (t) => {
  for (const order of permutations(["m1", "s1", "s2"])) {
    await t.step(order.join(" → "), () => {
      const s = new Sentinel({ recoveryGraceMs: 3000, stallThresholdMs: Infinity });
      const all: SentinelAction[] = [];
      // Reports arriving before the re-registration are answered known=false.
      const early = rep(s, order[0], 0, { role: order[0] === "m1" ? "master" : "slave", epoch: 7 });
      assert.equal(only(early, "report_ack").known, false);
      assert.equal(commands(early).length, 0);
      let t0 = 10;
      for (const id of order) {
        const actions = id === "m1"
          ? reg(s, id, t0, { role: "master", epoch: 7, load: { lastSeq: 500 } })
          : reg(s, id, t0, { masterId: "m1", epoch: 7, load: { lastSeq: 499 } });
        const reply = only(actions, "register_reply");
        assert.equal(reply.accepted, true, reply.reason);
        assert.equal(reply.role, id === "m1" ? "master" : "slave");
        assert.equal(reply.epoch, 7);
        all.push(...actions);
        t0 += 10;
      }
      assert.equal(s.snapshot().recovering, true);
      all.push(...actionsOf(run(s, 0, 8000, ["m1", "s1", "s2"])));
      assert.deepEqual(commands(all), [], "no convert_to_master or change_master");
      const snap = s.snapshot();
      assert.equal(snap.recovering, false);
      assert.equal(snap.masterId, "m1");
      assert.equal(snap.epoch, 7);
      assert.equal(snap.masterEpoch, 7);
      assert.equal(view(s, "s1").follows, "m1");
      assert.equal(view(s, "s2").follows, "m1");
    });
  }
});

Deno.test("a restarted registry elects at the end of the grace when the master never returns", () => {
  const s = new Sentinel({ recoveryGraceMs: 3000, stallThresholdMs: Infinity, now: 0 });
  reg(s, "s1", 10, { masterId: "m1", epoch: 7, load: { lastSeq: 40 } });
  reg(s, "s2", 20, { masterId: "m1", epoch: 7, load: { lastSeq: 41 } });
  const loads = { s1: { lastSeq: 40 }, s2: { lastSeq: 41 } };
  const timed = run(s, 0, 4000, ["s1", "s2"], loads);
  const convert = timed.find((x) => x.action.type === "convert_to_master");
  assert.ok(convert);
  assert.equal(convert.at, 3000, "not during the grace, at its end");
  assert.deepEqual(convert.action, {
    type: "convert_to_master",
    peer: "peer-s2",
    nodeId: "s2",
    epoch: 8,
  });
  assert.equal(only(actionsOf(timed), "change_master").nodeId, "s1");
});

Deno.test("a new cluster forms normally while the registry is in its recovery grace", () => {
  const s = new Sentinel({ recoveryGraceMs: 5000, stallThresholdMs: Infinity, now: 0 });
  // Slaves started before the master are turned away; the master is appointed at once.
  assert.equal(only(reg(s, "s1", 10), "register_reply").accepted, false);
  assert.equal(only(reg(s, "m1", 20, { role: "master" }), "register_reply").epoch, 1);
  assert.equal(only(reg(s, "s1", 30), "register_reply").master?.nodeId, "m1");
  assert.equal(s.snapshot().recovering, true);
  // The master dies during the grace: the election waits for its end.
  const timed = run(s, 50, 6000, ["s1"]);
  const convert = timed.find((x) => x.action.type === "convert_to_master");
  assert.equal(convert?.at, 5000);
  assert.equal(s.epoch, 2);
});

Deno.test("after the grace, a slave of a master the registry never saw is accepted and may be elected", () => {
  const s = make();
  const actions = reg(s, "s1", 0, { masterId: "m1", epoch: 7, load: { lastSeq: 30 } });
  const reply = only(actions, "register_reply");
  assert.equal(reply.accepted, true);
  // Alone and at least as up to date as anything known: elected above the epoch it showed.
  assert.equal(reply.role, "master");
  assert.equal(reply.epoch, 8);
  // The old master coming back late with epoch 7 is a slave now.
  const late = only(reg(s, "m1", 100, { role: "master", epoch: 7 }), "register_reply");
  assert.equal(late.role, "slave");
  assert.equal(late.master?.nodeId, "s1");
});

Deno.test("after a registry restart the higher epoch wins between two master claims", async (t) => {
  await t.step("stale master first, real master second: the real one takes over", () => {
    const s = new Sentinel({ recoveryGraceMs: 3000 });
    assert.equal(
      only(reg(s, "m0", 0, { role: "master", epoch: 3 }), "register_reply").role,
      "master",
    );
    const actions = reg(s, "m1", 10, { role: "master", epoch: 5 });
    const reply = only(actions, "register_reply");
    assert.equal(reply.role, "master");
    assert.match(reply.reason, /took over from master m0/);
    const change = only(actions, "change_master");
    assert.equal(change.nodeId, "m0");
    assert.equal(change.master.nodeId, "m1");
    assert.equal(change.epoch, 5);
    assert.equal(ofType(actions, "convert_to_master").length, 0);
    assert.equal(s.snapshot().masterId, "m1");
    assert.equal(view(s, "m0").role, "slave");
  });

  await t.step("real master first, stale master second: the stale one becomes a slave", () => {
    const s = new Sentinel({ recoveryGraceMs: 3000 });
    reg(s, "m1", 0, { role: "master", epoch: 5 });
    const reply = only(reg(s, "m0", 10, { role: "master", epoch: 3 }), "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.equal(reply.master?.nodeId, "m1");
    assert.equal(s.snapshot().masterId, "m1");
  });

  await t.step("a slave showing a newer epoch demotes a stale master recognised first", () => {
    const s = new Sentinel({ recoveryGraceMs: 3000 });
    reg(s, "m0", 0, { role: "master", epoch: 3 });
    const slave = reg(s, "s1", 10, { masterId: "m1", epoch: 5 });
    assert.equal(only(slave, "register_reply").master, undefined);
    assert.equal(s.snapshot().masterId, null);
    assert.equal(s.epoch, 5);
    const actions = reg(s, "m1", 20, { role: "master", epoch: 5 });
    assert.equal(only(actions, "register_reply").role, "master");
    // s1 already follows m1; m0 must be told.
    assert.deepEqual(ofType(actions, "change_master").map((c) => c.nodeId), ["m0"]);
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
