// Sentinel tests: election rounds and promises (the majority-promise rule of SAFETY.md).
import assert from "node:assert/strict";
import type { NodeLoad, PrepareAction, Role, SentinelAction } from "./types.ts";
import type { Sentinel } from "./sentinel.ts";
import {
  logged,
  make,
  ofType,
  only,
  type Position,
  prom,
  reg,
  rep,
  view,
  Voters,
  votersOf,
} from "../../tests/support/sentinel_util.ts";

const M3 = ["m1", "s1", "s2"];

/** One node's promise in a table case. */
interface Promiser {
  id: string;
  position: Position;
  role?: Role;
  load?: Partial<NodeLoad>;
}

Deno.test("promise(): the highest position wins, however loaded and whatever its configured role", async (t) => {
  const cases: [string, Promiser[], string][] = [
    ["a higher sequence beats the configured master and a lower load", [
      { id: "m1", role: "master", position: { epoch: 2, seq: 4 }, load: { loadFactor: 0.05 } },
      { id: "s1", position: { epoch: 2, seq: 5 }, load: { loadFactor: 0.9, connections: 500 } },
    ], "s1"],
    ["a higher position epoch beats a higher sequence", [
      { id: "m1", role: "master", position: { epoch: 2, seq: 100 } },
      { id: "s1", position: { epoch: 3, seq: 1 }, load: { loadFactor: 0.9 } },
    ], "s1"],
    ["equal positions beyond (0, 0): load decides, not the configured role", [
      { id: "m1", role: "master", position: { epoch: 2, seq: 5 }, load: { loadFactor: 0.9 } },
      { id: "s1", position: { epoch: 2, seq: 5 }, load: { loadFactor: 0.1 } },
    ], "s1"],
    ["a new cluster, (0, 0) everywhere: the configured master wins, however loaded", [
      { id: "m1", role: "master", position: { epoch: 0, seq: 0 }, load: { loadFactor: 0.9 } },
      { id: "s1", position: { epoch: 0, seq: 0 }, load: { loadFactor: 0 } },
    ], "m1"],
    ["a new cluster without its configured master among the promisers: load decides", [
      { id: "s1", position: { epoch: 0, seq: 0 }, load: { loadFactor: 0.5 } },
      { id: "s2", position: { epoch: 0, seq: 0 }, load: { loadFactor: 0.1 } },
    ], "s2"],
  ];
  for (const [name, promisers, winner] of cases) {
    for (const order of [promisers, [...promisers].reverse()]) {
      await t.step(`${name} (${order.map((p) => p.id).join(", ")})`, () => {
        const s = make();
        for (const p of promisers) reg(s, p.id, 0, { role: p.role, members: M3 });
        assert.equal(s.snapshot().election?.epoch, 1);
        const actions = order.flatMap((p, i) =>
          prom(s, p.id, 10 + i, { position: p.position, configuredRole: p.role, load: p.load })
        );
        const convert = only(actions, "convert_to_master");
        assert.equal(convert.nodeId, winner);
        assert.equal(convert.epoch, 1);
        const loser = promisers.find((p) => p.id !== winner)!.id;
        assert.equal(only(actions, "change_master").nodeId, loser);
        assert.equal(s.snapshot().masterId, winner);
      });
    }
  }
});

Deno.test("promise() ignores promises that cannot count: another round's, an unknown node's, another run's, a dead node's", async (t) => {
  const s = make({ electionTimeoutMs: 800 });
  reg(s, "m1", 0, { role: "master", members: M3 });
  reg(s, "s1", 0);
  reg(s, "s2", 0);
  assert.equal(s.snapshot().election?.epoch, 1);
  const retry = s.tick(800);
  assert.deepEqual(ofType(retry, "prepare").map((p) => [p.nodeId, p.epoch]), [
    ["m1", 2],
    ["s1", 2],
    ["s2", 2],
  ]);
  const none = () => assert.deepEqual(s.snapshot().election?.promised, []);

  await t.step("a late promise for the abandoned round", () => {
    const actions = prom(s, "s1", 810, { epoch: 1 });
    assert.deepEqual(logged(actions, /^Late promise/), [
      "Late promise of s1 for epoch 1 ignored",
    ]);
    none();
    assert.equal(s.epoch, 2);
  });

  await t.step("a node the registry does not know (never registered: not a member)", () => {
    const actions = prom(s, "x9", 820, { epoch: 2 });
    assert.deepEqual(logged(actions, /^Ignored a promise/), [
      "Ignored a promise from x9 (run run-x9)",
    ]);
    none();
    assert.equal(s.nodes().some((n) => n.nodeId === "x9"), false);
  });

  await t.step("another run of a member", () => {
    const actions = prom(s, "s1", 830, { epoch: 2, runId: "run-s1-old" });
    assert.equal(logged(actions, /^Ignored a promise from s1 \(run run-s1-old\)/).length, 1);
    none();
  });

  await t.step("a member declared dead", () => {
    rep(s, "m1", 900);
    rep(s, "s1", 900);
    assert.equal(only(s.tick(1000), "log").message, "Slave s2 removed: silent for 1000 ms");
    const actions = prom(s, "s2", 1010, { epoch: 2 });
    assert.equal(logged(actions, /^Ignored a promise from s2/).length, 1);
    none();
    assert.equal(view(s, "s2").alive, false);
  });

  await t.step("none of them counted: two good promises are still needed", () => {
    const first = prom(s, "m1", 1020, { configuredRole: "master" });
    assert.equal(ofType(first, "convert_to_master").length, 0);
    const second = prom(s, "s1", 1030);
    assert.equal(only(second, "convert_to_master").nodeId, "m1");
    assert.equal(only(second, "convert_to_master").epoch, 2);
  });
});

Deno.test("a refusal from a node that promised a newer epoch ends the round; the next asks for promisedEpoch + 1", () => {
  const s = make({ electionTimeoutMs: 600, random: () => 0.5 });
  reg(s, "m1", 0, { role: "master", members: M3 });
  reg(s, "s1", 0);
  assert.equal(s.snapshot().election?.epoch, 1);
  // s1 promised epoch 5 to another registry: it refuses 1 and says so.
  const refused = prom(s, "s1", 10, { granted: false, promisedEpoch: 5, epoch: 1 });
  assert.deepEqual(logged(refused, /refused/, "warn"), ["s1 refused epoch 1: it promised 5"]);
  assert.equal(s.epoch, 5);
  assert.equal(s.snapshot().election, null, "a master at 1 would be stale: the round ends");
  // A promise for the ended round counts for nothing.
  const late = prom(s, "m1", 20, { epoch: 1 });
  assert.equal(ofType(late, "convert_to_master").length, 0);
  assert.equal(logged(late, /^Late promise of m1 for epoch 1/).length, 1);
  // The other coordinator gets up to one election timeout (random 0.5: 300 ms) to finish first.
  rep(s, "m1", 300);
  assert.equal(ofType(rep(s, "s1", 305), "prepare").length, 0);
  const retry = s.tick(310);
  assert.deepEqual(ofType(retry, "prepare").map((p) => [p.nodeId, p.epoch]), [
    ["m1", 6],
    ["s1", 6],
  ]);
  const actions = votersOf(s).answer(s, retry, 320);
  assert.deepEqual(only(actions, "convert_to_master").epoch, 6);
  assert.equal(s.snapshot().masterEpoch, 6);
});

Deno.test("a round without a majority of promises in electionTimeoutMs is abandoned and retried at a higher epoch", async (t) => {
  const s = make({ electionTimeoutMs: 500 });
  reg(s, "m1", 0, { role: "master", members: M3 });
  reg(s, "s1", 0);

  await t.step("nobody answers round 1: retried at epoch 2 after the timeout, not before", () => {
    assert.deepEqual(s.tick(499), []);
    const actions = s.tick(500);
    assert.deepEqual(logged(actions, /^Election for epoch 1 failed/, "warn"), [
      "Election for epoch 1 failed: promises from [], a majority is 2 of 3",
    ]);
    assert.deepEqual(ofType(actions, "prepare").map((p) => [p.nodeId, p.epoch]), [
      ["m1", 2],
      ["s1", 2],
    ]);
    assert.deepEqual(s.snapshot().election, { epoch: 2, startedAt: 500, promised: [] });
  });

  await t.step("one promise of round 2 is not enough: round 3, whose promises start empty", () => {
    prom(s, "m1", 510);
    rep(s, "s1", 900);
    const actions = s.tick(1000);
    assert.equal(logged(actions, /^Election for epoch 2 failed: promises from \[m1\]/).length, 1);
    assert.deepEqual(ofType(actions, "prepare").map((p) => p.epoch), [3, 3]);
    assert.deepEqual(s.snapshot().election, { epoch: 3, startedAt: 1000, promised: [] });
    assert.equal(s.epoch, 3);
  });

  await t.step("round 3 answered: master at epoch 3", () => {
    prom(s, "s1", 1010);
    const actions = prom(s, "m1", 1020, { configuredRole: "master" });
    assert.deepEqual(only(actions, "convert_to_master").epoch, 3);
    assert.equal(s.snapshot().masterEpoch, 3);
  });
});

// --- two registries ------------------------------------------------------------------------------

/** Registers every member with `s` at `now`, answering nothing. */
function registerAll(s: Sentinel, now: number): SentinelAction[] {
  return M3.flatMap((id) =>
    reg(s, id, now, { role: id === "m1" ? "master" : "slave", members: M3 })
  );
}

Deno.test("two registries over the same nodes never install two masters for one epoch", () => {
  // The nodes are shared: each promises an epoch once, to whichever registry asks first. Both
  // registries start their rounds at once and their prepares are delivered crossed.
  const nodes = new Voters();
  nodes.configured.set("m1", "master");
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const a = make({ registryId: "A", electionTimeoutMs: 500, random });
  const b = make({ registryId: "B", electionTimeoutMs: 500, random });
  const installed = new Map<number, Set<string>>(); // epoch → nodes made master in it
  const queue: { name: string; s: Sentinel; p: PrepareAction }[] = [];
  const take = (name: string, s: Sentinel, actions: SentinelAction[]) => {
    for (const c of ofType(actions, "convert_to_master")) {
      installed.set(c.epoch, new Set([...(installed.get(c.epoch) ?? []), c.nodeId]));
    }
    for (const p of ofType(actions, "prepare")) queue.push({ name, s, p });
  };
  take("A", a, registerAll(a, 0));
  take("B", b, registerAll(b, 0));
  assert.equal(queue.filter((q) => q.name === "A")[0].p.registryId, "A");
  let now = 0;
  for (
    let step = 0;
    step < 200 && !(a.masterId && b.masterId && a.masterId === b.masterId);
    step++
  ) {
    now += 10;
    // Crossed: alternate which registry's oldest prepare is delivered.
    const i = queue.findIndex((q) => q.name === (step % 2 ? "A" : "B"));
    if (i >= 0) {
      const [q] = queue.splice(i, 1);
      take(q.name, q.s, nodes.reply(q.s, q.p, now));
    }
    // Every node reports to both registries: its role and epoch as the registries made it.
    if (step % 5 === 0) {
      for (const id of M3) {
        for (const [name, s] of [["A", a], ["B", b]] as const) {
          const isMaster = [...installed.entries()].some(([e, ids]) =>
            ids.has(id) && e === Math.max(...installed.keys())
          );
          take(
            name,
            s,
            rep(s, id, now, {
              role: isMaster ? "master" : "slave",
              epoch: nodes.promised.get(id) ?? 0,
            }),
          );
        }
      }
    }
    take("A", a, a.tick(now));
    take("B", b, b.tick(now));
  }
  for (const [epoch, ids] of installed) {
    assert.equal(ids.size, 1, `epoch ${epoch}: masters ${[...ids]}`);
  }
  assert.ok(installed.size > 0, "some master was elected");
  assert.ok(a.masterId !== null && a.masterId === b.masterId, "the registries agree on the master");
  assert.equal(a.snapshot().masterEpoch, b.snapshot().masterEpoch);
});
