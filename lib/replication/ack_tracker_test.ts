import assert from "node:assert/strict";
import { AckTracker } from "./ack_tracker.ts";
import { mulberry32 as seeded } from "../random/mod.ts";

/** Records which writes were acked or failed, in order. */
function recorder() {
  const events: string[] = [];
  const wait = (tracker: AckTracker, seq: number, now: number, label = String(seq)) =>
    tracker.waitFor(
      seq,
      () => events.push(`ack ${label}`),
      (code) => events.push(`${code} ${label}`),
      now,
    );
  return { events, wait };
}

Deno.test("required(): auto is 1 while any replica is live, explicit counts degrade to the live ones", () => {
  const auto = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  assert.equal(auto.required(), 0);
  auto.setReplicas(["a"]);
  assert.equal(auto.required(), 1);
  auto.setReplicas(["a", "b", "c"]);
  assert.equal(auto.required(), 1);

  const two = new AckTracker({ minReplicas: 2, timeoutMs: 100 });
  assert.equal(two.required(), 0);
  two.setReplicas(["a"]);
  assert.equal(two.required(), 1, "degraded: one live replica still has to hold the write");
  two.setReplicas(["a", "b", "c"]);
  assert.equal(two.required(), 2);

  const none = new AckTracker({ minReplicas: 0, timeoutMs: 100 });
  none.setReplicas(["a", "b"]);
  assert.equal(none.required(), 0);
});

Deno.test("waitFor() acknowledges at once when no replica is required", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  wait(tracker, 1, 0);
  assert.deepEqual(events, ["ack 1"]);
  const zero = new AckTracker({ minReplicas: 0, timeoutMs: 100 });
  zero.setReplicas(["a"]);
  wait(zero, 5, 0);
  assert.deepEqual(events, ["ack 1", "ack 5"]);
  assert.equal(tracker.pending + zero.pending, 0);
});

Deno.test("an ack settles every waiter up to its seq, in seq order", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  tracker.setReplicas(["a", "b"]);
  wait(tracker, 1, 0, "1a");
  wait(tracker, 1, 0, "1b");
  wait(tracker, 2, 0);
  wait(tracker, 4, 0);
  assert.equal(tracker.pending, 4);
  tracker.onAck("a", 2, 10);
  assert.deepEqual(events, ["ack 1a", "ack 1b", "ack 2"]);
  tracker.onAck("b", 3, 11); // either replica suffices with auto
  assert.equal(tracker.pending, 1);
  tracker.onAck("b", 4, 12);
  assert.deepEqual(events, ["ack 1a", "ack 1b", "ack 2", "ack 4"]);
  assert.equal(tracker.durableSeq, 4);
  wait(tracker, 3, 13, "3 late");
  assert.equal(events.at(-1), "ack 3 late", "already durable: acknowledged at once");
  tracker.onAck("a", 1, 14); // an older ack changes nothing
  assert.equal(tracker.ackedSeq("a"), 2);
});

Deno.test("with minReplicas = 2 a write waits for the second replica", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: 2, timeoutMs: 100 });
  tracker.setReplicas(["a", "b", "c"]);
  wait(tracker, 5, 0);
  tracker.onAck("a", 9, 1);
  assert.deepEqual(events, []);
  tracker.onAck("c", 4, 2);
  assert.deepEqual(events, []);
  tracker.onAck("b", 5, 3);
  assert.deepEqual(events, ["ack 5"]);
  assert.equal(tracker.durableSeq, 5);
  // Two of three replicas die: the bar drops to the one left, which holds 9.
  wait(tracker, 7, 4);
  tracker.setReplicas(["a"]);
  assert.deepEqual(events, ["ack 5", "ack 7"]);
});

Deno.test("acks of removed or unknown replicas do not count", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  tracker.setReplicas(["a", "b"]);
  tracker.onAck("a", 10, 0);
  tracker.setReplicas(["b"]);
  assert.equal(tracker.ackedSeq("a"), undefined);
  wait(tracker, 3, 1);
  assert.deepEqual(events, [], "a's ack of 10 left with it");
  tracker.onAck("stranger", 50, 2);
  tracker.onAck("a", 50, 2);
  assert.deepEqual(events, []);
  tracker.setReplicas(["a", "b"]);
  assert.equal(tracker.ackedSeq("a"), 0, "a returning replica starts from scratch");
  assert.equal(tracker.ackedSeq("b"), 0);
  tracker.onAck("a", 3, 3);
  assert.deepEqual(events, ["ack 3"]);
});

Deno.test("setReplicas() re-checks waiters: when the last replica leaves, waiting writes are acknowledged", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: 1, timeoutMs: 100 });
  tracker.setReplicas(["a"]);
  wait(tracker, 1, 0);
  wait(tracker, 2, 0);
  tracker.setReplicas(["a"]); // the same set: nothing changes
  assert.deepEqual(events, []);
  tracker.setReplicas([]);
  assert.deepEqual(events, ["ack 1", "ack 2"]);
  assert.equal(tracker.pending, 0);
});

Deno.test("tick() fails waiters older than timeoutMs with TIMEOUT, exactly once", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  tracker.setReplicas(["a"]);
  wait(tracker, 1, 0);
  wait(tracker, 2, 50);
  wait(tracker, 3, 60);
  tracker.tick(99);
  assert.deepEqual(events, []);
  tracker.tick(100);
  assert.deepEqual(events, ["TIMEOUT 1"]);
  tracker.onAck("a", 1, 101); // too late for 1: nothing more happens to it
  tracker.onAck("a", 2, 120);
  assert.deepEqual(events, ["TIMEOUT 1", "ack 2"]);
  tracker.tick(1000);
  assert.deepEqual(events, ["TIMEOUT 1", "ack 2", "TIMEOUT 3"]);
  tracker.onAck("a", 3, 1001);
  assert.equal(events.length, 3);
  assert.equal(tracker.pending, 0);
});

Deno.test("the timeout message says what was waited for", () => {
  const tracker = new AckTracker({ minReplicas: 2, timeoutMs: 250 });
  tracker.setReplicas(["a", "b"]);
  let message = "";
  tracker.waitFor(7, () => {}, (_code, m) => (message = m), 0);
  tracker.tick(250);
  assert.equal(message, "Write (update 7) not acknowledged by 2 replicas within 250 ms");
});

Deno.test("failAll() fails every waiter (the master steps down)", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  tracker.setReplicas(["a"]);
  wait(tracker, 1, 0);
  wait(tracker, 2, 0);
  tracker.failAll("No longer the master");
  tracker.setReplicas([]);
  assert.deepEqual(events, ["TIMEOUT 1", "TIMEOUT 2"]);
});

Deno.test("an out-of-order waitFor() is still settled at the right ack", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  tracker.setReplicas(["a"]);
  wait(tracker, 5, 0);
  wait(tracker, 3, 0);
  tracker.onAck("a", 3, 1);
  assert.deepEqual(events, ["ack 3"]);
  tracker.onAck("a", 5, 2);
  assert.deepEqual(events, ["ack 3", "ack 5"]);
});

Deno.test("a callback that throws does not lose the other waiters", () => {
  const { events, wait } = recorder();
  const tracker = new AckTracker({ minReplicas: -1, timeoutMs: 100 });
  tracker.setReplicas(["a"]);
  tracker.waitFor(
    1,
    () => {
      throw new Error("reply failed");
    },
    () => {},
    0,
  );
  wait(tracker, 2, 0);
  assert.throws(() => tracker.onAck("a", 2, 1), /reply failed/);
  assert.deepEqual(events, ["ack 2"]);
  assert.equal(tracker.pending, 0);
});

Deno.test("every write is settled exactly once and only when durable (random model)", () => {
  const rng = seeded(99);
  const ids = ["a", "b", "c", "d"];
  for (const minReplicas of [-1, 0, 1, 2, 3]) {
    const tracker = new AckTracker({ minReplicas, timeoutMs: 200 });
    const settled = new Map<number, string>();
    const acked = new Map<string, number>();
    let live: string[] = [];
    let seq = 0;
    let now = 0;
    let writes = 0;
    for (let step = 0; step < 5000; step++) {
      now += 1 + Math.floor(rng() * 5);
      const r = rng();
      if (r < 0.02) {
        live = ids.filter(() => rng() < 0.6);
        for (const id of acked.keys()) if (!live.includes(id)) acked.delete(id);
        for (const id of live) if (!acked.has(id)) acked.set(id, 0);
        tracker.setReplicas(live);
      } else if (r < 0.5) {
        if (rng() < 0.5) seq++;
        const id = writes++;
        const target = seq;
        const required = tracker.required();
        const holders = [...acked.values()].filter((s) => s >= target).length;
        tracker.waitFor(target, () => {
          assert.ok(!settled.has(id));
          settled.set(id, "ack");
          // Durable now: enough live replicas hold it (or none is required any more).
          const k = tracker.required();
          assert.ok(k === 0 || [...acked.values()].filter((s) => s >= target).length >= k);
        }, () => {
          assert.ok(!settled.has(id));
          settled.set(id, "fail");
        }, now);
        if (required === 0 || holders >= required) assert.equal(settled.get(id), "ack");
      } else if (live.length > 0) {
        const id = live[Math.floor(rng() * live.length)];
        const next = Math.min(seq, (acked.get(id) ?? 0) + Math.floor(rng() * 3));
        if (next > (acked.get(id) ?? 0)) acked.set(id, next);
        tracker.onAck(id, next, now);
      }
      tracker.tick(now);
    }
    tracker.tick(now + 1000);
    assert.equal(settled.size, writes, `minReplicas ${minReplicas}: all settled`);
    assert.equal(tracker.pending, 0);
  }
});

Deno.test("the constructor validates its options", () => {
  assert.throws(() => new AckTracker({ minReplicas: -2, timeoutMs: 1 }), RangeError);
  assert.throws(() => new AckTracker({ minReplicas: 1.5, timeoutMs: 1 }), RangeError);
  assert.throws(() => new AckTracker({ minReplicas: 1, timeoutMs: 0 }), RangeError);
});

Deno.test("AckTracker with a quorum waits for that many replicas and never degrades", async (t) => {
  const outcomes: string[] = [];
  const wait = (acks: AckTracker, seq: number, now: number) =>
    acks.waitFor(
      seq,
      () => outcomes.push(`ack ${seq}`),
      (code) => outcomes.push(`${code} ${seq}`),
      now,
    );
  await t.step("3 members: the master and 1 of its 2 replicas", () => {
    const acks = new AckTracker({ minReplicas: -1, quorum: 1, timeoutMs: 100 });
    acks.setReplicas(["s1", "s2"]);
    assert.equal(acks.required(), 1);
    wait(acks, 1, 0);
    assert.deepEqual(outcomes, []);
    acks.onAck("s2", 1, 5);
    assert.deepEqual(outcomes, ["ack 1"]);
  });
  await t.step("no replica named: nothing is durable, the write times out", () => {
    outcomes.length = 0;
    const acks = new AckTracker({ minReplicas: -1, quorum: 1, timeoutMs: 100 });
    assert.equal(acks.durableSeq, 0);
    wait(acks, 1, 0);
    acks.setReplicas([]);
    acks.tick(50);
    assert.deepEqual(outcomes, []);
    acks.tick(100);
    assert.deepEqual(outcomes, ["TIMEOUT 1"]);
  });
  await t.step("5 members: 2 of 4 replicas; an ack from an unnamed node does not count", () => {
    outcomes.length = 0;
    const acks = new AckTracker({ minReplicas: -1, quorum: 2, timeoutMs: 100 });
    acks.setReplicas(["a", "b", "c", "d"]);
    wait(acks, 3, 0);
    acks.onAck("x", 5, 1);
    acks.onAck("a", 5, 1);
    assert.deepEqual(outcomes, []);
    acks.onAck("c", 3, 2);
    assert.deepEqual(outcomes, ["ack 3"]);
  });
  await t.step("a quorum of 0 (a one-member cluster) acknowledges at once", () => {
    outcomes.length = 0;
    const acks = new AckTracker({ minReplicas: -1, quorum: 0, timeoutMs: 100 });
    wait(acks, 1, 0);
    assert.deepEqual(outcomes, ["ack 1"]);
  });
  assert.throws(() => new AckTracker({ minReplicas: -1, quorum: -1, timeoutMs: 1 }), RangeError);
});

Deno.test("AckTracker with local: a write waits for the master's own disk too", async (t) => {
  await t.step("replica first, then the local sync", () => {
    const acks = new AckTracker({ minReplicas: -1, quorum: 1, local: true, timeoutMs: 100 });
    acks.setReplicas(["a", "b"]);
    const done: number[] = [];
    acks.waitFor(1, () => done.push(1), () => done.push(-1), 0);
    acks.waitFor(2, () => done.push(2), () => done.push(-2), 0);
    acks.onAck("a", 2, 1);
    assert.deepEqual(done, [], "a replica alone is not enough: the master has not synced");
    assert.equal(acks.durableSeq, 0);
    acks.setLocalDurable(1);
    assert.deepEqual(done, [1]);
    acks.setLocalDurable(2);
    assert.deepEqual(done, [1, 2]);
  });
  await t.step("local sync first, then the replica", () => {
    const acks = new AckTracker({ minReplicas: -1, quorum: 1, local: true, timeoutMs: 100 });
    acks.setReplicas(["a", "b"]);
    const done: number[] = [];
    acks.waitFor(5, () => done.push(5), () => done.push(-5), 0);
    acks.setLocalDurable(5);
    assert.deepEqual(done, []);
    acks.onAck("b", 5, 1);
    assert.deepEqual(done, [5]);
    acks.setLocalDurable(4); // never goes back
    assert.equal(acks.durableSeq, 5);
  });
  await t.step(
    "no replicas (a single node): the local sync alone, and timeouts still apply",
    () => {
      const acks = new AckTracker({ minReplicas: 0, quorum: 0, local: true, timeoutMs: 100 });
      const done: string[] = [];
      acks.waitFor(1, () => done.push("ack 1"), (code) => done.push(`1 ${code}`), 0);
      acks.waitFor(2, () => done.push("ack 2"), (code) => done.push(`2 ${code}`), 50);
      acks.setLocalDurable(1);
      acks.tick(120);
      assert.deepEqual(done, ["ack 1"]);
      acks.tick(150);
      assert.deepEqual(done, ["ack 1", "2 TIMEOUT"]);
    },
  );
  await t.step("resetLocalDurable() starts a term with nothing counted as synced", () => {
    const acks = new AckTracker({ minReplicas: -1, quorum: 1, local: true, timeoutMs: 100 });
    acks.setReplicas(["a"]);
    acks.setLocalDurable(1000);
    acks.resetLocalDurable();
    acks.onAck("a", 996, 0);
    const done: number[] = [];
    acks.waitFor(996, () => done.push(996), () => done.push(-1), 0);
    assert.deepEqual(done, []);
    acks.setLocalDurable(996);
    assert.deepEqual(done, [996]);
  });
  await t.step("without local, setLocalDurable() changes nothing", () => {
    const acks = new AckTracker({ minReplicas: -1, quorum: 1, timeoutMs: 100 });
    acks.setReplicas(["a"]);
    acks.onAck("a", 3, 0);
    acks.setLocalDurable(1);
    assert.equal(acks.durableSeq, 3);
  });
});
