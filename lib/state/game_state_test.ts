import assert from "node:assert/strict";
import { GameState, newToken } from "./game_state.ts";
import { StateError } from "./errors.ts";
import type { WorldOptions } from "../world/mod.ts";
import { mulberry32 } from "../random/mod.ts";

const OPTIONS: WorldOptions = {
  width: 1000,
  height: 1000,
  cellSize: 50,
  maxUsers: 50,
  maxSpeed: 10,
  initialMoney: 100,
};

const seeded = mulberry32;

/** A deterministic token (32 hex chars) per number. */
function token(n: number): string {
  return n.toString(16).padStart(32, "0");
}

function loggedIn(state: GameState, x: number, y: number, n: number): number {
  const result = state.login(x, y, token(n));
  assert.ok(result.ok);
  return result.userId;
}

Deno.test("newToken() returns 32 lowercase hex chars, different each time", () => {
  const a = newToken();
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(newToken(), a);
});

Deno.test("login() adds users with increasing ids at the given position", () => {
  const state = new GameState(OPTIONS);
  assert.deepEqual(state.login(10, 20, token(1)), {
    ok: true,
    userId: 1,
    token: token(1),
    resumed: false,
    generation: 0,
  });
  const second = state.login(30.5, 40.25, token(2));
  assert.ok(second.ok && second.userId === 2);
  assert.deepEqual(state.world.getUser(2), { id: 2, x: 30.5, y: 40.25, vx: 0, vy: 0, money: 100 });
  assert.equal(state.world.size, 2);
  assert.equal(state.generation(1), 0);
  assert.equal(state.pendingOps, 2);
});

Deno.test("login() refuses a user beyond maxUsers and logs nothing", () => {
  const state = new GameState({ ...OPTIONS, maxUsers: 2 });
  loggedIn(state, 1, 1, 1);
  loggedIn(state, 2, 2, 2);
  state.drainOps();
  assert.deepEqual(state.login(3, 3, token(3)), { ok: false, reason: "world_full" });
  assert.equal(state.pendingOps, 0);
  assert.equal(state.world.size, 2);
});

Deno.test("login() at a position outside the world throws and changes nothing", () => {
  const state = new GameState(OPTIONS);
  const replica = new GameState(OPTIONS);
  const checksum = state.checksum();
  assert.throws(() => state.login(-1, 5, token(1)));
  assert.throws(() => state.login(5, NaN, token(1)));
  assert.equal(state.pendingOps, 0);
  assert.equal(state.world.nextUserId, 1);
  assert.equal(state.checksum(), checksum);
  // The next login keeps master and replica in step.
  assert.equal(loggedIn(state, 5, 5, 1), 1);
  replica.applyOps(state.drainOps());
  assert.equal(replica.checksum(), state.checksum());
});

Deno.test("resume() needs the user's token and raises its generation", async (t) => {
  const state = new GameState(OPTIONS);
  const id = loggedIn(state, 5, 5, 1);
  await t.step("the right token resumes", () => {
    assert.deepEqual(state.resume(id, token(1)), {
      ok: true,
      userId: id,
      token: token(1),
      resumed: true,
      generation: 1,
    });
    assert.equal(state.generation(id), 1);
    const again = state.resume(id, token(1));
    assert.ok(again.ok && again.generation === 2);
  });
  await t.step("a wrong or malformed token is refused", () => {
    const ops = state.pendingOps;
    for (const bad of [token(2), token(1).slice(1), "", `${token(1)}0`]) {
      assert.deepEqual(state.resume(id, bad), { ok: false, reason: "session_invalid" }, bad);
    }
    assert.equal(state.generation(id), 2);
    assert.equal(state.pendingOps, ops);
  });
  await t.step("an unknown user is refused", () => {
    assert.deepEqual(state.resume(99, token(1)), { ok: false, reason: "session_invalid" });
  });
  await t.step("a logged-out user is refused", () => {
    assert.equal(state.logout(id), true);
    assert.deepEqual(state.resume(id, token(1)), { ok: false, reason: "session_invalid" });
    assert.equal(state.generation(id), undefined);
  });
});

Deno.test("resume() compares tokens exactly, letter case included", () => {
  const state = new GameState(OPTIONS);
  const id = loggedIn(state, 5, 5, 0xabcdef);
  assert.deepEqual(state.resume(id, token(0xabcdef).toUpperCase()), {
    ok: false,
    reason: "session_invalid",
  });
  assert.ok(state.resume(id, token(0xabcdef)).ok);
});

Deno.test("logout() removes a user and its credential", () => {
  const state = new GameState(OPTIONS);
  const id = loggedIn(state, 5, 5, 1);
  assert.equal(state.logout(id), true);
  assert.equal(state.world.has(id), false);
  assert.equal(state.logout(id), false);
  assert.equal(state.logout(12345), false);
  // Ids are never reused.
  assert.equal(loggedIn(state, 5, 5, 2), id + 1);
});

Deno.test("expire() removes a user only while its generation is unchanged", async (t) => {
  const state = new GameState(OPTIONS);
  const id = loggedIn(state, 5, 5, 1);
  await t.step("a resume since the drop keeps the user", () => {
    const before = state.generation(id)!;
    assert.ok(state.resume(id, token(1)).ok);
    const ops = state.pendingOps;
    assert.equal(state.expire(id, before), false);
    assert.equal(state.world.has(id), true);
    assert.equal(state.pendingOps, ops);
  });
  await t.step("the current generation removes it", () => {
    assert.equal(state.expire(id, state.generation(id)!), true);
    assert.equal(state.world.has(id), false);
    assert.equal(state.generation(id), undefined);
  });
  await t.step("an unknown user is left alone", () => {
    assert.equal(state.expire(id, 0), false);
    assert.equal(state.expire(999, 0), false);
  });
});

Deno.test("setVelocity() moves a known user and refuses an unknown one", () => {
  const state = new GameState(OPTIONS);
  const id = loggedIn(state, 500, 500, 1);
  assert.equal(state.setVelocity(id, 3, -4), true);
  state.world.step(1);
  assert.deepEqual(state.world.getUser(id), { id, x: 503, y: 496, vx: 3, vy: -4, money: 100 });
  state.drainOps();
  assert.equal(state.setVelocity(999, 1, 1), false);
  assert.equal(state.pendingOps, 0);
});

Deno.test("aoe() changes the money of other users in range and returns them", async (t) => {
  const state = new GameState(OPTIONS);
  const source = loggedIn(state, 100, 100, 1);
  const near = loggedIn(state, 110, 100, 2);
  const edge = loggedIn(state, 100, 120, 3);
  const far = loggedIn(state, 300, 300, 4);
  state.drainOps();
  await t.step("users within the radius, border included, except the source", () => {
    const out = new Uint32Array(10);
    const total = state.aoe(source, 20, -30, out);
    assert.equal(total, 2);
    assert.deepEqual([...out.subarray(0, total)].sort(), [near, edge].sort());
    assert.equal(state.world.getUser(near)?.money, 70);
    assert.equal(state.world.getUser(edge)?.money, 70);
    assert.equal(state.world.getUser(source)?.money, 100);
    assert.equal(state.world.getUser(far)?.money, 100);
    assert.equal(state.pendingOps, 1);
  });
  await t.step("the total counts users beyond the room in `out`", () => {
    const out = new Uint32Array(1);
    assert.equal(state.aoe(source, 20, 5, out), 2);
  });
  await t.step("an unknown source returns -1 and logs nothing", () => {
    const ops = state.pendingOps;
    assert.equal(state.aoe(999, 20, 5, new Uint32Array(4)), -1);
    assert.equal(state.pendingOps, ops);
  });
  await t.step("an aoe the world rejects logs nothing", () => {
    const ops = state.pendingOps;
    assert.throws(() => state.aoe(source, -1, 5, new Uint32Array(4)));
    assert.throws(() => state.aoe(source, 10, NaN, new Uint32Array(4)));
    assert.equal(state.pendingOps, ops);
  });
});

/** Runs a seeded mix of writes and ticks on a master, replaying each tick's ops on a replica. */
function replicate(seed: number, ticks: number) {
  const random = seeded(seed);
  const master = new GameState(OPTIONS);
  const replica = new GameState(OPTIONS);
  const tokens = new Map<number, string>();
  const out = new Uint32Array(64);
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < 3; i++) {
      const ids = [...tokens.keys()];
      const id = ids[Math.floor(random() * ids.length)];
      const r = random();
      if (ids.length === 0 || r < 0.25) {
        const t = newToken();
        const result = master.login(random() * 1000, random() * 1000, t);
        if (result.ok) tokens.set(result.userId, t);
      } else if (r < 0.35) {
        master.resume(id, tokens.get(id)!);
      } else if (r < 0.4) {
        master.logout(id);
        tokens.delete(id);
      } else if (r < 0.45) {
        if (master.expire(id, master.generation(id)!)) tokens.delete(id);
      } else if (r < 0.75) {
        const angle = random() * 2 * Math.PI;
        master.setVelocity(id, 10 * Math.cos(angle), 10 * Math.sin(angle));
      } else {
        master.aoe(id, random() * 100, Math.round(random() * 20 - 10), out);
      }
    }
    const ops = master.drainOps();
    master.world.step(0.05);
    replica.applyOps(ops);
    replica.world.step(0.05);
  }
  return { master, replica, tokens };
}

Deno.test("applyOps() of the master's drained ops reproduces its state on a replica", async (t) => {
  const { master, replica, tokens } = replicate(42, 200);
  await t.step("same checksum and users", () => {
    assert.ok(tokens.size > 0);
    assert.equal(replica.checksum(), master.checksum());
    assert.equal(replica.world.size, master.world.size);
    for (const id of tokens.keys()) {
      assert.deepEqual(replica.world.getUser(id), master.world.getUser(id));
      assert.equal(replica.generation(id), master.generation(id));
    }
  });
  await t.step("same credentials: the replica resumes with the master's tokens", () => {
    for (const [id, t] of tokens) assert.ok(replica.resume(id, t).ok, `user ${id}`);
    assert.ok(!replica.resume([...tokens.keys()][0], token(0)).ok);
  });
  await t.step("a replica records nothing to publish", () => {
    const again = new GameState(OPTIONS);
    const ops = new GameState(OPTIONS);
    ops.login(1, 1, token(1));
    assert.equal(again.applyOps(ops.drainOps()), 1);
    assert.equal(again.pendingOps, 0);
    assert.equal(again.drainOps().length, 0);
  });
});

Deno.test("checksum() differs when the replicated state differs", () => {
  const a = new GameState(OPTIONS);
  const b = new GameState(OPTIONS);
  assert.equal(a.checksum(), b.checksum());
  loggedIn(a, 1, 1, 1);
  assert.notEqual(a.checksum(), b.checksum());
  loggedIn(b, 1, 1, 1);
  assert.equal(a.checksum(), b.checksum());
  a.setVelocity(1, 1, 0);
  assert.notEqual(a.checksum(), b.checksum());
});

Deno.test("checksum(part, parts) covers the sessions of its part's users too", () => {
  const a = new GameState(OPTIONS);
  const b = new GameState(OPTIONS);
  for (let n = 1; n <= 6; n++) {
    loggedIn(a, n, n, n);
    loggedIn(b, n, n, n);
  }
  assert.ok(b.resume(5, token(5)).ok); // only the session changes: its generation
  assert.equal(a.world.checksum(), b.world.checksum());
  for (let part = 0; part < 3; part++) {
    assert.equal(a.checksum(part, 3) === b.checksum(part, 3), part !== 5 % 3, `part ${part}`);
  }
  assert.notEqual(a.checksum(), b.checksum());
});

Deno.test("applyOps() throws StateError for ops that do not fit the state", async (t) => {
  const master = new GameState(OPTIONS);
  loggedIn(master, 1, 1, 1);
  loggedIn(master, 2, 2, 2);
  const twoLogins = master.drainOps();
  await t.step("a login out of sequence", () => {
    const replica = new GameState(OPTIONS);
    replica.applyOps(twoLogins);
    assert.throws(() => replica.applyOps(twoLogins), StateError);
  });
  await t.step("a resume of an unknown user", () => {
    const m = new GameState(OPTIONS);
    const id = loggedIn(m, 1, 1, 1);
    m.drainOps();
    m.resume(id, token(1));
    assert.throws(() => new GameState(OPTIONS).applyOps(m.drainOps()), StateError);
  });
  await t.step("truncated bytes", () => {
    assert.throws(
      () => new GameState(OPTIONS).applyOps(twoLogins.subarray(0, twoLogins.length - 1)),
      StateError,
    );
  });
});

Deno.test("restore() rebuilds the state from a world snapshot and credentialsSnapshot()", async (t) => {
  const { master } = replicate(7, 100);
  const id = loggedIn(master, 10, 10, 77);
  master.resume(id, token(77));
  master.drainOps();
  const copy = new GameState(OPTIONS);
  loggedIn(copy, 5, 5, 5); // replaced by the snapshot
  copy.restore(master.world.snapshot(), master.credentialsSnapshot());
  await t.step("same checksum, users and generations", () => {
    assert.equal(copy.checksum(), master.checksum());
    assert.equal(copy.world.size, master.world.size);
    assert.deepEqual(copy.world.getUser(id), master.world.getUser(id));
    assert.equal(copy.generation(id), 1);
    assert.equal(copy.pendingOps, 0);
  });
  await t.step("tokens survive: resume works and bumps the generation", () => {
    const result = copy.resume(id, token(77));
    assert.ok(result.ok && result.generation === 2);
    assert.ok(!copy.resume(id, token(78)).ok);
  });
  await t.step("ids continue after the master's", () => {
    const next = master.login(1, 1, token(90));
    const mine = copy.login(1, 1, token(90));
    assert.ok(next.ok && mine.ok);
    assert.equal(mine.userId, next.userId);
    master.drainOps();
  });
  await t.step("the replica then follows the master's ops", () => {
    const fresh = new GameState(OPTIONS);
    fresh.restore(master.world.snapshot(), master.credentialsSnapshot());
    master.setVelocity(id, 1, 1);
    fresh.applyOps(master.drainOps());
    assert.equal(fresh.checksum(), master.checksum());
  });
  await t.step("an empty state restores to an empty state", () => {
    const empty = new GameState(OPTIONS);
    const target = new GameState(OPTIONS);
    loggedIn(target, 1, 1, 1);
    target.restore(empty.world.snapshot(), empty.credentialsSnapshot());
    assert.equal(target.world.size, 0);
    assert.equal(target.checksum(), empty.checksum());
  });
});

Deno.test("restore() throws StateError for corrupt snapshots and keeps the old state", async (t) => {
  const master = new GameState(OPTIONS);
  loggedIn(master, 1, 1, 1);
  loggedIn(master, 2, 2, 2);
  const world = master.world.snapshot();
  const credentials = master.credentialsSnapshot();
  const target = new GameState(OPTIONS);
  const kept = loggedIn(target, 9, 9, 9);
  const flipped = world.slice();
  flipped[40] ^= 1;
  const countTooHigh = credentials.slice();
  countTooHigh[0] = 3;
  const cases: [string, Uint8Array, Uint8Array, RegExp][] = [
    ["credentials shorter than their header", world, credentials.subarray(0, 3), /truncated/],
    [
      "credentials cut short",
      world,
      credentials.subarray(0, credentials.length - 1),
      /wrong length/,
    ],
    ["credentials with extra bytes", world, new Uint8Array([...credentials, 0]), /wrong length/],
    ["a count that does not match", world, countTooHigh, /wrong length/],
    ["a corrupt world", flipped, credentials, /^Bad world snapshot: /],
    ["a truncated world", world.subarray(0, 10), credentials, /^Bad world snapshot: /],
    [
      "a world of other dimensions",
      new GameState({ ...OPTIONS, width: 999 }).world.snapshot(),
      credentials,
      /^Bad world snapshot: /,
    ],
  ];
  for (const [name, w, c, pattern] of cases) {
    await t.step(name, () => {
      // Each step resumes the kept user (a new generation), so the checksum is taken per step.
      const checksum = target.checksum();
      assert.throws(() => target.restore(w, c), (err: unknown) => {
        assert.ok(err instanceof StateError, `expected a StateError, got ${err}`);
        assert.match(err.message, pattern);
        return true;
      });
      assert.equal(target.checksum(), checksum);
      assert.ok(target.world.has(kept));
      assert.ok(target.resume(kept, token(9)).ok);
    });
  }
});

Deno.test("credentialsSnapshot() reads back at an offset inside a larger buffer", () => {
  const master = new GameState(OPTIONS);
  const id = loggedIn(master, 1, 1, 0xabc);
  const credentials = master.credentialsSnapshot();
  const big = new Uint8Array(credentials.length + 5);
  big.set(credentials, 5);
  const copy = new GameState(OPTIONS);
  copy.restore(master.world.snapshot(), big.subarray(5));
  assert.ok(copy.resume(id, token(0xabc)).ok);
});

Deno.test("snapshotWriter() encodes the state of its call while writes go on", async (t) => {
  for (const slice of [1, 3, 17, Number.POSITIVE_INFINITY]) {
    await t.step(`slices of ${slice}`, () => {
      const rng = seeded(slice === Number.POSITIVE_INFINITY ? 99 : slice);
      const state = new GameState({ ...OPTIONS, maxUsers: 200 });
      const live: number[] = [];
      let n = 0;
      const write = () => {
        const r = rng();
        if (r < 0.35 || live.length === 0) {
          const result = state.login(rng() * 999, rng() * 999, token(++n));
          if (result.ok) live.push(result.userId);
        } else if (r < 0.55) {
          state.resume(live[Math.floor(rng() * live.length)], "");
          const id = live[Math.floor(rng() * live.length)];
          assert.ok(state.resume(id, token(id)).ok);
        } else if (r < 0.75) {
          const id = live.splice(Math.floor(rng() * live.length), 1)[0];
          if (rng() < 0.5) state.logout(id);
          else state.expire(id, state.generation(id)!);
        } else {
          state.setVelocity(live[Math.floor(rng() * live.length)], rng() * 4, rng() * 4);
        }
      };
      for (let i = 0; i < 150; i++) write();
      state.step();
      const checksum = state.checksum();
      const writer = state.snapshotWriter();
      while (!writer.step(slice)) {
        for (let i = 0; i < 3; i++) write();
        state.step();
      }
      const copy = new GameState({ ...OPTIONS, maxUsers: 200 });
      copy.restore(writer.world, writer.credentials);
      assert.equal(copy.checksum(), checksum);
      assert.equal(
        writer.credentials.length,
        4 + 24 * new DataView(writer.credentials.buffer).getUint32(0, true),
      );
    });
  }
});

Deno.test("a snapshot writer is cancelled by restore() and abandoned by the next one", () => {
  const state = new GameState(OPTIONS);
  loggedIn(state, 1, 1, 1);
  const first = state.snapshotWriter();
  const second = state.snapshotWriter();
  assert.equal(first.cancelled, true);
  assert.throws(() => first.step(), /cancelled/);
  loggedIn(state, 2, 2, 2);
  state.restore(
    new GameState(OPTIONS).world.snapshot(),
    new GameState(OPTIONS).credentialsSnapshot(),
  );
  assert.equal(second.cancelled, true);
  const third = state.snapshotWriter();
  assert.ok(third.step());
  assert.deepEqual(third.credentials, state.credentialsSnapshot());
});
