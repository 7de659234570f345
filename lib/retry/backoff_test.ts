import assert from "node:assert/strict";
import { Backoff } from "./backoff.ts";

/** A random source that replays `values` in a loop. */
function replay(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

Deno.test("next() doubles the ceiling from minMs and caps it at maxMs", async (t) => {
  await t.step("the top of each range (random just below 1)", () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.999999 });
    const delays = Array.from({ length: 7 }, () => backoff.next());
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
  });
  await t.step("the bottom of each range (random 0)", () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
    const delays = Array.from({ length: 6 }, () => backoff.next());
    assert.deepEqual(delays, [50, 100, 200, 400, 500, 500]);
  });
});

Deno.test("next() draws each delay from [d/2, d] of its ceiling d", () => {
  const backoff = new Backoff({
    minMs: 10,
    maxMs: 5000,
    random: replay(0, 0.25, 0.5, 0.75, 0.999),
  });
  const ceilings = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5000, 5000, 5000];
  for (const [n, ceiling] of ceilings.entries()) {
    const delay = backoff.next();
    assert.ok(
      delay >= ceiling / 2 && delay <= ceiling,
      `attempt ${n}: ${delay} not in [${ceiling / 2}, ${ceiling}]`,
    );
  }
  // Same random, same attempt: the same delay (the jitter comes from `random` only).
  const a = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.5 });
  a.next();
  assert.equal(a.next(), 150);
});

Deno.test("next() with the default random stays within bounds", () => {
  const backoff = new Backoff({ minMs: 100, maxMs: 3000 });
  for (let n = 0; n < 200; n++) {
    const ceiling = Math.min(3000, 100 * 2 ** n);
    const delay = backoff.next();
    assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${n}: ${delay}`);
  }
});

Deno.test("next() stays at maxMs after very many attempts", () => {
  // 2^attempt overflows to Infinity past 1023 attempts; the cap must still hold.
  const backoff = new Backoff({ minMs: 1, maxMs: 600_000, random: () => 0.999999 });
  let last = 0;
  for (let n = 0; n < 1100; n++) last = backoff.next();
  assert.equal(backoff.attempt, 1100);
  assert.equal(last, 600_000);
});

Deno.test("next() with minMs equal to maxMs jitters within [max/2, max]", () => {
  const backoff = new Backoff({ minMs: 400, maxMs: 400, random: replay(0, 0.999999) });
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [200, 400, 200]);
});

Deno.test("reset() starts again from the first delay and attempt counts from zero", () => {
  const backoff = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.equal(backoff.attempt, 0);
  backoff.next();
  backoff.next();
  backoff.next();
  assert.equal(backoff.attempt, 3);
  backoff.reset();
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.next(), 100);
  assert.equal(backoff.attempt, 1);
  backoff.reset();
  backoff.reset();
  assert.equal(backoff.next(), 100);
});
