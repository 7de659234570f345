import assert from "node:assert/strict";
import { LoadLane } from "./load_lane.ts";
import type { Connection } from "./connection.ts";

/** A lane whose connection is never used: the queues do not touch it. */
function lane(backlog: number): LoadLane {
  return new LoadLane({ index: 0, connection: {} as Connection, ownId: "own", backlog });
}

Deno.test("LoadLane hands out logins first in, first out", () => {
  const l = lane(4);
  for (const c of [7, 3, 9]) l.queueLogin(c);
  assert.equal(l.waitingLogins, 3);
  assert.deepEqual([l.takeLogin(), l.takeLogin()], [7, 3]);
  l.queueLogin(1);
  assert.deepEqual([l.takeLogin(), l.takeLogin()], [9, 1]);
  assert.equal(l.waitingLogins, 0);
});

Deno.test("LoadLane backlog keeps ops in order, refuses when full and wraps around", () => {
  const l = lane(3);
  assert.ok(l.queueOp(10, 1.5));
  assert.ok(l.queueOp(11, 2.5));
  assert.ok(l.queueOp(12, 3.5));
  assert.equal(l.queueOp(13, 4.5), false, "full");
  const taken: [number, number][] = [];
  const take = () => {
    taken.push([l.nextItem, l.nextDue]);
    l.dropNext();
  };
  take();
  assert.ok(l.queueOp(14, 5.5), "room again, at the start of the ring");
  while (l.backlogSize > 0) take();
  assert.deepEqual(taken, [[10, 1.5], [11, 2.5], [12, 3.5], [14, 5.5]]);
});

Deno.test("LoadLane paces new-user logins at loginRate per second", () => {
  const l = new LoadLane({
    index: 0,
    connection: {} as Connection,
    ownId: "own",
    backlog: 1,
    loginRate: 100,
  });
  l.queueLogin(5);
  assert.equal(l.nextLogin, 5);
  // A bucket of a tenth of a second's worth: 10, then 100 per second.
  let sent = 0;
  while (l.takeLoginToken(0)) sent++;
  assert.equal(sent, 10);
  assert.equal(l.takeLoginToken(5), false);
  assert.equal(l.takeLoginToken(10), true);
  for (let now = 11; now <= 1010; now++) if (l.takeLoginToken(now)) sent++;
  assert.ok(sent >= 109 && sent <= 111, `${sent} logins in a second`);
});
