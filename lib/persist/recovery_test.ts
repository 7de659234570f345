import assert from "node:assert/strict";
import { GameState } from "../state/mod.ts";
import { encodeRecord, encodeSegmentHeader, type SegmentHeader } from "./log_record.ts";
import { encodeSnapshotFile } from "./snapshot_file.ts";
import { recover, type RecoveryFiles } from "./recovery.ts";
import { PersistError } from "./errors.ts";

const WORLD = { width: 100, height: 100, maxUsers: 10, maxSpeed: 10 };
const TOKEN = "00112233445566778899aabbccddeeff";

/** Files in memory: generation → bytes. */
function files(snapshots: Map<number, Uint8Array>, logs: Map<number, Uint8Array>): RecoveryFiles {
  return {
    snapshots: [...snapshots.keys()],
    logs: [...logs.keys()],
    readSnapshot: (g) => snapshots.get(g)!,
    readLog: (g) => logs.get(g)!,
  };
}

function segment(
  header: SegmentHeader,
  records: { epoch: number; seq: number; ops: Uint8Array }[],
) {
  const parts = [encodeSegmentHeader(header), ...records.map(encodeRecord)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

/** A master's updates: a login, then steps; returns the records and the state after them. */
function history(count: number) {
  const master = new GameState(WORLD);
  const records = [];
  for (let seq = 1; seq <= count; seq++) {
    if (seq === 1) master.login(10, 10, TOKEN);
    if (seq === 2) master.setVelocity(1, 3, 0);
    const ops = master.drainOps();
    master.step();
    records.push({ epoch: 1, seq, ops });
  }
  return { master, records };
}

Deno.test("recover() replays the empty state's segment when there is no snapshot", () => {
  const { master, records } = history(5);
  const state = new GameState(WORLD);
  const report = recover(
    files(
      new Map(),
      new Map([[
        0,
        segment({ generation: 0, base: { epoch: 0, seq: 0 }, continues: false }, records),
      ]]),
    ),
    state,
  );
  assert.deepEqual(report.position, { epoch: 1, seq: 5 });
  assert.equal(state.checksum(), master.checksum());
  assert.deepEqual(report.problems, []);
  assert.equal(report.nextGeneration, 1);
});

Deno.test("recover() does not replay a segment whose base is not its snapshot's position", () => {
  const { master, records } = history(4);
  const snap = encodeSnapshotFile({
    generation: 3,
    position: { epoch: 1, seq: 4 },
    world: master.world.snapshot(),
    credentials: master.credentialsSnapshot(),
  });
  const wrongBase = segment({ generation: 3, base: { epoch: 1, seq: 2 }, continues: false }, [
    records[2],
    records[3],
  ]);
  const state = new GameState(WORLD);
  const report = recover(files(new Map([[3, snap]]), new Map([[3, wrongBase]])), state);
  assert.deepEqual(report.position, { epoch: 1, seq: 4 });
  assert.equal(state.checksum(), master.checksum());
  assert.equal(report.tail, undefined, "a new segment must be started");
  assert.deepEqual(report.unusedLogs, [3]);
  assert.match(
    report.problems[0],
    /log 3 starts at epoch 1 seq 2, its snapshot is at epoch 1 seq 4/,
  );
});

Deno.test("recover() refuses a snapshot whose header names another generation", () => {
  const { master } = history(2);
  const snap = encodeSnapshotFile({
    generation: 9,
    position: { epoch: 1, seq: 2 },
    world: master.world.snapshot(),
    credentials: master.credentialsSnapshot(),
  });
  const report = recover(files(new Map([[4, snap]]), new Map()), new GameState(WORLD));
  assert.deepEqual(report.corruptSnapshots, [4]);
  assert.match(report.problems[0], /its header says generation 9/);
  assert.deepEqual(report.position, { epoch: 0, seq: 0 });
});

Deno.test("recover() stops at a segment that does not continue the one before", () => {
  const { records } = history(6);
  const logs = new Map([
    [
      0,
      segment({ generation: 0, base: { epoch: 0, seq: 0 }, continues: false }, records.slice(0, 3)),
    ],
    // Another history (a master's snapshot) at the same position: not to be replayed on top.
    [1, segment({ generation: 1, base: { epoch: 1, seq: 3 }, continues: false }, records.slice(3))],
  ]);
  const report = recover(files(new Map(), logs), new GameState(WORLD));
  assert.deepEqual(report.position, { epoch: 1, seq: 3 });
  assert.deepEqual(report.segments, [0]);
  assert.deepEqual(report.unusedLogs, [1]);
  assert.equal(report.discarded.records, 3);
});

Deno.test("recover() throws PersistError for a checked record that cannot be applied", () => {
  const { records } = history(3);
  // A login of user 1 twice: the bytes are whole and checksummed, the state refuses them.
  const bad = [records[0], { ...records[1], ops: records[0].ops }];
  assert.throws(
    () =>
      recover(
        files(
          new Map(),
          new Map([[
            0,
            segment({ generation: 0, base: { epoch: 0, seq: 0 }, continues: false }, bad),
          ]]),
        ),
        new GameState(WORLD),
      ),
    (e) =>
      e instanceof PersistError &&
      /epoch 1 seq 2 passed its checksum but cannot be applied/.test(e.message),
  );
});
