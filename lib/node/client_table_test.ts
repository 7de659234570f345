import assert from "node:assert/strict";
import {
  type AdmitResult,
  type ClientEntry,
  ClientTable,
  type ClientTableOptions,
  type ConnectionEntry,
  peerToKey,
} from "./client_table.ts";

const A = "0f8fad5b-d9cb-469f-a165-70867728950e";
const B = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const C = "16fd2706-8baf-433b-82eb-8c7fada847da";
const PEER_1 = new Uint8Array([0, 1, 2, 3, 4]);
const PEER_2 = new Uint8Array([0, 1, 2, 3, 5]);

function table(options: Partial<ClientTableOptions> = {}): ClientTable {
  return new ClientTable({
    idleTimeoutMs: 1000,
    maxClients: 100,
    maxRequestsPerSecond: 10,
    ...options,
  });
}

/** A connection's entry, as a message from it makes one (the message is charged). */
function on(clients: ClientTable, peer: Uint8Array, now = 0): ConnectionEntry {
  const result = clients.connect(peer, now);
  assert.equal(result.type, "ok", "the connection is within its budget");
  return result.connection;
}

/** Admits a request of `clientId` from `peer` at `now`. */
function admit(clients: ClientTable, clientId: string, peer: Uint8Array, now = 0): AdmitResult {
  return clients.admit(clientId, on(clients, peer, now), "binary", now);
}

function ok(result: AdmitResult): Extract<AdmitResult, { type: "ok" }> {
  assert.equal(result.type, "ok", `expected ok, got ${result.type}`);
  return result as Extract<AdmitResult, { type: "ok" }>;
}

function entryOf(clients: ClientTable, clientId: string, peer: Uint8Array, now = 0): ClientEntry {
  return ok(admit(clients, clientId, peer, now)).entry;
}

Deno.test("admit() creates an entry for a new client, not logged in, bound to its connection", () => {
  const clients = table();
  const connection = on(clients, PEER_1);
  const result = ok(clients.admit(A, connection, "json", 0));
  assert.equal(result.fresh, true);
  assert.equal(result.entry.clientId, A);
  assert.equal(result.entry.connection, connection);
  assert.equal(connection.peer, PEER_1);
  assert.equal(connection.key, peerToKey(PEER_1));
  assert.equal(connection.clientIds.size, 1);
  assert.equal(result.entry.userId, 0);
  assert.equal(result.entry.format, "json");
  assert.equal(clients.get(A), result.entry);
  assert.equal(clients.connections, 1);
  assert.equal(clients.peers, 1);
  assert.equal(clients.sessions, 0);
});

Deno.test("admit() of a known client on the same connection keeps its session", () => {
  const clients = table();
  const first = entryOf(clients, A, PEER_1);
  clients.bind(first, 7);
  // A copy of the routing id with the same bytes is the same connection.
  const again = ok(clients.admit(A, on(clients, PEER_1.slice(), 10), "json", 10));
  assert.equal(again.entry, first);
  assert.equal(again.fresh, false);
  assert.equal(again.entry.userId, 7);
  assert.equal(again.entry.format, "json");
  assert.equal(clients.connections, 1);
  assert.equal(clients.peers, 1);
  assert.equal(clients.sessions, 1);
});

Deno.test("admit() binds a client id to one connection while it has a session", async (t) => {
  const clients = table();
  const entry = entryOf(clients, A, PEER_1);
  const home = entry.connection;
  await t.step("an id without a session follows the connection that uses it", () => {
    const moved = ok(admit(clients, A, PEER_2, 5));
    assert.equal(moved.entry, entry);
    assert.equal(entry.connection.peer, PEER_2);
    assert.equal(home.clientIds.size, 0);
    assert.equal(entry.connection.clientIds.size, 1);
    ok(admit(clients, A, PEER_1, 6));
    assert.equal(entry.connection, home);
  });
  await t.step("a logged-in id is not moved: another connection's request is foreign", () => {
    clients.bind(entry, 7);
    const foreign = admit(clients, A, PEER_2, 10);
    assert.equal(foreign.type, "foreign");
    assert.equal(entry.connection, home);
    assert.equal(entry.userId, 7);
    assert.equal(clients.sessions, 1);
  });
  await t.step("so is one with a login in flight", () => {
    clients.bind(entry, 0);
    entry.loginInFlight = true;
    assert.equal(admit(clients, A, PEER_2, 20).type, "foreign");
    entry.loginInFlight = false;
  });
  await t.step("a foreign request is not the client's traffic", () => {
    clients.bind(entry, 7);
    for (let now = 100; now <= 2000; now += 100) {
      assert.equal(admit(clients, A, PEER_2, now).type, "foreign");
    }
    assert.deepEqual(clients.expireIdle(2000).map((e) => e.clientId), [A]);
  });
});

Deno.test("move() hands a client id to another connection", () => {
  const clients = table();
  const entry = entryOf(clients, A, PEER_1);
  clients.bind(entry, 7);
  const other = on(clients, PEER_2);
  const before = entry.connection;
  clients.move(entry, other, 5);
  assert.equal(entry.connection, other);
  assert.equal(before.clientIds.size, 0);
  assert.equal(other.clientIds.size, 1);
  assert.equal(ok(admit(clients, A, PEER_2, 6)).entry.userId, 7);
  assert.equal(admit(clients, A, PEER_1, 7).type, "foreign");
});

Deno.test("bind() counts sessions once per client", () => {
  const clients = table();
  const a = entryOf(clients, A, PEER_1);
  const b = entryOf(clients, B, PEER_2);
  clients.bind(a, 1);
  clients.bind(a, 1);
  clients.bind(a, 2);
  assert.equal(clients.sessions, 1);
  clients.bind(b, 3);
  assert.equal(clients.sessions, 2);
  clients.bind(a, 0);
  clients.bind(a, 0);
  assert.equal(clients.sessions, 1);
  assert.equal(clients.connections, 2);
});

Deno.test("admit() limits each client id to maxRequestsPerSecond work units", async (t) => {
  const clients = table({ maxRequestsPerSecond: 3 });
  await t.step("a full bucket's worth passes, the next is limited", () => {
    for (const now of [0, 1, 2]) assert.equal(admit(clients, A, PEER_1, now).type, "ok");
    const limited = admit(clients, A, PEER_1, 3);
    assert.equal(limited.type, "rate_limited");
    assert.equal((limited as { entry: unknown }).entry, clients.get(A));
  });
  await t.step("other clients have their own budget", () => {
    assert.equal(admit(clients, B, PEER_2, 5).type, "ok");
  });
  await t.step("the bucket refills with the time: 3 per second", () => {
    assert.equal(admit(clients, A, PEER_1, 340).type, "ok");
    assert.equal(admit(clients, A, PEER_1, 341).type, "rate_limited");
    for (const now of [2000, 2001, 2002]) assert.equal(admit(clients, A, PEER_1, now).type, "ok");
    assert.equal(admit(clients, A, PEER_1, 2003).type, "rate_limited");
  });
  await t.step("charged work is paid back with the time", () => {
    clients.charge(clients.get(A)!.connection, clients.get(A)!, 6);
    // -6 at 2003; +3 per second.
    assert.equal(admit(clients, A, PEER_1, 3000).type, "rate_limited");
    assert.equal(admit(clients, A, PEER_1, 3500).type, "rate_limited");
    assert.equal(admit(clients, A, PEER_1, 4400).type, "ok");
  });
  await t.step("a limited request still counts as traffic", () => {
    assert.equal(admit(clients, A, PEER_1, 4401).type, "rate_limited");
    assert.deepEqual(clients.expireIdle(5300).map((e) => e.clientId), [B]);
    assert.ok(clients.get(A));
  });
});

Deno.test("connect() limits each connection's work, then stops answering", () => {
  const clients = table({ maxRequestsPerSecond: 1000, maxRequestsPerConnection: 20 });
  // A bucket of a tenth of a second's worth: 2 requests.
  assert.equal(clients.connect(PEER_1, 0).type, "ok");
  assert.equal(clients.connect(PEER_1, 0).type, "ok");
  const answered = [];
  for (let i = 0; i < 30; i++) {
    const r = clients.connect(PEER_1, 1);
    assert.equal(r.type, "rate_limited");
    answered.push(r.type === "rate_limited" && r.answer);
  }
  // As many refusals as the budget are answered in a second; the rest are dropped.
  assert.equal(answered.filter((a) => a).length, 20);
  assert.equal(clients.connect(PEER_2, 1).type, "ok", "another connection has its own budget");
  assert.equal(clients.connect(PEER_1, 60).type, "ok", "refilled at 20 per second");
  const connection = clients.connection(PEER_1)!;
  clients.charge(connection, undefined, 10);
  assert.equal(clients.connect(PEER_1, 100).type, "rate_limited");
  assert.equal(clients.connect(PEER_1, 700).type, "ok");
});

Deno.test("admit() refuses client ids beyond maxIdsPerConnection on that connection", () => {
  const clients = table({ maxIdsPerConnection: 2 });
  ok(admit(clients, A, PEER_1));
  ok(admit(clients, B, PEER_1));
  assert.deepEqual(admit(clients, C, PEER_1), { type: "full", scope: "connection" });
  assert.equal(ok(admit(clients, C, PEER_2)).fresh, true);
  // Nor may a free id move onto a full connection.
  assert.deepEqual(admit(clients, C, PEER_1), { type: "full", scope: "connection" });
  assert.equal(clients.hasRoom(clients.connection(PEER_1)!), false);
  clients.remove(A);
  assert.equal(clients.hasRoom(clients.connection(PEER_1)!), true);
  assert.equal(ok(admit(clients, C, PEER_1)).entry.connection.peer, PEER_1);
});

Deno.test("takeNewUser() allows maxNewUsersPerConnection per second per connection", () => {
  const clients = table({ maxNewUsersPerConnection: 2 });
  const one = on(clients, PEER_1);
  const two = on(clients, PEER_2);
  assert.equal(clients.takeNewUser(one, 0), true);
  assert.equal(clients.takeNewUser(one, 0), true);
  assert.equal(clients.takeNewUser(one, 10), false);
  assert.equal(clients.takeNewUser(two, 10), true);
  assert.equal(clients.takeNewUser(one, 510), true);
  assert.equal(clients.takeNewUser(one, 511), false);
});

Deno.test("admit() refuses new clients beyond maxClients but serves known ones", () => {
  const clients = table({ maxClients: 2 });
  ok(admit(clients, A, PEER_1));
  ok(admit(clients, B, PEER_2));
  assert.deepEqual(admit(clients, C, PEER_1), { type: "full", scope: "node" });
  assert.equal(clients.connections, 2);
  assert.equal(clients.get(C), undefined);
  assert.equal(admit(clients, A, PEER_1, 1).type, "ok");
  clients.remove(B);
  assert.equal(ok(admit(clients, C, PEER_2, 2)).fresh, true);
});

Deno.test("remove() forgets a client and its session", () => {
  const clients = table();
  const entry = entryOf(clients, A, PEER_1);
  clients.bind(entry, 5);
  assert.equal(clients.holds(entry), true);
  assert.equal(clients.remove(A), entry);
  assert.equal(clients.holds(entry), false);
  assert.equal(entry.userId, 0);
  assert.equal(entry.connection.clientIds.size, 0);
  assert.equal(clients.get(A), undefined);
  assert.equal(clients.connections, 0);
  assert.equal(clients.sessions, 0);
  assert.equal(clients.remove(A), undefined);
  // A removed client is never reported idle.
  assert.deepEqual(clients.expireIdle(100_000), []);
});

Deno.test("expireIdle() drops clients silent past the timeout and reports their user", () => {
  const clients = table({ idleTimeoutMs: 1000 });
  const a = entryOf(clients, A, PEER_1);
  clients.bind(a, 9);
  ok(clients.admit(B, on(clients, PEER_2), "json", 0));
  ok(admit(clients, C, PEER_1));
  assert.deepEqual(clients.expireIdle(500), []);
  // C keeps talking.
  for (let now = 100; now <= 2000; now += 100) ok(admit(clients, C, PEER_1, now));
  const gone = clients.expireIdle(2000).sort((x, y) => x.clientId.localeCompare(y.clientId));
  assert.deepEqual(gone.map((e) => [e.clientId, e.userId, e.format]), [
    [A, 9, "binary"],
    [B, 0, "json"],
  ]);
  assert.equal(clients.connections, 1);
  assert.equal(clients.sessions, 0);
  assert.equal(clients.get(A), undefined);
  assert.ok(clients.get(C));
  // A dropped client that comes back is a new, unauthenticated client.
  const back = ok(admit(clients, A, PEER_1, 2100));
  assert.equal(back.fresh, true);
  assert.equal(back.entry.userId, 0);
});

Deno.test("expireIdle() forgets a silent connection once it carries no client id", () => {
  const clients = table({ idleTimeoutMs: 1000 });
  ok(admit(clients, A, PEER_1));
  on(clients, PEER_2);
  assert.equal(clients.peers, 2);
  clients.expireIdle(1500);
  assert.equal(clients.peers, 0);
  assert.equal(clients.connection(PEER_1), undefined);
});

Deno.test("expireIdle() looks at no more than `budget` clients per call", () => {
  const clients = table({ idleTimeoutMs: 1000 });
  const ids = Array.from(
    { length: 10 },
    (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
  );
  for (const id of ids) ok(admit(clients, id, PEER_1));
  const batches: number[] = [];
  for (let i = 0; i < 6; i++) batches.push(clients.expireIdle(5000, 3).length);
  assert.deepEqual(batches, [3, 3, 3, 1, 0, 0]);
  assert.equal(clients.connections, 0);
});

Deno.test("entries() lists every client", () => {
  const clients = table();
  ok(admit(clients, A, PEER_1));
  ok(admit(clients, B, PEER_2));
  assert.deepEqual([...clients.entries()].map((e) => e.clientId).sort(), [A, B].sort());
});

Deno.test("peerToKey() tells routing ids apart by every byte", () => {
  assert.equal(peerToKey(PEER_1), peerToKey(PEER_1.slice()));
  assert.notEqual(peerToKey(PEER_1), peerToKey(PEER_2));
  assert.notEqual(peerToKey(new Uint8Array([1])), peerToKey(new Uint8Array([1, 0])));
  assert.equal(peerToKey(new Uint8Array()), "");
  assert.equal((peerToKey(new Uint8Array([255, 0])) as string).length, 2);
  // A ZeroMQ routing id (0, then a 32-bit number) is that number; other ids stay strings.
  assert.equal(peerToKey(new Uint8Array([0, 0, 0, 0, 7])), 7);
  assert.equal(peerToKey(new Uint8Array([0, 255, 255, 255, 255])), 0xffffffff);
  assert.equal(peerToKey(new Uint8Array([0, 1, 2, 3, 4])), 0x01020304);
  assert.equal(typeof peerToKey(new Uint8Array([1, 0, 0, 0, 7])), "string");
  assert.equal(typeof peerToKey(new Uint8Array([0, 0, 0, 0, 7, 0])), "string");
});
