import assert from "node:assert/strict";
import { LivenessTracker } from "./liveness_tracker.ts";

Deno.test("expire() reports a peer once it has been silent for the timeout", () => {
  const t = new LivenessTracker<string>({ timeoutMs: 1000 });
  t.touch("a", 0);
  assert.deepEqual(t.expire(500), []);
  // Detection is at most one bucket (timeout/8) late.
  const found = [...t.expire(1000), ...t.expire(1125), ...t.expire(1250)];
  assert.deepEqual(found, ["a"]);
  assert.equal(t.has("a"), false);
  assert.deepEqual(t.expire(5000), []);
});

Deno.test("touch() keeps a peer alive and remove() forgets it", () => {
  const t = new LivenessTracker<string>({ timeoutMs: 1000 });
  t.touch("a", 0);
  t.touch("b", 0);
  for (let now = 100; now <= 5000; now += 100) {
    t.touch("a", now);
    t.expire(now);
  }
  assert.equal(t.has("a"), true);
  assert.equal(t.has("b"), false);
  t.remove("a");
  assert.deepEqual(t.expire(100_000), []);
  assert.equal(t.size, 0);
});

Deno.test("expire() matches a brute-force model over random traffic", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const timeout = 800;
  const t = new LivenessTracker<number>({ timeoutMs: timeout });
  const model = new Map<number, number>();
  for (let now = 0; now < 50_000; now += 10) {
    for (let i = 0; i < 3; i++) {
      const key = Math.floor(rand() * 200);
      if (rand() < 0.05) {
        t.remove(key);
        model.delete(key);
      } else {
        t.touch(key, now);
        model.set(key, now);
      }
    }
    for (const key of t.expire(now)) {
      const seen = model.get(key);
      assert.ok(seen !== undefined && now - seen >= timeout, `key ${key} expired too early`);
      model.delete(key);
    }
    for (const [key, seen] of model) {
      // Never later than one bucket (timeout/8) plus one step past the timeout.
      assert.ok(now - seen < timeout + timeout / 8 + 10, `key ${key} expired too late`);
    }
  }
});

Deno.test("expire() with a budget spreads the work over calls", () => {
  const t = new LivenessTracker<number>({ timeoutMs: 100 });
  for (let i = 0; i < 1000; i++) t.touch(i, 0);
  const first = t.expire(1000, 100);
  assert.equal(first.length, 100);
  let total = first.length;
  for (let i = 0; i < 20 && total < 1000; i++) total += t.expire(1000, 100).length;
  assert.equal(total, 1000);
  assert.equal(t.size, 0);
});
