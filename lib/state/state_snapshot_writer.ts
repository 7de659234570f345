import type { WorldSnapshotWriter } from "../world/mod.ts";
import type { CredentialsWriter } from "./credentials_writer.ts";

/**
 * A snapshot of a {@linkcode GameState} as of one moment, encoded a slice at a time while the state
 * goes on changing (see `GameState.snapshotWriter()`): the world from a copy of its records, the
 * credentials copy-on-write. `world` and `credentials` have the formats `restore()` reads.
 */
export class StateSnapshotWriter {
  readonly #world: WorldSnapshotWriter;
  readonly #credentials: CredentialsWriter;

  /** Pairs the two writers (GameState builds them). */
  constructor(world: WorldSnapshotWriter, credentials: CredentialsWriter) {
    this.#world = world;
    this.#credentials = credentials;
  }

  /** True once both parts are encoded. */
  get done(): boolean {
    return this.#world.done && this.#credentials.done;
  }

  /** True when the state was replaced (`restore()`) first: this snapshot can never finish. */
  get cancelled(): boolean {
    return this.#credentials.cancelled;
  }

  /**
   * Encodes up to `units` more users (world records, then credentials); returns `done`. Throws
   * when cancelled.
   */
  step(units = Number.POSITIVE_INFINITY): boolean {
    if (this.cancelled) throw new Error("StateSnapshotWriter: cancelled (the state was replaced)");
    let left = units;
    if (!this.#world.done) {
      const before = this.#world.remaining;
      if (!this.#world.step(left)) return false;
      left -= before;
      if (!(left > 0)) return false;
    }
    return this.#credentials.step(left);
  }

  /** World bytes (`World.snapshot()` format); throws until done. */
  get world(): Uint8Array {
    return this.#world.bytes;
  }

  /** Credential bytes (`GameState.credentialsSnapshot()` format); throws until done. */
  get credentials(): Uint8Array {
    return this.#credentials.bytes;
  }

  /** CRC-32 of the credential bytes; throws until done. */
  get credentialsCrc(): number {
    return this.#credentials.crc;
  }
}
