import assert from "node:assert/strict";
import {
  ReplicaSync,
  type ReplicaTarget,
  type SnapshotMessage,
  type SyncAction,
  type UpdateMessage,
} from "./replica_sync.ts";
import { newReplicaState, TestMaster } from "../../tests/support/test_master.ts";
import type { GameState } from "../state/mod.ts";
import { mulberry32 as seeded } from "../random/mod.ts";

const OPTIONS = { silenceMs: 1000, snapshotTimeoutMs: 2000 };

function replica(options: Partial<typeof OPTIONS> & { maxBuffered?: number } = {}) {
  const state = newReplicaState();
  const sync = new ReplicaSync(state, { ...OPTIONS, ...options });
  return { state, sync };
}

function requests(actions: SyncAction[]): string[] {
  return actions.flatMap((a) => a.type === "request_snapshot" ? [a.reason] : []);
}

function acks(actions: SyncAction[]): number[] {
  return actions.flatMap((a) => a.type === "ack" ? [a.seq] : []);
}

function logs(actions: SyncAction[], level: string): string[] {
  return actions.flatMap((a) => a.type === "log" && a.level === level ? [a.message] : []);
}

/** Every user's state, sorted by id: equal worlds give equal lists whatever their memory layout. */
function usersOf(state: GameState): number[][] {
  const users: number[][] = [];
  state.world.forEachUser((id, x, y, vx, vy, money) => users.push([id, x, y, vx, vy, money]));
  return users.sort((a, b) => a[0] - b[0]);
}

function assertConverged(master: TestMaster, slave: GameState): void {
  assert.equal(slave.checksum(), master.state.checksum());
  assert.deepEqual(usersOf(slave), usersOf(master.state));
  assert.equal(slave.world.nextUserId, master.state.world.nextUserId);
  assert.deepEqual(slave.credentialsSnapshot(), master.state.credentialsSnapshot());
}

/** Starts `sync` against `master` and brings it live with a snapshot of the current state. */
function join(sync: ReplicaSync, master: TestMaster, now: number): void {
  assert.deepEqual(requests(sync.start(master.epoch, now)), ["start"]);
  const actions = sync.onSnapshot(master.snapshot(), now);
  assert.equal(sync.state, "live");
  assert.deepEqual(acks(actions), [master.seq]);
}

Deno.test("onUpdate() applies in-order updates, acks each, and tracks the master bit for bit", () => {
  const master = new TestMaster({ seed: 11 });
  const { state, sync } = replica();
  assert.equal(sync.state, "need_snapshot");
  join(sync, master, 0);
  for (let t = 1; t <= 300; t++) {
    const update = master.next(8);
    const actions = sync.onUpdate(update, t * 20);
    assert.deepEqual(acks(actions), [update.seq]);
    assert.deepEqual(requests(actions), []);
    assert.equal(state.checksum(), master.state.checksum(), `diverged at seq ${update.seq}`);
  }
  assert.equal(sync.lastSeq, 300);
  assert.equal(sync.masterId, "master-1");
  assert.equal(sync.stats.applied, 300);
  assert.equal(sync.stats.drifts, 0);
  assert.ok(master.state.world.size > 20, "the load logged users in");
  assertConverged(master, state);
});

Deno.test("a late joiner restores a snapshot and replays the updates buffered meanwhile", async (t) => {
  const master = new TestMaster({ seed: 12 });
  for (let i = 0; i < 50; i++) master.next(10);
  const { state, sync } = replica();
  let snapshot: SnapshotMessage | undefined;

  await t.step("updates before start() are ignored", () => {
    assert.deepEqual(sync.onUpdate(master.next(), 0), []);
    assert.equal(sync.stats.ignored, 1);
  });

  await t.step("start() asks for a snapshot and updates are buffered", () => {
    assert.deepEqual(requests(sync.start(1, 1000)), ["start"]);
    assert.equal(sync.state, "awaiting_snapshot");
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(sync.onUpdate(master.next(), 1000 + i), []);
    }
    // The master answers right after publishing update 54; three more updates follow.
    snapshot = master.snapshot();
    for (let i = 0; i < 3; i++) sync.onUpdate(master.next(), 1010 + i);
    assert.equal(sync.buffered, 6);
  });

  await t.step("onSnapshot() restores, skips what the snapshot holds, applies the rest", () => {
    const actions = sync.onSnapshot(snapshot!, 1100);
    assert.equal(snapshot!.seq, 54);
    assert.equal(sync.state, "live");
    assert.equal(sync.lastSeq, 57);
    assert.deepEqual(acks(actions), [57]);
    assert.equal(sync.buffered, 0);
    assertConverged(master, state);
  });

  await t.step("a second, late snapshot is ignored", () => {
    const actions = sync.onSnapshot(snapshot!, 1101);
    assert.deepEqual(acks(actions), []);
    assert.equal(sync.lastSeq, 57);
  });

  await t.step("it stays in step afterwards", () => {
    for (let i = 0; i < 50; i++) sync.onUpdate(master.next(), 1200 + i * 20);
    assertConverged(master, state);
  });
});

Deno.test("a dropped update causes a snapshot request, and the replica converges", () => {
  const master = new TestMaster({ seed: 13, checksumEvery: 0 });
  const { state, sync } = replica();
  join(sync, master, 0);
  for (let i = 1; i <= 20; i++) sync.onUpdate(master.next(), i * 20);
  master.next(); // lost: seq 21
  const gap = sync.onUpdate(master.next(), 440);
  assert.deepEqual(requests(gap), ["gap"]);
  assert.equal(logs(gap, "warn").length, 1);
  assert.equal(sync.state, "awaiting_snapshot");
  assert.equal(sync.lastSeq, 20, "nothing past the gap was applied");
  // Further gaps while awaiting do not ask again.
  for (let i = 0; i < 5; i++) assert.deepEqual(requests(sync.onUpdate(master.next(), 460)), []);
  const snapshot = master.snapshot();
  sync.onUpdate(master.next(), 480);
  sync.onUpdate(master.next(), 500);
  const actions = sync.onSnapshot(snapshot, 510);
  assert.deepEqual(acks(actions), [master.seq]);
  assertConverged(master, state);
});

Deno.test("a snapshot older than the buffered updates is requested again", () => {
  const master = new TestMaster({ seed: 14 });
  const { state, sync } = replica();
  sync.start(1, 0);
  const old = master.snapshot(); // seq 0
  master.next(); // seq 1: published before the subscription took effect (slow joiner)
  sync.onUpdate(master.next(), 10); // seq 2
  sync.onUpdate(master.next(), 20); // seq 3
  const first = sync.onSnapshot(old, 30);
  assert.deepEqual(requests(first), ["buffer_gap"]);
  assert.deepEqual(acks(first), [0], "the snapshot itself is held");
  assert.equal(sync.state, "awaiting_snapshot");
  assert.equal(sync.buffered, 2, "the buffered updates are kept for the next snapshot");
  const fresh = master.snapshot(); // seq 3
  sync.onUpdate(master.next(), 40);
  assert.deepEqual(acks(sync.onSnapshot(fresh, 50)), [4]);
  assertConverged(master, state);
});

Deno.test("duplicates and updates of an older epoch are ignored", () => {
  const master = new TestMaster({ seed: 15, epoch: 3 });
  const { state, sync } = replica();
  join(sync, master, 0);
  const u1 = master.next();
  const u2 = master.next();
  sync.onUpdate(u1, 20);
  sync.onUpdate(u2, 40);
  assert.deepEqual(sync.onUpdate(u1, 60).filter((a) => a.type !== "log"), []);
  assert.deepEqual(sync.onUpdate(u2, 60).filter((a) => a.type !== "log"), []);
  const stale: UpdateMessage = { ...master.next(), epoch: 2, masterId: "old-master" };
  master.seq--; // the stale master's seq 3 collides with ours; it must not count
  assert.deepEqual(sync.onUpdate(stale, 80).filter((a) => a.type !== "log"), []);
  assert.equal(sync.lastSeq, 2);
  assert.equal(sync.state, "live");
  assert.equal(sync.epoch, 3);
  assert.equal(sync.stats.ignored, 3);
  assert.equal(sync.masterId, "master-1");
  assert.equal(
    state.checksum() === master.state.checksum(),
    false,
    "the stale ops were not applied",
  );
});

Deno.test("an update of a higher epoch (a new master) leads to a snapshot from it", () => {
  const master = new TestMaster({ seed: 16, epoch: 1 });
  const { state, sync } = replica();
  join(sync, master, 0);
  for (let i = 1; i <= 10; i++) sync.onUpdate(master.next(), i * 20);
  // Failover: the new master continues from its own state with a higher epoch and seqs of its own.
  master.epoch = 2;
  master.masterId = "master-2";
  master.seq = 1000;
  master.next(); // the replica misses the first update of the new master
  const actions = sync.onUpdate(master.next(), 300);
  assert.deepEqual(requests(actions), ["epoch_change"]);
  assert.equal(sync.epoch, 2);
  assert.equal(sync.masterId, "master-2");
  const snapshot = master.snapshot();
  sync.onUpdate(master.next(), 320);
  assert.deepEqual(acks(sync.onSnapshot(snapshot, 330)), [1003]);
  assert.equal(sync.state, "live");
  assertConverged(master, state);
  // The old master, still publishing, is ignored.
  const stale: UpdateMessage = {
    epoch: 1,
    seq: 1004,
    ops: new Uint8Array(),
    checksum: 0,
    masterId: "",
  };
  assert.deepEqual(requests(sync.onUpdate(stale, 340)), []);
  assert.equal(sync.lastSeq, 1003);
});

Deno.test("reset() drops the old master's buffered updates and asks the new master", () => {
  const master = new TestMaster({ seed: 17 });
  const { state, sync } = replica();
  sync.start(1, 0);
  sync.onUpdate(master.next(), 10);
  sync.onUpdate(master.next(), 20);
  assert.equal(sync.buffered, 2);
  const actions = sync.reset(2, 30);
  assert.deepEqual(requests(actions), ["reset"]);
  assert.equal(sync.buffered, 0);
  assert.equal(sync.epoch, 2);
  // A snapshot from the old master is now stale.
  assert.deepEqual(acks(sync.onSnapshot(master.snapshot(), 40)), []);
  assert.equal(sync.state, "awaiting_snapshot");
  master.epoch = 2;
  assert.deepEqual(acks(sync.onSnapshot(master.snapshot(), 50)), [2]);
  assertConverged(master, state);
  // A reset to an older epoch is refused.
  assert.deepEqual(requests(sync.reset(1, 60)), []);
  assert.equal(sync.epoch, 2);
  assert.equal(sync.state, "live");
});

Deno.test("reset() works without start(), and keeps updates already received from the new master", () => {
  const master = new TestMaster({ seed: 18, epoch: 5 });
  const { state, sync } = replica();
  assert.deepEqual(requests(sync.reset(4, 0)), ["reset"]);
  assert.deepEqual(requests(sync.onUpdate(master.next(), 10)), ["epoch_change"]);
  const snapshot = master.snapshot();
  sync.onUpdate(master.next(), 20);
  assert.deepEqual(requests(sync.reset(5, 30)), ["reset"]);
  assert.equal(sync.buffered, 2, "both updates of epoch 5 are kept");
  assert.deepEqual(acks(sync.onSnapshot(snapshot, 40)), [2]);
  assertConverged(master, state);
});

Deno.test("checksum drift is detected, logged as an error, and repaired by a snapshot", () => {
  const master = new TestMaster({ seed: 19, checksumEvery: 5 });
  const { state, sync } = replica();
  join(sync, master, 0);
  for (let i = 1; i <= 10; i++) sync.onUpdate(master.next(), i * 20);
  // Tamper with the replica behind the replication's back.
  const victim = master.state.world.nextUserId - 1;
  assert.ok(state.world.has(victim));
  state.world.setVelocity(victim, 3, 4);
  let detected: SyncAction[] = [];
  for (let i = 11; i <= 15 && detected.length === 0; i++) {
    const actions = sync.onUpdate(master.next(), i * 20);
    if (requests(actions).length > 0) detected = actions;
    else assert.deepEqual(acks(actions), [i], "updates without a checksum still apply");
  }
  assert.deepEqual(requests(detected), ["drift"]);
  assert.equal(logs(detected, "error").length, 1);
  assert.deepEqual(acks(detected), [], "a drifted update is not acked");
  assert.equal(sync.lastSeq, 14);
  assert.equal(sync.stats.drifts, 1);
  const snapshot = master.snapshot();
  sync.onUpdate(master.next(), 400);
  sync.onSnapshot(snapshot, 410);
  assertConverged(master, state);
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(requests(sync.onUpdate(master.next(), 420 + i * 20)), []);
  }
});

Deno.test("a checksum in parts finds drift when the drifted user's part comes round", () => {
  const parts = 4;
  const master = new TestMaster({ seed: 23, checksumEvery: 1, checksumParts: parts });
  const { state, sync } = replica();
  join(sync, master, 0);
  for (let i = 1; i <= 10; i++) sync.onUpdate(master.next(), i * 20);
  let victim = 0;
  state.world.forEachUser((id) => victim ||= id);
  assert.ok(victim > 0);
  state.world.setVelocity(victim, 3, 4);
  // Update seq checks part seq % 4 (every = 1): only the victim's part can see the tampering.
  let seq = master.seq;
  for (;;) {
    const update = master.next(0);
    seq = update.seq;
    const actions = sync.onUpdate(update, seq * 20);
    if (seq % parts === victim % parts) {
      assert.deepEqual(requests(actions), ["drift"]);
      assert.match(JSON.stringify(actions), new RegExp(`"part":"${victim % parts}/${parts}"`));
      break;
    }
    assert.deepEqual(acks(actions), [seq], `part ${seq % parts} does not hold user ${victim}`);
    assert.ok(seq < 20, "the victim's part came round within one cycle");
  }
  assert.equal(sync.stats.drifts, 1);
});

Deno.test("an update naming a checksum part that does not exist is applied, with a warning", () => {
  const master = new TestMaster({ seed: 29, checksumEvery: 1 });
  const { sync } = replica();
  join(sync, master, 0);
  const update = { ...master.next(), checksum: 12345, checksumPart: 9, checksumParts: 4 };
  const actions = sync.onUpdate(update, 20);
  assert.deepEqual(acks(actions), [update.seq]);
  assert.deepEqual(requests(actions), []);
  assert.equal(logs(actions, "warn").length, 1);
  assert.equal(sync.stats.drifts, 0);
});

Deno.test("corrupt ops or a corrupt snapshot lead to a snapshot request, never a throw", async (t) => {
  const master = new TestMaster({ seed: 20 });
  const { state, sync } = replica();
  join(sync, master, 0);
  sync.onUpdate(master.next(), 20);

  await t.step("unknown op type", () => {
    const good = master.next();
    const actions = sync.onUpdate({ ...good, ops: Uint8Array.of(99, 1, 2, 3) }, 40);
    assert.deepEqual(requests(actions), ["apply_failed"]);
    assert.equal(logs(actions, "error").length, 1);
    assert.equal(sync.lastSeq, 1);
    assert.equal(sync.stats.applyFailures, 1);
  });

  await t.step("a snapshot the target cannot restore is requested again", () => {
    const snapshot = master.snapshot();
    const corrupt = { ...snapshot, world: snapshot.world.slice(0, 40) };
    const actions = sync.onSnapshot(corrupt, 50);
    assert.deepEqual(requests(actions), ["bad_snapshot"]);
    assert.equal(sync.state, "awaiting_snapshot");
    sync.onSnapshot(master.snapshot(), 60);
    assertConverged(master, state);
  });

  await t.step("ops that do not fit the state (login of the wrong id) and random bytes", () => {
    const rng = seeded(5);
    for (let round = 0; round < 50; round++) {
      const ops = new Uint8Array(1 + Math.floor(rng() * 60));
      for (let i = 0; i < ops.length; i++) ops[i] = Math.floor(rng() * 256);
      ops[0] = 1 + Math.floor(rng() * 7); // mostly valid types, random payloads
      const update = master.next(0);
      const actions = sync.onUpdate({ ...update, ops }, 100 + round);
      if (sync.state !== "live") {
        assert.ok(requests(actions).length === 1);
        sync.onSnapshot(master.snapshot(), 100 + round);
      }
      assert.equal(sync.state, "live");
    }
    assertConverged(master, state);
  });

  await t.step("a target whose checksum() throws counts as drift", () => {
    const target: ReplicaTarget = {
      applyUpdate() {},
      restore() {},
      checksum() {
        throw new Error("boom");
      },
    };
    const s = new ReplicaSync(target, OPTIONS);
    s.start(1, 0);
    s.onSnapshot({ epoch: 1, seq: 0, world: new Uint8Array(), credentials: new Uint8Array() }, 0);
    const actions = s.onUpdate(
      { epoch: 1, seq: 1, ops: new Uint8Array(), checksum: 7, masterId: "m" },
      1,
    );
    assert.deepEqual(requests(actions), ["drift"]);
  });

  await t.step("malformed numbers are ignored", () => {
    const s = new ReplicaSync(newReplicaState(), OPTIONS);
    s.start(1, 0);
    const bad = { epoch: 1, seq: -1, ops: new Uint8Array(), checksum: 0, masterId: "m" };
    assert.deepEqual(requests(s.onUpdate(bad, 1)), []);
    assert.deepEqual(requests(s.onUpdate({ ...bad, seq: Number.NaN }, 1)), []);
    assert.equal(s.stats.ignored, 2);
  });
});

Deno.test("tick(): silence while live and a snapshot that never comes both lead to requests", () => {
  const master = new TestMaster({ seed: 21 });
  const { state, sync } = replica({ silenceMs: 500, snapshotTimeoutMs: 1000 });
  assert.deepEqual(sync.tick(0), [], "nothing happens before start()");
  join(sync, master, 0);
  sync.onUpdate(master.next(), 100);
  assert.deepEqual(sync.tick(599), []);
  assert.deepEqual(requests(sync.tick(600)), ["silence"]);
  assert.equal(sync.state, "awaiting_snapshot");
  assert.deepEqual(sync.tick(1599), []);
  assert.deepEqual(requests(sync.tick(1600)), ["snapshot_timeout"]);
  assert.deepEqual(sync.tick(2000), []);
  assert.deepEqual(requests(sync.tick(2600)), ["snapshot_timeout"]);
  assert.equal(sync.stats.snapshotRequests, 4);
  sync.onSnapshot(master.snapshot(), 2700);
  assert.deepEqual(sync.tick(3100), [], "the snapshot counts as contact");
  sync.onUpdate(master.next(), 3150);
  assert.deepEqual(sync.tick(3600), []);
  assertConverged(master, state);
});

Deno.test("the buffer is bounded while awaiting a snapshot; the newest updates are kept", () => {
  const master = new TestMaster({ seed: 22 });
  const { state, sync } = replica({ maxBuffered: 5 });
  sync.start(1, 0);
  const early = master.snapshot();
  let warned = 0;
  for (let i = 0; i < 20; i++) warned += logs(sync.onUpdate(master.next(), i), "warn").length;
  assert.equal(sync.buffered, 5);
  assert.equal(warned, 1, "the overflow is logged once per wait");
  assert.equal(sync.stats.bufferDropped, 15);
  // The early snapshot cannot reach update 16: ask again.
  assert.deepEqual(requests(sync.onSnapshot(early, 30)), ["buffer_gap"]);
  const late = master.snapshot();
  sync.onUpdate(master.next(), 40);
  assert.deepEqual(acks(sync.onSnapshot(late, 50)), [21]);
  assertConverged(master, state);
});

Deno.test("over a lossy, duplicating channel the replica always converges", () => {
  // A model of PUB/SUB plus snapshot request/reply: while lossy, 3% of updates are lost, 3% are
  // duplicated and 20% of snapshot requests go unanswered; a reply comes 1-6 ticks after the
  // request, taken right after that tick's publish. Then the channel heals.
  for (let seed = 1; seed <= 8; seed++) {
    const rng = seeded(seed * 7919);
    const master = new TestMaster({ seed, checksumEvery: 10 });
    const { state, sync } = replica({ silenceMs: 200, snapshotTimeoutMs: 300, maxBuffered: 50 });
    let now = 0;
    let lossy = true;
    let replyAt = -1;
    let lastAcked = 0;
    const handle = (actions: SyncAction[]) => {
      for (const a of actions) {
        if (a.type === "request_snapshot" && replyAt < 0 && (!lossy || rng() < 0.8)) {
          replyAt = now + 20 * (1 + Math.floor(rng() * 6));
        }
        if (a.type === "ack") {
          assert.ok(a.seq <= master.seq, "acks never run ahead of the master");
          lastAcked = a.seq;
        }
      }
    };
    handle(sync.start(1, now));
    for (let tick = 0; tick < 800; tick++) {
      now += 20;
      lossy = tick < 500;
      const update = master.next(Math.floor(rng() * 6));
      if (!lossy || rng() > 0.03) handle(sync.onUpdate(update, now));
      if (lossy && rng() < 0.03) handle(sync.onUpdate(update, now));
      if (replyAt >= 0 && now >= replyAt) {
        replyAt = -1;
        handle(sync.onSnapshot(master.snapshot(), now));
      }
      handle(sync.tick(now));
    }
    assert.equal(sync.state, "live", `seed ${seed}`);
    assert.equal(sync.lastSeq, master.seq, `seed ${seed}`);
    assert.equal(lastAcked, master.seq, `seed ${seed}`);
    assert.ok(sync.stats.snapshotRequests > 1, `seed ${seed}: the losses were noticed`);
    assertConverged(master, state);
  }
});

Deno.test("the constructor validates its options", () => {
  const target = newReplicaState();
  assert.throws(() => new ReplicaSync(target, { silenceMs: 0, snapshotTimeoutMs: 1 }), RangeError);
  assert.throws(() => new ReplicaSync(target, { silenceMs: 1, snapshotTimeoutMs: -1 }), RangeError);
  assert.throws(
    () => new ReplicaSync(target, { silenceMs: 1, snapshotTimeoutMs: 1, maxBuffered: 1.5 }),
    RangeError,
  );
});

Deno.test("applied and restored actions come before the ack that covers them, in order", () => {
  const master = new TestMaster({ seed: 23 });
  const { sync } = replica();
  sync.start(master.epoch, 0);
  // Updates that arrive while the snapshot is awaited are applied right after it.
  master.tick();
  const snapshot = master.snapshot();
  const u1 = master.tick();
  const u2 = master.tick();
  sync.onUpdate(u1, 1);
  sync.onUpdate(u2, 2);
  const actions = sync.onSnapshot(snapshot, 3).filter((a) => a.type !== "log");
  assert.deepEqual(actions.map((a) => [a.type, "seq" in a ? a.seq : 0]), [
    ["restored", snapshot.seq],
    ["applied", u1.seq],
    ["applied", u2.seq],
    ["ack", u2.seq],
  ]);
  const restored = actions[0] as Extract<SyncAction, { type: "restored" }>;
  assert.equal(restored.world, snapshot.world);
  assert.equal(restored.epoch, master.epoch);
  const u3 = master.tick();
  const next = sync.onUpdate(u3, 4).filter((a) => a.type !== "log");
  assert.deepEqual(next, [
    { type: "applied", epoch: master.epoch, seq: u3.seq, ops: u3.ops },
    { type: "ack", seq: u3.seq },
  ]);
});
