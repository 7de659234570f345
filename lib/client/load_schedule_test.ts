import assert from "node:assert/strict";
import { connectionCount, opPeriods, OpSchedule } from "./load_schedule.ts";
import { LOAD_GROUP } from "./load_settings.ts";
import { defaults } from "../config/mod.ts";

Deno.test("OpSchedule fires items once their slot has passed, in due order, never early", () => {
  const s = new OpSchedule({ slotMs: 1, horizonMs: 100, now: 1000 });
  s.schedule(1, 1010.5);
  s.schedule(2, 1003);
  s.schedule(3, 1050);
  assert.equal(s.size, 3);
  const fired: [number, number][] = [];
  const fire = (item: number, due: number) => fired.push([item, due]);
  assert.equal(s.advance(1003.9, fire), 0, "slot 1003 has not ended yet");
  assert.equal(s.advance(1004, fire), 1);
  assert.deepEqual(fired, [[2, 1003]]);
  s.advance(1049, fire);
  assert.deepEqual(fired.map((f) => f[0]), [2, 1]);
  s.advance(2000, fire);
  assert.deepEqual(fired.map((f) => f[0]), [2, 1, 3]);
  for (const [, due] of fired) assert.ok(due < 2000);
  assert.equal(s.size, 0);
});

Deno.test("OpSchedule: an item rescheduled while firing fires again later, not in a loop", () => {
  const s = new OpSchedule({ slotMs: 5, horizonMs: 1000, now: 0 });
  const period = 10;
  let fires = 0;
  s.schedule(7, 0);
  const fire = (item: number, due: number) => {
    fires++;
    s.schedule(item, due + period);
  };
  s.advance(1000, fire);
  // Due at 0, 10, …, 990: the slot holding 990 ends at 995 ≤ 1000; 1000's slot has not ended.
  assert.equal(fires, 100);
  assert.equal(s.size, 1);
});

Deno.test("OpSchedule: an item in the past fires on the next advance", () => {
  const s = new OpSchedule({ slotMs: 2, horizonMs: 50, now: 100 });
  s.advance(120, () => {});
  const fired: number[] = [];
  s.schedule(9, 50); // long ago
  s.advance(122.5, (item) => fired.push(item));
  assert.deepEqual(fired, [9]);
});

Deno.test("OpSchedule: delays beyond the horizon wait for their time", () => {
  const s = new OpSchedule({ slotMs: 1, horizonMs: 10, now: 0 });
  s.schedule(4, 35);
  const fired: number[] = [];
  for (let t = 1; t <= 35; t++) s.advance(t, (item) => fired.push(item));
  assert.equal(fired.length, 0);
  s.advance(36, (item) => fired.push(item));
  assert.deepEqual(fired, [4]);
});

Deno.test("OpSchedule: a long pause fires everything due once, with work bounded by the wheel", () => {
  const s = new OpSchedule({ slotMs: 1, horizonMs: 100, now: 0 });
  for (let i = 0; i < 1000; i++) s.schedule(i, (i * 37) % 100);
  const fired = new Set<number>();
  s.advance(1_000_000, (item) => {
    assert.ok(!fired.has(item));
    fired.add(item);
  });
  assert.equal(fired.size, 1000);
  assert.equal(s.size, 0);
});

Deno.test("OpSchedule spreads a steady rate evenly over time", () => {
  // 1000 clients at 1 op/s with random phases: each 100 ms window gets about 100 ops.
  const s = new OpSchedule({ slotMs: 1, horizonMs: 1000, now: 0 });
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let c = 0; c < 1000; c++) s.schedule(c, random() * 1000);
  const perWindow: number[] = [];
  for (let w = 1; w <= 30; w++) {
    let n = 0;
    s.advance(w * 100, (item, due) => {
      n++;
      s.schedule(item, due + 1000);
    });
    perWindow.push(n);
  }
  const steady = perWindow.slice(10);
  assert.ok(steady.every((n) => n > 60 && n < 140), `windows: ${steady.join(",")}`);
  assert.equal(steady.reduce((a, b) => a + b, 0), 2000);
});

Deno.test("opPeriods() turns per-client rates into periods, scaled", () => {
  const load = defaults({ load: LOAD_GROUP }).load;
  assert.deepEqual(opPeriods(load).slice(0, 4), [5000, 1000, 1000, 3000]);
  const fast = { ...load, rate_scale: 2, query_rate: 4, aoe_rate: 0, velocity_interval_s: 0 };
  const p = opPeriods(fast);
  assert.equal(p[0], Infinity);
  assert.equal(p[1], 125);
  assert.equal(p[2], Infinity);
  assert.equal(opPeriods({ ...load, keepalive_s: 0 })[3], Infinity);
});

Deno.test("connectionCount() spreads clients over connections", () => {
  assert.equal(connectionCount(50, 0), 1);
  assert.equal(connectionCount(10_000, 0), 40);
  assert.equal(connectionCount(1_000_000, 0), 64);
  assert.equal(connectionCount(10, 20), 10);
  assert.equal(connectionCount(1000, 7), 7);
  // Never more clients over one connection than the node takes.
  assert.equal(connectionCount(1_000_000, 0, 4000), 250);
  assert.equal(connectionCount(100_000, 8, 4000), 25);
  assert.equal(connectionCount(30_000, 8, 4000), 8);
});
