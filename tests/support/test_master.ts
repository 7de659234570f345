/**
 * Test helper: a master `GameState` driven by a seeded random write load, producing updates and
 * snapshots exactly as the node's master does (writes, then step, drain, seq++, publish).
 *
 * @module
 */
import { GameState } from "../../lib/state/mod.ts";
import type { WorldOptions } from "../../lib/world/mod.ts";
import type { SnapshotMessage, UpdateMessage } from "../../lib/replication/mod.ts";
import { mulberry32 } from "../../lib/random/mod.ts";

/** World options shared by the test master and its replicas. */
export const TEST_WORLD: WorldOptions = { width: 1000, height: 1000, maxUsers: 400, maxSpeed: 10 };
/** The tick of the tests, in seconds. */
export const TICK_S = 0.02;

/** A fresh replica state with the test world options. */
export function newReplicaState(): GameState {
  return new GameState(TEST_WORLD, TICK_S);
}

/** A master under a random load of logins, resumes, logouts, expiries, velocity changes and aoes. */
export class TestMaster {
  /** The master's state. */
  readonly state: GameState = new GameState(TEST_WORLD, TICK_S);
  /** Last published sequence. */
  seq = 0;
  /** The master's epoch. */
  epoch: number;
  /** Its node id. */
  masterId: string;
  /** A checksum goes with every update whose seq is a multiple of this (0 = never). */
  checksumEvery: number;
  /** Each checksum covers 1/checksumParts of the users, in turn (as the node's master does). */
  checksumParts: number;
  readonly #rng: () => number;
  readonly #tokens = new Map<number, string>();
  readonly #out = new Uint32Array(64);

  /** Creates a master with no users. */
  constructor(
    options: {
      epoch?: number;
      masterId?: string;
      checksumEvery?: number;
      checksumParts?: number;
      seed?: number;
    },
  ) {
    this.epoch = options.epoch ?? 1;
    this.masterId = options.masterId ?? "master-1";
    this.checksumEvery = options.checksumEvery ?? 1;
    this.checksumParts = options.checksumParts ?? 1;
    this.#rng = mulberry32(options.seed ?? 1);
  }

  /** Applies `count` random client writes (between ticks, as the node does). */
  writes(count: number): void {
    const rng = this.#rng;
    const state = this.state;
    for (let i = 0; i < count; i++) {
      const users = [...this.#tokens.keys()];
      const r = rng();
      if (users.length < 20 || r < 0.1) {
        const token = hex(rng);
        const result = state.login(rng() * 1000, rng() * 1000, token);
        if (result.ok) this.#tokens.set(result.userId, token);
        continue;
      }
      const userId = users[Math.floor(rng() * users.length)];
      if (r < 0.65) {
        const angle = rng() * 2 * Math.PI;
        const speed = rng() * 10;
        state.setVelocity(userId, speed * Math.cos(angle), speed * Math.sin(angle));
      } else if (r < 0.85) {
        state.aoe(userId, 20 + rng() * 80, Math.floor(rng() * 10) - 3, this.#out);
      } else if (r < 0.92) {
        state.resume(userId, this.#tokens.get(userId)!);
      } else if (r < 0.96) {
        state.logout(userId);
        this.#tokens.delete(userId);
      } else {
        if (state.expire(userId, state.generation(userId)!)) this.#tokens.delete(userId);
      }
    }
  }

  /** Ends a tick: step, drain the op log, publish update `seq + 1`. */
  tick(): UpdateMessage {
    this.state.step();
    const ops = this.state.drainOps();
    this.seq++;
    const withChecksum = this.checksumEvery > 0 && this.seq % this.checksumEvery === 0;
    const parts = this.checksumParts;
    const part = this.checksumEvery > 0 ? Math.floor(this.seq / this.checksumEvery) % parts : 0;
    return {
      epoch: this.epoch,
      seq: this.seq,
      ops,
      checksum: withChecksum ? this.state.checksum(part, parts) : 0,
      checksumPart: part,
      checksumParts: parts,
      masterId: this.masterId,
    };
  }

  /** Random writes, then a tick. */
  next(writes = 5): UpdateMessage {
    this.writes(writes);
    return this.tick();
  }

  /** A snapshot of the state right after the last published update (the op log is empty). */
  snapshot(): SnapshotMessage {
    if (this.state.pendingOps !== 0) throw new Error("Snapshots are taken right after publishing");
    return {
      epoch: this.epoch,
      seq: this.seq,
      world: this.state.world.snapshot(),
      credentials: this.state.credentialsSnapshot(),
    };
  }
}

function hex(rng: () => number): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += Math.floor(rng() * 256).toString(16).padStart(2, "0");
  return s;
}
