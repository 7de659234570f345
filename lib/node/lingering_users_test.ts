import assert from "node:assert/strict";
import { LingeringUsers } from "./lingering_users.ts";

function expireAt(users: LingeringUsers, now: number): [number, number][] {
  const expired: [number, number][] = [];
  users.expireDue(now, (userId, generation) => expired.push([userId, generation]));
  return expired;
}

Deno.test("expireDue() hands over each user at its deadline, once", () => {
  const users = new LingeringUsers(1000);
  users.linger(1, { generation: 3, now: 0 });
  users.linger(2, { generation: 0, now: 500 });
  assert.equal(users.size, 2);
  assert.deepEqual(expireAt(users, 999), []);
  assert.deepEqual(expireAt(users, 1000), [[1, 3]]);
  assert.deepEqual(expireAt(users, 1000), []);
  assert.deepEqual(expireAt(users, 2000), [[2, 0]]);
  assert.equal(users.size, 0);
});

Deno.test("linger() again moves the deadline and the generation; claimed() forgets the user", () => {
  const users = new LingeringUsers(1000);
  users.linger(1, { generation: 0, now: 0 });
  users.linger(1, { generation: 1, now: 800 });
  assert.deepEqual(expireAt(users, 1000), []);
  assert.deepEqual(expireAt(users, 1800), [[1, 1]]);
  users.linger(2, { generation: 0, now: 0 });
  users.claimed(2);
  assert.deepEqual(expireAt(users, 5000), []);
});
