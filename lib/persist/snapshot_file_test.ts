import assert from "node:assert/strict";
import { decodeSnapshotFile, encodeSnapshotFile, SNAPSHOT_HEADER_BYTES } from "./snapshot_file.ts";
import { GameState } from "../state/mod.ts";

const OPTIONS = { width: 100, height: 100, maxUsers: 10, maxSpeed: 10 };

function smallState(): GameState {
  const state = new GameState(OPTIONS);
  state.login(10, 20, "0123456789abcdef0123456789abcdef");
  state.login(30, 40, "fedcba9876543210fedcba9876543210");
  state.setVelocity(1, 3, 4);
  state.step();
  state.drainOps();
  return state;
}

function fileOf(state: GameState): Uint8Array {
  return encodeSnapshotFile({
    generation: 7,
    position: { epoch: 3, seq: 900 },
    world: state.world.snapshot(),
    credentials: state.credentialsSnapshot(),
  });
}

Deno.test("decodeSnapshotFile() returns what encodeSnapshotFile() wrote", () => {
  const state = smallState();
  const file = decodeSnapshotFile(fileOf(state));
  assert.ok(typeof file !== "string", String(file));
  assert.equal(file.generation, 7);
  assert.deepEqual(file.position, { epoch: 3, seq: 900 });
  const copy = new GameState(OPTIONS);
  copy.restore(file.world, file.credentials);
  assert.equal(copy.checksum(), state.checksum());
});

Deno.test("every flipped byte of a snapshot file is caught before it can be served", () => {
  const state = smallState();
  const bytes = fileOf(state);
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const bad = bytes.slice();
      bad[i] ^= mask;
      const file = decodeSnapshotFile(bad);
      if (typeof file === "string") continue;
      // Only the world part passes the file's own checks: its CRC is checked on restore.
      assert.ok(i >= SNAPSHOT_HEADER_BYTES, `header flip at ${i} went through`);
      const copy = new GameState(OPTIONS);
      assert.throws(() => copy.restore(file.world, file.credentials), `flip at ${i}`);
    }
  }
});

Deno.test("a truncated or extended snapshot file is refused with the reason", () => {
  const bytes = fileOf(smallState());
  for (let n = 0; n < bytes.length; n++) {
    assert.equal(typeof decodeSnapshotFile(bytes.subarray(0, n)), "string", `${n} bytes`);
  }
  assert.match(
    decodeSnapshotFile(new Uint8Array([...bytes, 0])) as string,
    /header says/,
  );
});
