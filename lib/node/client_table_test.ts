import assert from "node:assert/strict";
import {
  type AdmitResult,
  ClientTable,
  type ClientTableOptions,
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

function ok(result: AdmitResult): Extract<AdmitResult, { type: "ok" }> {
  assert.equal(result.type, "ok", `expected ok, got ${result.type}`);
  return result as Extract<AdmitResult, { type: "ok" }>;
}

Deno.test("admit() creates an entry for a new client, not logged in", () => {
  const clients = table();
  const result = ok(clients.admit(A, PEER_1, "json", 0));
  assert.equal(result.fresh, true);
  assert.equal(result.moved, false);
  assert.equal(result.entry.clientId, A);
  assert.equal(result.entry.peer, PEER_1);
  assert.equal(result.entry.peerKey, peerToKey(PEER_1));
  assert.equal(result.entry.userId, 0);
  assert.equal(result.entry.format, "json");
  assert.equal(clients.get(A), result.entry);
  assert.equal(clients.connections, 1);
  assert.equal(clients.sessions, 0);
});

Deno.test("admit() of a known client on the same connection keeps its session", () => {
  const clients = table();
  const first = ok(clients.admit(A, PEER_1, "binary", 0));
  clients.bind(first.entry, 7);
  // A copy of the routing id with the same bytes is the same connection.
  const again = ok(clients.admit(A, PEER_1.slice(), "json", 10));
  assert.equal(again.entry, first.entry);
  assert.equal(again.fresh, false);
  assert.equal(again.moved, false);
  assert.equal(again.entry.userId, 7);
  assert.equal(again.entry.format, "json");
  assert.equal(clients.connections, 1);
  assert.equal(clients.sessions, 1);
});

Deno.test("admit() of a known client on another connection detaches its session", async (t) => {
  const clients = table();
  const entry = ok(clients.admit(A, PEER_1, "binary", 0)).entry;
  clients.bind(entry, 7);
  await t.step("a logged-in client that moved", () => {
    const moved = ok(clients.admit(A, PEER_2, "binary", 10));
    assert.equal(moved.moved, true);
    assert.equal(moved.fresh, false);
    assert.equal(moved.entry, entry);
    assert.equal(entry.userId, 0);
    assert.equal(entry.peer, PEER_2);
    assert.equal(entry.peerKey, peerToKey(PEER_2));
    assert.equal(clients.sessions, 0);
    assert.equal(clients.connections, 1);
  });
  await t.step("moving back without a session is no move", () => {
    const back = ok(clients.admit(A, PEER_1, "binary", 20));
    assert.equal(back.moved, false);
    assert.equal(entry.peer, PEER_1);
  });
});

Deno.test("bind() counts sessions once per client", () => {
  const clients = table();
  const a = ok(clients.admit(A, PEER_1, "binary", 0)).entry;
  const b = ok(clients.admit(B, PEER_2, "binary", 0)).entry;
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

Deno.test("admit() limits each client to maxRequestsPerSecond per one-second window", async (t) => {
  const clients = table({ maxRequestsPerSecond: 3 });
  await t.step("the first requests of the window pass, the next is limited", () => {
    for (const now of [0, 100, 200]) {
      assert.equal(clients.admit(A, PEER_1, "binary", now).type, "ok");
    }
    const limited = clients.admit(A, PEER_1, "binary", 300);
    assert.equal(limited.type, "rate_limited");
    assert.equal((limited as { entry: unknown }).entry, clients.get(A));
    assert.equal(clients.admit(A, PEER_1, "binary", 999).type, "rate_limited");
  });
  await t.step("other clients have their own budget", () => {
    assert.equal(clients.admit(B, PEER_2, "binary", 500).type, "ok");
  });
  await t.step("a new window starts 1000 ms after the last one began", () => {
    assert.equal(clients.admit(A, PEER_1, "binary", 1000).type, "ok");
    assert.equal(clients.admit(A, PEER_1, "binary", 1001).type, "ok");
    assert.equal(clients.admit(A, PEER_1, "binary", 1002).type, "ok");
    assert.equal(clients.admit(A, PEER_1, "binary", 1003).type, "rate_limited");
  });
  await t.step("a limited request still counts as traffic", () => {
    // Idle timeout 1000: A spoke at 1003, so it is alive at 1500.
    assert.deepEqual(clients.expireIdle(1500), []);
    assert.ok(clients.get(A));
  });
});

Deno.test("admit() refuses new clients beyond maxClients but serves known ones", () => {
  const clients = table({ maxClients: 2 });
  ok(clients.admit(A, PEER_1, "binary", 0));
  ok(clients.admit(B, PEER_2, "binary", 0));
  assert.deepEqual(clients.admit(C, PEER_1, "binary", 0), { type: "full" });
  assert.equal(clients.connections, 2);
  assert.equal(clients.get(C), undefined);
  assert.equal(clients.admit(A, PEER_1, "binary", 1).type, "ok");
  clients.remove(B);
  assert.equal(ok(clients.admit(C, PEER_2, "binary", 2)).fresh, true);
});

Deno.test("remove() forgets a client and its session", () => {
  const clients = table();
  const entry = ok(clients.admit(A, PEER_1, "binary", 0)).entry;
  clients.bind(entry, 5);
  assert.equal(clients.remove(A), entry);
  assert.equal(entry.userId, 0);
  assert.equal(clients.get(A), undefined);
  assert.equal(clients.connections, 0);
  assert.equal(clients.sessions, 0);
  assert.equal(clients.remove(A), undefined);
  // A removed client is never reported idle.
  assert.deepEqual(clients.expireIdle(100_000), []);
});

Deno.test("expireIdle() drops clients silent past the timeout and reports their user", () => {
  const clients = table({ idleTimeoutMs: 1000 });
  const a = ok(clients.admit(A, PEER_1, "binary", 0)).entry;
  clients.bind(a, 9);
  ok(clients.admit(B, PEER_2, "json", 0));
  ok(clients.admit(C, PEER_1, "binary", 0));
  assert.deepEqual(clients.expireIdle(500), []);
  // C keeps talking.
  for (let now = 100; now <= 2000; now += 100) ok(clients.admit(C, PEER_1, "binary", now));
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
  const back = ok(clients.admit(A, PEER_1, "binary", 2100));
  assert.equal(back.fresh, true);
  assert.equal(back.entry.userId, 0);
});

Deno.test("expireIdle() looks at no more than `budget` clients per call", () => {
  const clients = table({ idleTimeoutMs: 1000 });
  const ids = Array.from(
    { length: 10 },
    (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
  );
  for (const id of ids) ok(clients.admit(id, PEER_1, "binary", 0));
  const batches: number[] = [];
  for (let i = 0; i < 6; i++) batches.push(clients.expireIdle(5000, 3).length);
  assert.deepEqual(batches, [3, 3, 3, 1, 0, 0]);
  assert.equal(clients.connections, 0);
});

Deno.test("entries() lists every client", () => {
  const clients = table();
  ok(clients.admit(A, PEER_1, "binary", 0));
  ok(clients.admit(B, PEER_2, "binary", 0));
  assert.deepEqual([...clients.entries()].map((e) => e.clientId).sort(), [A, B].sort());
});

Deno.test("peerToKey() tells routing ids apart by every byte", () => {
  assert.equal(peerToKey(PEER_1), peerToKey(PEER_1.slice()));
  assert.notEqual(peerToKey(PEER_1), peerToKey(PEER_2));
  assert.notEqual(peerToKey(new Uint8Array([1])), peerToKey(new Uint8Array([1, 0])));
  assert.equal(peerToKey(new Uint8Array()), "");
  assert.equal(peerToKey(new Uint8Array([255, 0])).length, 2);
});
