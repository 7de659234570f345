import assert from "node:assert/strict";
import { checkUsers, type WriterRecord } from "./nemesis_writers.ts";

function record(userId: number, acked: number, unacked: number[] = []): WriterRecord {
  return { userId, acked, unacked, counts: { acknowledged: 0, failed: 0, unknown: 0 } };
}

Deno.test("checkUsers() accepts the last acknowledged value or a later attempted one, whatever the sign", () => {
  const records = [record(1, 5), record(2, 5, [6, 7]), record(3, 0, [1])];
  assert.deepEqual(
    checkUsers(records, [{ id: 1, vx: -0.005 }, { id: 2, vx: 0.007 }, { id: 3, vx: 0 }]),
    [],
  );
});

Deno.test("checkUsers() names a lost acknowledged write, a missing user and a value never written", () => {
  const problems = checkUsers(
    [record(1, 5, [6]), record(2, 3), record(3, 2)],
    [{ id: 1, vx: 0.004 }, { id: 3, vx: 0.009 }],
  );
  assert.equal(problems.length, 3);
  assert.match(
    problems[0],
    /user 1: holds k=4, but the last acknowledged write set k=5 \(attempted after it: 6\)/,
  );
  assert.match(problems[1], /user 2 missing/);
  assert.match(problems[2], /user 3: holds k=9, but the last acknowledged write set k=2/);
});
