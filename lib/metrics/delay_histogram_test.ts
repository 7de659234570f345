import assert from "node:assert/strict";
import {
  DELAY_BUCKETS,
  DELAY_EDGES_MS,
  DELAY_OVERFLOW_MS,
  delayCountsBetween,
  DelayHistogram,
  delayPercentile,
  delaysOver,
} from "./delay_histogram.ts";

Deno.test("DelayHistogram counts each delay in the bucket whose upper edge it does not exceed", () => {
  const h = new DelayHistogram();
  for (const ms of [-1, 0, 0.5, 0.6, 20, 20.01, 1e9]) h.record(ms);
  const counts = h.counts();
  assert.equal(counts.length, DELAY_BUCKETS);
  assert.equal(counts[0], 3, "-1, 0 and 0.5 are in the first bucket");
  assert.equal(counts[1], 1, "0.6 is in (0.5, 1]");
  assert.equal(counts[DELAY_EDGES_MS.indexOf(20)], 1, "20 is in (15, 20]");
  assert.equal(counts[DELAY_EDGES_MS.indexOf(30)], 1, "20.01 is in (20, 30]");
  assert.equal(counts[DELAY_BUCKETS - 1], 1, "above the last edge: the overflow bucket");
});

Deno.test("delayCountsBetween() gives the counts of a window between two readings", () => {
  const h = new DelayHistogram();
  h.record(1);
  const first = h.counts();
  h.record(1);
  h.record(25);
  const window = delayCountsBetween(first, h.counts());
  assert.equal(window.reduce((a, b) => a + b), 2);
  assert.equal(window[DELAY_EDGES_MS.indexOf(1)], 1);
  assert.deepEqual(delayCountsBetween(undefined, h.counts()), h.counts());
});

Deno.test("delayPercentile() answers the upper edge of the bucket holding the rank", () => {
  const h = new DelayHistogram();
  for (let i = 0; i < 99; i++) h.record(0.2);
  h.record(25);
  assert.equal(delayPercentile(h.counts(), 99), 0.5, "99 of 100 are ≤ 0.5 ms");
  assert.equal(delayPercentile(h.counts(), 100), 30, "the largest is in (20, 30]");
  h.record(25);
  assert.equal(
    delayPercentile(h.counts(), 99),
    30,
    "2 of 101 above 0.5 ms: p99 is the bucket of 25",
  );
  assert.equal(delayPercentile([], 99), 0);
  h.record(1e6);
  assert.equal(delayPercentile(h.counts(), 100), DELAY_OVERFLOW_MS);
  assert.equal(JSON.parse(JSON.stringify(DELAY_OVERFLOW_MS)), DELAY_OVERFLOW_MS);
});

Deno.test("delaysOver() counts the delays above an edge", () => {
  const h = new DelayHistogram();
  for (const ms of [1, 19, 20, 21, 60, 1e6]) h.record(ms);
  assert.equal(delaysOver(h.counts(), 20), 3);
  assert.equal(delaysOver(h.counts(), 0.5), 6);
});
