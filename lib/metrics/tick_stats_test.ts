import assert from "node:assert/strict";
import { TickStats } from "./tick_stats.ts";

Deno.test("last is all zeros before the first window closes", () => {
  const stats = new TickStats(20);
  assert.deepEqual(stats.last, { count: 0, avgMs: 0, p99Ms: 0, maxMs: 0, loadFactor: 0 });
  stats.record(5);
  assert.equal(stats.last.count, 0);
});

Deno.test("roll() summarises count, average, max and load factor of the window", () => {
  const stats = new TickStats(20);
  for (const ms of [4, 6, 2, 8]) stats.record(ms);
  const summary = stats.roll();
  assert.deepEqual(summary, { count: 4, avgMs: 5, p99Ms: 8, maxMs: 8, loadFactor: 0.25 });
  assert.equal(stats.last, summary);
});

Deno.test("roll() reports a load factor above 1 when ticks take longer than the tick time", () => {
  const stats = new TickStats(10);
  stats.record(15);
  stats.record(25);
  assert.equal(stats.roll().loadFactor, 2);
});

Deno.test("roll() reports the nearest-rank 99th percentile", async (t) => {
  await t.step("one slow tick in 100 is above the 99th percentile", () => {
    const stats = new TickStats(20);
    for (let i = 0; i < 99; i++) stats.record(1);
    stats.record(100);
    const summary = stats.roll();
    assert.equal(summary.p99Ms, 1);
    assert.equal(summary.maxMs, 100);
  });
  await t.step("two slow ticks in 100 reach it", () => {
    const stats = new TickStats(20);
    for (let i = 0; i < 98; i++) stats.record(1);
    stats.record(100);
    stats.record(90);
    assert.equal(stats.roll().p99Ms, 90);
  });
  await t.step("the 990th of 1000 sorted ticks", () => {
    const stats = new TickStats(20);
    // 1000 distinct durations, recorded out of order.
    for (let i = 0; i < 1000; i++) stats.record(((i * 7919) % 1000) + 1);
    assert.equal(stats.roll().p99Ms, 990);
  });
  await t.step("with fewer than 100 ticks, the slowest", () => {
    const stats = new TickStats(20);
    for (const ms of [3, 1, 2]) stats.record(ms);
    assert.equal(stats.roll().p99Ms, 3);
  });
  await t.step("sorted by value, not as text", () => {
    const stats = new TickStats(20);
    for (const ms of [9, 10, 100, 2]) stats.record(ms);
    assert.equal(stats.roll().p99Ms, 100);
  });
});

Deno.test("roll() starts a new window each time", () => {
  const stats = new TickStats(20);
  stats.record(30);
  stats.record(10);
  assert.equal(stats.roll().maxMs, 30);
  stats.record(4);
  assert.deepEqual(stats.roll(), { count: 1, avgMs: 4, p99Ms: 4, maxMs: 4, loadFactor: 0.2 });
});

Deno.test("roll() of a window without ticks returns the previous summary", () => {
  const stats = new TickStats(20);
  assert.deepEqual(stats.roll(), { count: 0, avgMs: 0, p99Ms: 0, maxMs: 0, loadFactor: 0 });
  stats.record(10);
  const first = stats.roll();
  assert.equal(stats.roll(), first);
  assert.equal(stats.last, first);
});

Deno.test("record() past the capacity still counts every tick in count, average and max", () => {
  const stats = new TickStats(20, 4);
  for (const ms of [1, 1, 1, 1, 1, 1, 50, 1]) stats.record(ms);
  const summary = stats.roll();
  assert.equal(summary.count, 8);
  assert.equal(summary.avgMs, 57 / 8);
  assert.equal(summary.maxMs, 50);
  // The percentile comes from the samples kept (the first `capacity` of the window).
  assert.equal(summary.p99Ms, 1);
  // The next window keeps samples from the start again.
  stats.record(7);
  assert.equal(stats.roll().p99Ms, 7);
});
