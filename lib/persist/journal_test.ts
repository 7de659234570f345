import assert from "node:assert/strict";
import { GameState } from "../state/mod.ts";
import { mulberry32 } from "../random/mod.ts";
import { Journal, type JournalOptions } from "./journal.ts";
import { PersistError } from "./errors.ts";
import type { LogRecord } from "./log_record.ts";

const WORLD = { width: 1000, height: 1000, maxUsers: 500, maxSpeed: 20 };

/**
 * A master's history: records 1…n of epoch 1 (logins, velocities, resumes, logouts, then one step
 * each) and the state's checksum after each, so any recovered position can be checked exactly.
 */
class History {
  readonly master = new GameState(WORLD);
  readonly records: LogRecord[] = [];
  /** checksums[seq]: the checksum after update seq (0: empty). */
  readonly checksums: number[] = [new GameState(WORLD).checksum()];
  readonly #rng = mulberry32(7);
  #tokens = 0;

  /** Writes a few ops, steps, and returns the update (appended to `records`). */
  next(epoch = 1): LogRecord {
    const m = this.master;
    const rng = this.#rng;
    const writes = Math.floor(rng() * 4);
    for (let i = 0; i < writes; i++) {
      const r = rng();
      const id = 1 + Math.floor(rng() * Math.max(1, m.world.nextUserId - 1));
      if (r < 0.4 || m.world.size === 0) {
        m.login(rng() * 999, rng() * 999, (++this.#tokens).toString(16).padStart(32, "0"));
      } else if (r < 0.8) m.setVelocity(id, rng() * 10 - 5, rng() * 10 - 5);
      else if (r < 0.9) m.resume(id, id.toString(16).padStart(32, "0"));
      else m.logout(id);
    }
    const ops = m.drainOps();
    m.step();
    const record = { epoch, seq: this.records.length + 1, ops };
    this.records.push(record);
    this.checksums.push(m.checksum());
    return record;
  }
}

function options(dir: string, extra: Partial<JournalOptions> = {}): JournalOptions {
  return {
    dir,
    nodeId: "n1",
    snapshotIntervalMs: 1e9,
    snapshotLogBytes: 1e12,
    ...extra,
  };
}

/** Opens the journal over a fresh state: the state, the journal and the recovery report. */
function open(dir: string, extra: Partial<JournalOptions> = {}) {
  const state = new GameState(WORLD);
  const { journal, report } = Journal.open(state, options(dir, extra));
  return { state, journal, report };
}

/** Applies and appends `count` more updates of `history`, committing each like a tick. */
function run(history: History, state: GameState, journal: Journal, count: number): void {
  for (let i = 0; i < count; i++) {
    const record = history.next();
    state.applyUpdate(record.ops);
    journal.append(record);
    journal.commit();
    journal.afterTick();
  }
}

function files(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "LOCK" && n !== "NODE")
    .sort();
}

Deno.test("Journal: what was appended and committed is there after a reopen", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const history = new History();
    await t.step("a new folder starts empty at epoch 0 seq 0", async () => {
      const { state, journal, report } = open(dir);
      assert.deepEqual(report.position, { epoch: 0, seq: 0 });
      assert.deepEqual(report.problems, []);
      run(history, state, journal, 40);
      await journal.close();
      assert.deepEqual(files(dir), ["log-000000000000.wal"]);
    });
    await t.step("the reopened state is the one at the last update", async () => {
      const { state, journal, report } = open(dir);
      assert.deepEqual(report.position, { epoch: 1, seq: 40 });
      assert.equal(report.replayed, 40);
      assert.equal(state.checksum(), history.checksums[40]);
      assert.deepEqual(journal.durable, { epoch: 1, seq: 40 });
      run(history, state, journal, 10);
      await journal.close();
    });
    await t.step("and appending goes on where it stopped", async () => {
      const { state, journal, report } = open(dir);
      assert.deepEqual(report.position, { epoch: 1, seq: 50 });
      assert.equal(state.checksum(), history.checksums[50]);
      await journal.close();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: whenDurable() waits for the write and fdatasync of a commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const history = new History();
    const { state, journal } = open(dir);
    const record = history.next();
    state.applyUpdate(record.ops);
    journal.append(record);
    let durable = false;
    journal.whenDurable({ epoch: 1, seq: 1 }, () => durable = true);
    assert.equal(durable, false, "not before the commit");
    journal.commit();
    assert.equal(durable, false, "not before the disk said so");
    await journal.settled();
    assert.equal(durable, true);
    assert.deepEqual(journal.durable, { epoch: 1, seq: 1 });
    let again = false;
    journal.whenDurable({ epoch: 1, seq: 1 }, () => again = true);
    assert.equal(again, true, "an already durable position runs at once");
    assert.throws(() => journal.append({ epoch: 1, seq: 5, ops: new Uint8Array() }), /follow/);
    await journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: a log cut mid-record recovers the whole records and says what it cut", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const history = new History();
    const first = open(dir);
    run(history, first.state, first.journal, 30);
    await first.journal.close();
    const path = `${dir}/log-000000000000.wal`;
    const full = Deno.readFileSync(path);
    const rng = mulberry32(11);
    for (let round = 0; round < 25; round++) {
      const cut = 36 + Math.floor(rng() * (full.length - 36));
      Deno.writeFileSync(path, full.subarray(0, cut));
      const { state, journal, report } = open(dir);
      const seq = report.position.seq;
      assert.equal(state.checksum(), history.checksums[seq], `cut at ${cut}: state at seq ${seq}`);
      assert.equal(report.replayed, seq);
      if (report.discarded.bytes > 0) {
        assert.equal(report.discarded.records, 1);
        assert.match(report.problems.join("\n"), /log 0: cut 1 record \(\d+ bytes\) .*torn/);
      }
      assert.equal(Deno.statSync(path).size, cut - report.discarded.bytes, "the tail is cut off");
      await journal.close();
    }
    // After the cut the log takes new records and keeps them.
    Deno.writeFileSync(path, full.subarray(0, full.length - 3));
    const again = open(dir);
    assert.deepEqual(again.report.position, { epoch: 1, seq: 29 });
    const record = history.records[29];
    again.state.applyUpdate(record.ops);
    again.journal.append(record);
    again.journal.commit();
    await again.journal.close();
    const last = open(dir);
    assert.deepEqual(last.report.position, { epoch: 1, seq: 30 });
    assert.deepEqual(last.report.problems, []);
    assert.equal(last.state.checksum(), history.checksums[30]);
    await last.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: a byte flipped in the log cuts it there and counts what followed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const history = new History();
    const first = open(dir);
    run(history, first.state, first.journal, 30);
    await first.journal.close();
    const path = `${dir}/log-000000000000.wal`;
    const full = Deno.readFileSync(path);
    // Record 20's position in the file: header + 19 records.
    let at = 36;
    for (let i = 0; i < 19; i++) at += 24 + history.records[i].ops.length;
    const bad = full.slice();
    bad[at + 6] ^= 0x40; // inside record 20's epoch field
    Deno.writeFileSync(path, bad);
    const { state, journal, report } = open(dir);
    assert.deepEqual(report.position, { epoch: 1, seq: 19 });
    assert.equal(state.checksum(), history.checksums[19]);
    assert.deepEqual(report.discarded, { records: 11, bytes: full.length - at });
    assert.match(report.problems[0], /log 0: cut 11 records .* checksum mismatch/);
    await journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: snapshots in slices, at most two kept, the log since the older one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const history = new History();
    const { state, journal } = open(dir, { sliceMs: 0, sliceUsers: 8 });
    run(history, state, journal, 60);
    for (let n = 1; n <= 3; n++) {
      assert.ok(journal.snapshotNow());
      assert.equal(journal.snapshotNow(), false, "one at a time");
      // Writes go on while it is encoded: the snapshot stays the state of its start.
      while (journal.snapshotting) {
        run(history, state, journal, 1);
        await journal.settled();
      }
      run(history, state, journal, 5);
    }
    await journal.close();
    assert.ok(journal.stats.lastSnapshot!.ticks > 1, "encoded over several ticks");
    assert.deepEqual(files(dir), [
      "log-000000000002.wal",
      "log-000000000003.wal",
      "snapshot-000000000002.snap",
      "snapshot-000000000003.snap",
    ]);
    const reopened = open(dir);
    assert.equal(reopened.report.snapshot, 3);
    assert.equal(reopened.state.checksum(), history.checksums[history.records.length]);
    await reopened.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: afterTick() starts a snapshot once the interval passed and the state moved", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    let now = 0;
    const history = new History();
    const { state, journal } = open(dir, { snapshotIntervalMs: 1000, now: () => now });
    now = 5000;
    journal.afterTick();
    assert.equal(journal.snapshotting, false, "nothing to snapshot: the state did not move");
    run(history, state, journal, 5);
    assert.equal(journal.snapshotting, true, "5000 ms passed and the state moved");
    while (journal.snapshotting) {
      run(history, state, journal, 1);
      await journal.settled();
    }
    assert.equal(journal.stats.snapshots, 1);
    run(history, state, journal, 3);
    now = 5999;
    run(history, state, journal, 1);
    assert.equal(journal.snapshotting, false, "not before the next interval");
    await journal.close();
    const reopened = open(dir);
    assert.equal(reopened.report.snapshot, 1);
    assert.equal(reopened.state.checksum(), history.checksums[history.records.length]);
    await reopened.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: a corrupt snapshot falls back to the one before and loses nothing", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const history = new History();
    const { state, journal } = open(dir, { sliceMs: 0 });
    for (let n = 0; n < 2; n++) {
      run(history, state, journal, 20);
      journal.snapshotNow();
      while (journal.snapshotting) {
        journal.afterTick();
        await journal.settled();
      }
    }
    run(history, state, journal, 20);
    await journal.close();
    const newest = `${dir}/snapshot-000000000002.snap`;
    const good = Deno.readFileSync(newest);
    const total = history.records.length;
    for (
      const [part, at] of [["header", 20], ["world", 48 + 60], ["credentials", good.length - 5]]
    ) {
      await t.step(`a byte flipped in its ${part}`, async () => {
        const bad = good.slice();
        bad[at as number] ^= 0x08;
        Deno.writeFileSync(newest, bad);
        const { state, journal, report } = open(dir);
        assert.equal(report.snapshot, 1, "fell back to snapshot 1");
        assert.deepEqual(report.corruptSnapshots, [2]);
        assert.match(report.problems[0], /snapshot 2 is unusable/);
        assert.deepEqual(report.segments, [1, 2], "replayed log 1, then went on into log 2");
        assert.deepEqual(report.position, { epoch: 1, seq: total });
        assert.equal(state.checksum(), history.checksums[total]);
        await journal.close();
        assert.ok(files(dir).includes("snapshot-000000000002.snap.corrupt"));
        Deno.removeSync(`${newest}.corrupt`);
        Deno.writeFileSync(newest, good);
      });
    }
    await t.step(
      "both snapshots corrupt: replayed from the empty state through every log",
      async () => {
        for (const g of [1, 2]) {
          const path = `${dir}/snapshot-00000000000${g}.snap`;
          const bad = Deno.readFileSync(path);
          bad[10] ^= 1;
          Deno.writeFileSync(path, bad);
        }
        const { state, journal, report } = open(dir);
        assert.equal(report.snapshot, undefined);
        assert.deepEqual(report.segments, [0, 1, 2]);
        assert.deepEqual(report.position, { epoch: 1, seq: total });
        assert.equal(state.checksum(), history.checksums[total]);
        assert.match(report.problems.join("\n"), /no snapshot is usable/);
        await journal.close();
      },
    );
    await t.step(
      "…and without the first log the rest cannot be replayed: empty, set aside",
      async () => {
        Deno.removeSync(`${dir}/log-000000000000.wal`);
        const { state, journal, report } = open(dir);
        assert.deepEqual(report.position, { epoch: 0, seq: 0 });
        assert.equal(state.world.size, 0);
        assert.deepEqual(report.unusedLogs, [1, 2]);
        assert.equal(report.discarded.records, total - 20);
        assert.match(report.problems.join("\n"), /log 1 \(20 records, \d+ bytes\) is not replayed/);
        await journal.close();
        assert.ok(files(dir).includes("log-000000000001.wal.unused"));
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: install() replaces the history with a master's snapshot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const mine = new History();
    const { state, journal } = open(dir);
    run(mine, state, journal, 10);
    let stale = false;
    const record = mine.next();
    state.applyUpdate(record.ops);
    journal.append(record);
    journal.whenDurable({ epoch: 1, seq: 11 }, () => stale = true);
    // The new master's history: epoch 2, its own state at seq 7.
    const master = new History();
    for (let i = 0; i < 7; i++) master.next(2);
    const world = master.master.world.snapshot();
    const credentials = master.master.credentialsSnapshot();
    state.restore(world, credentials);
    journal.install({ epoch: 2, seq: 7 }, world, credentials);
    let durable = false;
    journal.whenDurable({ epoch: 2, seq: 7 }, () => durable = true);
    const after = master.next(2);
    state.applyUpdate(after.ops);
    journal.append(after);
    journal.commit();
    await journal.settled();
    assert.ok(durable);
    assert.equal(stale, false, "waiters of the replaced history are dropped");
    await journal.close();
    const reopened = open(dir);
    assert.equal(reopened.report.snapshot, 1);
    assert.deepEqual(reopened.report.position, { epoch: 2, seq: 8 });
    assert.equal(reopened.state.checksum(), master.checksums[8]);
    await reopened.journal.close();
    // A crash before the master's snapshot reached the disk: the node's own history is what is left.
    Deno.removeSync(`${dir}/snapshot-000000000001.snap`);
    const crashed = open(dir);
    assert.deepEqual(crashed.report.position, { epoch: 1, seq: 11 });
    assert.equal(crashed.state.checksum(), mine.checksums[11]);
    assert.deepEqual(crashed.report.unusedLogs, [1]);
    await crashed.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal: a folder in use, or of another node, is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const { journal } = open(dir);
    assert.throws(() => open(dir), (e) => e instanceof PersistError && /in use/.test(e.message));
    await journal.close();
    assert.throws(
      () => Journal.open(new GameState(WORLD), { ...options(dir), nodeId: "n2" }),
      (e) => e instanceof PersistError && /belongs to node n1, not n2/.test(e.message),
    );
    const again = open(dir);
    await again.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
