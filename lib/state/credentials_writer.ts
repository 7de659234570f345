import { crc32 } from "../checksum/mod.ts";
import { hexInto } from "./_hex.ts";

/** A user's session secret and how many times it was resumed (guards delayed expiries). */
export interface Credential {
  token: string;
  generation: number;
  /** The last {@linkcode CredentialsWriter} that encoded this credential (0: none). */
  written: number;
}

/** Bytes per credential in a snapshot: user id u32, generation u32, 16 token bytes. */
export const CREDENTIAL_BYTES = 24;
const TOKEN_BYTES = 16;
/** Writers created so far: each stamps what it encoded with its own number. */
let writers = 0;

/**
 * Encodes the credentials as they were when it was created, a slice at a time, while the map goes
 * on changing: copy-on-write per user. The owner calls {@linkcode preserve} before it changes a
 * user's credential (adds, resumes, removes); the first change to a user since the writer began
 * keeps a copy of its old value (or its absence), which the writer encodes instead of the live one —
 * unless the writer already encoded that user (it stamps each credential it encodes).
 * Format: count u32, then per user id u32, generation u32, token (16 bytes), little-endian.
 */
export class CredentialsWriter {
  readonly #id = ++writers;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #count: number;
  readonly #live: Iterator<[number, Credential]>;
  /** Values as of the start for the users changed since (null: absent then). */
  readonly #saved = new Map<number, Credential | null>();
  #o = 4;
  #crc: number;
  #iterated = false;
  #done = false;
  #cancelled = false;

  /** Starts encoding `credentials` as they are now. */
  constructor(credentials: Map<number, Credential>) {
    this.#count = credentials.size;
    this.#bytes = new Uint8Array(4 + this.#count * CREDENTIAL_BYTES);
    this.#view = new DataView(this.#bytes.buffer);
    this.#view.setUint32(0, this.#count, true);
    this.#crc = crc32(this.#bytes, 0, 4);
    // Map iterators are live: entries added later are visited too (skipped through #saved), entries
    // removed before their turn are not (encoded from #saved).
    this.#live = credentials.entries();
  }

  /** True once every credential is encoded. */
  get done(): boolean {
    return this.#done;
  }

  /** True when the map was replaced before the writer finished: its bytes will never be ready. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** The owner replaced the whole map: nothing more can be encoded. */
  cancel(): void {
    if (!this.#done) this.#cancelled = true;
  }

  /** The encoded bytes; throws until `done`. */
  get bytes(): Uint8Array {
    if (!this.#done) throw new Error("CredentialsWriter: the snapshot is not finished");
    return this.#bytes;
  }

  /** CRC-32 of the encoded bytes; throws until `done`. */
  get crc(): number {
    if (!this.#done) throw new Error("CredentialsWriter: the snapshot is not finished");
    return this.#crc;
  }

  /** Call before changing `userId`'s credential; `current` is its value now (undefined: none). */
  preserve(userId: number, current: Credential | undefined): void {
    if (this.#done || this.#cancelled) return;
    if (this.#saved.has(userId) || current?.written === this.#id) return;
    this.#saved.set(
      userId,
      current ? { token: current.token, generation: current.generation, written: 0 } : null,
    );
  }

  /** Encodes up to `entries` more credentials; returns `done`. */
  step(entries = Number.POSITIVE_INFINITY): boolean {
    if (this.#done) return true;
    if (this.#cancelled) {
      throw new Error("CredentialsWriter: cancelled (the credentials were replaced)");
    }
    const start = this.#o;
    let left = entries;
    while (!this.#iterated && left > 0) {
      const next = this.#live.next();
      if (next.done) {
        this.#iterated = true;
        break;
      }
      const [userId, c] = next.value;
      if (this.#saved.has(userId)) continue;
      c.written = this.#id;
      this.#write(userId, c);
      left--;
    }
    if (this.#iterated) {
      for (const [userId, c] of this.#saved) if (c) this.#write(userId, c);
      this.#saved.clear();
    }
    this.#crc = crc32(this.#bytes, start, this.#o, this.#crc);
    if (!this.#iterated) return false;
    if (this.#o !== this.#bytes.length) {
      throw new Error(
        `CredentialsWriter: encoded ${
          (this.#o - 4) / CREDENTIAL_BYTES
        } of ${this.#count} credentials`,
      );
    }
    this.#done = true;
    return true;
  }

  #write(userId: number, c: Credential): void {
    const o = this.#o;
    this.#view.setUint32(o, userId, true);
    this.#view.setUint32(o + 4, c.generation, true);
    hexInto(c.token, this.#bytes, o + 8);
    this.#o = o + 8 + TOKEN_BYTES;
  }
}

/** The credentials' snapshot bytes at once (nothing is stamped: no writer is disturbed). */
export function encodeCredentials(credentials: Map<number, Credential>): Uint8Array {
  const out = new Uint8Array(4 + credentials.size * CREDENTIAL_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, credentials.size, true);
  let o = 4;
  for (const [userId, c] of credentials) {
    view.setUint32(o, userId, true);
    view.setUint32(o + 4, c.generation, true);
    hexInto(c.token, out, o + 8);
    o += CREDENTIAL_BYTES;
  }
  return out;
}
