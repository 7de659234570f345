// Sentinel tests: registration and membership, run ids and epochs, registry restart.
import assert from "node:assert/strict";
import { Sentinel } from "./sentinel.ts";
import type { ChangeMasterAction, Role, SentinelAction } from "./types.ts";
import {
  actionsOf,
  addr,
  answer,
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

const M3 = ["m1", "s1", "s2"];

// --- registration --------------------------------------------------------------------------------

Deno.test("register() appoints no one: the configured master is elected at epoch 1 once a majority promised", async (t) => {
  const s = make();

  await t.step(
    "the configured master alone is accepted as a slave; no round below a majority",
    () => {
      const actions = reg(s, "m1", 0, { role: "master", members: M3 });
      const reply = only(actions, "register_reply");
      assert.equal(reply.accepted, true);
      assert.equal(reply.role, "slave");
      assert.equal(reply.peer, "peer-m1");
      assert.equal(reply.master, undefined);
      assert.equal(reply.epoch, 0);
      assert.equal(
        reply.reason,
        "no master: accepted as slave; a master is elected once 2 of the 3 members promise a new epoch",
      );
      assert.equal(ofType(actions, "prepare").length, 0);
      assert.deepEqual(logged(actions, /^No master, and no election possible/, "warn"), [
        "No master, and no election possible: 1 of 3 members live, 2 needed",
      ]);
      const snap = s.snapshot();
      assert.equal(snap.masterId, null);
      assert.equal(snap.epoch, 0);
      assert.deepEqual(snap.members, M3);
      assert.equal(snap.election, null);
    },
  );

  await t.step("a slave registering makes a majority: both are asked to promise epoch 1", () => {
    const actions = reg(s, "s1", 10);
    const reply = only(actions, "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.equal(reply.master, undefined);
    assert.deepEqual(ofType(actions, "prepare"), [
      { type: "prepare", peer: "peer-m1", nodeId: "m1", epoch: 1, registryId: "registry" },
      { type: "prepare", peer: "peer-s1", nodeId: "s1", epoch: 1, registryId: "registry" },
    ]);
    assert.deepEqual(logged(actions, /^Election for epoch 1/, "info"), [
      "Election for epoch 1: asking m1, s1",
    ]);
    assert.equal(commands(actions).length, 0);
    assert.equal(s.epoch, 1, "the epoch is spent once asked for");
    assert.deepEqual(s.snapshot().election, { epoch: 1, startedAt: 10, promised: [] });
    assert.equal(s.snapshot().masterId, null);
  });

  await t.step("one promise is not a majority", () => {
    const actions = prom(s, "s1", 20, { load: { loadFactor: 0.01 } });
    assert.equal(commands(actions).length, 0);
    assert.deepEqual(s.snapshot().election?.promised, ["s1"]);
    assert.equal(view(s, "s1").lastSeen, 20, "a promise counts as contact");
  });

  await t.step("the second promise elects the configured master, though more loaded", () => {
    const actions = prom(s, "m1", 30, { configuredRole: "master", load: { loadFactor: 0.9 } });
    assert.deepEqual(only(actions, "convert_to_master"), {
      type: "convert_to_master",
      peer: "peer-m1",
      nodeId: "m1",
      epoch: 1,
    });
    const change = only(actions, "change_master");
    assert.equal(change.nodeId, "s1");
    assert.deepEqual(change.master, addr("m1", "master"));
    assert.equal(change.epoch, 1);
    const elected = ofType(actions, "log").find((l) => /^m1 is master at epoch 1/.test(l.message));
    assert.equal(
      elected?.message,
      "m1 is master at epoch 1: elected by promises from 2 of 3 members",
    );
    assert.equal((elected?.fields?.candidates as unknown[]).length, 2);
    const snap = s.snapshot();
    assert.equal(snap.masterId, "m1");
    assert.equal(snap.masterEpoch, 1);
    assert.equal(snap.epoch, 1);
    assert.equal(snap.election, null);
    assert.equal(view(s, "s1").follows, "m1");
  });

  await t.step("the third member registers as a slave of m1", () => {
    const reply = only(reg(s, "s2", 40), "register_reply");
    assert.equal(reply.role, "slave");
    assert.deepEqual(reply.master, addr("m1", "master"));
    assert.equal(reply.epoch, 1);
  });
});

Deno.test("register() accepts a slave of a new cluster without naming a master", () => {
  const s = make();
  const actions = reg(s, "s1", 0, { members: M3 });
  const reply = only(actions, "register_reply");
  assert.equal(reply.accepted, true);
  assert.equal(reply.role, "slave");
  assert.equal(reply.master, undefined);
  assert.match(reply.reason, /^no master: accepted as slave/);
  assert.equal(commands(actions).length, 0);
  assert.equal(view(s, "s1").follows, null);
  assert.equal(s.epoch, 0);
});

Deno.test("register() accepts a slave of the live master and names the master", () => {
  const s = make();
  cluster(s, 0, { s1: {} }, { members: M3 });
  const actions = reg(s, "s2", 10, { load: { lastSeq: 5 } });
  const reply = only(actions, "register_reply");
  assert.equal(reply.accepted, true);
  assert.equal(reply.role, "slave");
  assert.deepEqual(reply.master, addr("m1", "master"));
  assert.equal(reply.epoch, 1);
  assert.equal(commands(actions).length, 0);
  assert.equal(ofType(actions, "prepare").length, 0);
  assert.equal(view(s, "s2").follows, "m1");
  assert.equal(view(s, "s2").load.lastSeq, 5);
});

Deno.test("register() rejects a second master while a live master exists", () => {
  const s = make();
  cluster(s, 0, { s1: {} }, { members: ["m1", "m2", "s1"] });
  const reply = only(reg(s, "m2", 10, { role: "master" }), "register_reply");
  assert.equal(reply.accepted, false);
  assert.equal(reply.role, "master");
  assert.match(reply.reason, /master m1 .* is alive: a second master is not allowed/);
  assert.deepEqual(reply.master, addr("m1", "master"));
  assert.equal(s.snapshot().masterId, "m1");
  assert.equal(s.nodes().length, 2);
});

Deno.test("register() rejects malformed registrations with a reason", async (t) => {
  const s = make();
  cluster(s, 0, { s1: {} });
  const base = {
    peer: "p",
    address: addr("x1"),
    runId: "run-x1",
    role: "slave" as Role,
    load: load(),
    members: ["m1", "s1"],
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
  assert.equal(s.nodes().length, 2);
});

Deno.test("register() checks the node's cluster.members against the cluster's", async (t) => {
  const s = make();
  const rejected = (actions: SentinelAction[], reason: RegExp) => {
    const reply = only(actions, "register_reply");
    assert.equal(reply.accepted, false);
    assert.match(reply.reason, reason);
    assert.equal(logged(actions, /^Rejected registration/, "warn").length, 1);
  };

  await t.step("none sent, or an empty list: rejected, and nothing is fixed", () => {
    rejected(reg(s, "m1", 0, { members: undefined }), /sends no cluster\.members/);
    rejected(reg(s, "m1", 0, { members: [] }), /sends no cluster\.members/);
    assert.equal(s.snapshot().members, null);
    assert.deepEqual(s.nodes(), []);
  });

  await t.step("a list without the node itself: rejected", () => {
    rejected(
      reg(s, "m1", 0, { members: ["s1", "s2"] }),
      /^m1 is not in its own cluster\.members \[s1, s2\]$/,
    );
    assert.equal(s.snapshot().members, null);
  });

  await t.step("the first accepted registration fixes the members", () => {
    assert.equal(only(reg(s, "m1", 10, { members: M3 }), "register_reply").accepted, true);
    assert.deepEqual(s.snapshot().members, M3);
  });

  await t.step("the same set in another order is accepted", () => {
    const reply = only(reg(s, "s2", 20, { members: ["s2", "m1", "s1"] }), "register_reply");
    assert.equal(reply.accepted, true, reply.reason);
    assert.deepEqual(s.snapshot().members, M3);
  });

  await t.step("a differing set is rejected, naming both lists", () => {
    rejected(
      reg(s, "s1", 30, { members: ["m1", "s1"] }),
      /^its cluster\.members \[m1, s1\] differ from the cluster's \[m1, s1, s2\]/,
    );
    rejected(
      reg(s, "s1", 30, { members: ["m1", "s1", "s2", "s3"] }),
      /\[m1, s1, s2, s3\] differ from the cluster's \[m1, s1, s2\]/,
    );
    assert.equal(s.nodes().some((n) => n.nodeId === "s1"), false);
    assert.deepEqual(s.snapshot().members, M3);
  });
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
  const failedOver = () => {
    const s = make();
    const loads = { s1: { lastSeq: 10 }, s2: { lastSeq: 10 } };
    cluster(s, 0, loads, { master: { lastSeq: 10 } });
    const timed = run(s, 0, 1100, ["s1", "s2"], loads);
    assert.equal(only(actionsOf(timed), "convert_to_master").nodeId, "s1");
    assert.equal(s.epoch, 2);
    return s;
  };

  await t.step("a restarted process (new run, epoch 0) wishing master", () => {
    const s = failedOver();
    const actions = reg(s, "m1", 1200, { role: "master", runId: "run-m1-b" });
    const reply = only(actions, "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.deepEqual(reply.master, addr("s1", "master"));
    assert.match(reply.reason, /master s1 \(epoch 2\) is alive .* accepted as slave/);
    assert.equal(logged(actions, /accepted as slave/, "warn").length, 1);
    assert.equal(s.snapshot().masterId, "s1");
    assert.equal(view(s, "m1").role, "slave");
  });

  await t.step("the same process again with its old epoch", () => {
    const s = failedOver();
    const reply = only(reg(s, "m1", 1200, { role: "master", epoch: 1 }), "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.equal(reply.master?.nodeId, "s1");
    assert.equal(reply.epoch, 2);
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
    assert.equal(logged(actions, /Ignored a report from run run-s1 of s1/).length, 1);
    const v = view(s, "s1");
    assert.equal(v.runId, "run-s1-b");
    assert.equal(v.lastSeen, 1150);
    assert.equal(v.load.lastSeq, 0);
  });

  await t.step("a late promise from the old run is ignored too", () => {
    const actions = prom(s, "s1", 1220, { runId: "run-s1", epoch: 1 });
    assert.equal(logged(actions, /Ignored a promise from s1 \(run run-s1\)/).length, 1);
    assert.equal(view(s, "s1").lastSeen, 1150);
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
  cluster(s, 0, { s1: {} });
  const actions = rep(s, "s9", 10, { role: "slave", epoch: 1 });
  const ack = only(actions, "report_ack");
  assert.equal(ack.known, false);
  assert.equal(ack.peer, "peer-s9");
  assert.equal(ack.master?.nodeId, "m1");
  assert.equal(commands(actions).length, 0);
  assert.equal(s.nodes().length, 2);
});

Deno.test("a stale master with an older epoch is told to step down", async (t) => {
  const s = make();
  const loads = { s1: { lastSeq: 10 }, s2: { lastSeq: 10 } };
  cluster(s, 0, loads, { master: { lastSeq: 10 } });
  // m1 pauses; s1 is elected at epoch 2.
  run(s, 0, 1100, ["s1", "s2"], loads);
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

Deno.test("register_reply and report_ack carry the master's epoch, or the cluster epoch without one", async (t) => {
  await t.step("with a master: its epoch, to accepted, rejected and unknown nodes alike", () => {
    const s = make();
    const loads = { s1: { lastSeq: 3 }, s2: { lastSeq: 2 }, s3: { lastSeq: 1 } };
    cluster(s, 0, loads, { members: ["m1", "s1", "s2", "s3", "s4"] });
    run(s, 0, 1100, ["s1", "s2", "s3"], loads);
    assert.equal(s.snapshot().masterId, "s1");
    assert.equal(s.snapshot().masterEpoch, 2);
    assert.equal(only(reg(s, "s4", 1110), "register_reply").epoch, 2);
    assert.equal(only(reg(s, "s1", 1120, { runId: "other" }), "register_reply").epoch, 2);
    assert.equal(only(rep(s, "s2", 1130), "report_ack").epoch, 2);
    assert.equal(only(rep(s, "x9", 1140, { epoch: 0 }), "report_ack").epoch, 2);
  });

  await t.step("without a master: the cluster epoch, which counts the rounds' spent epochs", () => {
    const s = make({ electionTimeoutMs: 300 });
    reg(s, "m1", 0, { role: "master", members: M3 });
    reg(s, "s1", 0); // round 1, never answered
    s.tick(300); // round 2
    assert.equal(s.snapshot().masterId, null);
    assert.equal(s.epoch, 2);
    const reply = only(reg(s, "s2", 310), "register_reply");
    assert.equal(reply.epoch, 2);
    assert.equal(reply.master, undefined);
    const ack = only(rep(s, "s1", 320), "report_ack");
    assert.equal(ack.epoch, 2);
    assert.equal(ack.master, undefined);
  });

  await t.step("a master recognised after a registry restart: its own epoch", () => {
    const s = make();
    const reply = only(
      reg(s, "m1", 0, { role: "master", epoch: 7, members: M3 }),
      "register_reply",
    );
    assert.equal(reply.role, "master");
    assert.equal(reply.epoch, 7);
    assert.equal(only(rep(s, "m1", 10), "report_ack").epoch, 7);
  });
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
          ? reg(s, id, t0, { role: "master", epoch: 7, load: { lastSeq: 500 }, members: M3 })
          : reg(s, id, t0, { masterId: "m1", epoch: 7, load: { lastSeq: 499 }, members: M3 });
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
      assert.equal(ofType(all, "prepare").length, 0, "no election round");
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
  reg(s, "s1", 10, { masterId: "m1", epoch: 7, load: { lastSeq: 40 }, members: M3 });
  reg(s, "s2", 20, { masterId: "m1", epoch: 7, load: { lastSeq: 41 } });
  const loads = { s1: { lastSeq: 40 }, s2: { lastSeq: 41 } };
  const timed = run(s, 0, 4000, ["s1", "s2"], loads);
  const prepare = timed.find((x) => x.action.type === "prepare");
  assert.equal(prepare?.at, 3000, "no round during the grace, one at its end");
  const convert = timed.find((x) => x.action.type === "convert_to_master");
  assert.equal(convert?.at, 3000);
  assert.deepEqual(convert?.action, {
    type: "convert_to_master",
    peer: "peer-s2",
    nodeId: "s2",
    epoch: 8,
  });
  assert.equal(only(actionsOf(timed), "change_master").nodeId, "s1");
});

Deno.test("a new cluster elects its first master only once the registry's recovery grace is over", () => {
  const s = new Sentinel({ recoveryGraceMs: 5000, stallThresholdMs: Infinity, now: 0 });
  // Whatever the order, everyone is a slave while the registry may still learn of a master.
  const s1 = only(reg(s, "s1", 10, { members: M3 }), "register_reply");
  assert.equal(s1.role, "slave");
  assert.match(s1.reason, /registry is recovering/);
  const m1 = only(reg(s, "m1", 20, { role: "master" }), "register_reply");
  assert.equal(m1.accepted, true);
  assert.equal(m1.role, "slave");
  assert.equal(m1.master, undefined);
  assert.match(m1.reason, /^no master: accepted as slave/);
  assert.equal(s.snapshot().recovering, true);
  const timed = run(s, 50, 6000, ["m1", "s1"]);
  assert.equal(timed.find((x) => x.action.type === "prepare")?.at, 5000);
  const convert = timed.find((x) => x.action.type === "convert_to_master");
  assert.equal(convert?.at, 5000);
  assert.equal((convert?.action as { nodeId: string }).nodeId, "m1");
  assert.equal(s.epoch, 1);
});

Deno.test("after the grace, a slave of a master the registry never saw is accepted and may be elected", () => {
  const s = make();
  const first = reg(s, "s1", 0, { masterId: "m1", epoch: 7, load: { lastSeq: 30 }, members: M3 });
  const reply = only(first, "register_reply");
  assert.equal(reply.accepted, true);
  assert.equal(reply.role, "slave");
  assert.equal(reply.epoch, 7);
  assert.equal(logged(first, /1 of 3 members live, 2 needed/).length, 1);
  // A second member makes a majority: the round asks for epoch 8, the one holding more wins.
  const actions = answer(
    s,
    reg(s, "s2", 10, { masterId: "m1", epoch: 7, load: { lastSeq: 20 } }),
    10,
  );
  assert.deepEqual(ofType(actions, "prepare").map((p) => [p.nodeId, p.epoch]), [["s1", 8], [
    "s2",
    8,
  ]]);
  const convert = only(actions, "convert_to_master");
  assert.equal(convert.nodeId, "s1");
  assert.equal(convert.epoch, 8);
  assert.equal(only(actions, "change_master").nodeId, "s2");
  // The old master coming back late with epoch 7 is a slave now.
  const late = only(reg(s, "m1", 100, { role: "master", epoch: 7 }), "register_reply");
  assert.equal(late.role, "slave");
  assert.equal(late.master?.nodeId, "s1");
  assert.equal(late.epoch, 8);
});

Deno.test("after a registry restart the higher epoch wins between two master claims", async (t) => {
  const members = ["m0", "m1", "s1"];

  await t.step("stale master first, real master second: the real one takes over", () => {
    const s = new Sentinel({ recoveryGraceMs: 3000 });
    assert.equal(
      only(reg(s, "m0", 0, { role: "master", epoch: 3, members }), "register_reply").role,
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
    reg(s, "m1", 0, { role: "master", epoch: 5, members });
    const reply = only(reg(s, "m0", 10, { role: "master", epoch: 3 }), "register_reply");
    assert.equal(reply.accepted, true);
    assert.equal(reply.role, "slave");
    assert.equal(reply.master?.nodeId, "m1");
    assert.equal(s.snapshot().masterId, "m1");
  });

  await t.step("a slave showing a newer epoch demotes a stale master recognised first", () => {
    const s = new Sentinel({ recoveryGraceMs: 3000 });
    reg(s, "m0", 0, { role: "master", epoch: 3, members });
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
