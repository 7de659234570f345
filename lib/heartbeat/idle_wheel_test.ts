import assert from "node:assert/strict";
import { IdleWheel } from "./idle_wheel.ts";

interface Peer {
  id: number;
  lastSeen: number;
}

Deno.test("IdleWheel: an item silent for the timeout expires once; one heard from stays", () => {
  const wheel = new IdleWheel<Peer>({ timeoutMs: 1000 });
  const a = { id: 1, lastSeen: 0 };
  const b = { id: 2, lastSeen: 0 };
  wheel.add(a, 0);
  wheel.add(b, 0);
  const all = () => true;
  const found: Peer[] = [];
  for (let now = 100; now <= 3000; now += 100) {
    a.lastSeen = now; // traffic from a: its owner sets the time, no call
    found.push(...wheel.expire(now, all));
  }
  assert.deepEqual(found, [b]);
  // Detection is at most one bucket (timeout/8) late.
  const later = new IdleWheel<Peer>({ timeoutMs: 1000 });
  const c = { id: 3, lastSeen: 0 };
  later.add(c, 5000);
  assert.deepEqual(later.expire(5999, all), []);
  assert.deepEqual([...later.expire(6000, all), ...later.expire(6125, all)], [c]);
});

Deno.test("IdleWheel: items their owner no longer watches are dropped, not reported", () => {
  const wheel = new IdleWheel<Peer>({ timeoutMs: 100 });
  const watched = new Set<Peer>();
  for (let i = 0; i < 10; i++) {
    const p = { id: i, lastSeen: 0 };
    wheel.add(p, 0);
    if (i % 2 === 0) watched.add(p);
  }
  const expired = wheel.expire(1000, (p) => watched.has(p));
  assert.deepEqual(expired.map((p) => p.id), [0, 2, 4, 6, 8]);
  assert.deepEqual(wheel.expire(100_000, () => true), []);
});

Deno.test("IdleWheel: expire() matches a brute-force model over random traffic, with a budget", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const timeout = 800;
  const wheel = new IdleWheel<Peer>({ timeoutMs: timeout });
  // The owner's table: id -> the item it watches (a removed id's item is dropped by the wheel).
  const table = new Map<number, Peer>();
  const watched = (p: Peer) => table.get(p.id) === p;
  for (let now = 0; now < 50_000; now += 10) {
    for (let i = 0; i < 3; i++) {
      const id = Math.floor(rand() * 200);
      const known = table.get(id);
      if (rand() < 0.05) table.delete(id);
      else if (known) known.lastSeen = now;
      else {
        const p = { id, lastSeen: 0 };
        table.set(id, p);
        wheel.add(p, now);
      }
    }
    for (const p of wheel.expire(now, watched, 50)) {
      assert.ok(now - p.lastSeen >= timeout, `item ${p.id} expired too early`);
      table.delete(p.id);
    }
    for (const p of table.values()) {
      // Never later than one bucket (timeout/8) plus one step past the timeout.
      assert.ok(now - p.lastSeen < timeout + timeout / 8 + 10, `item ${p.id} expired too late`);
    }
  }
});
