/**
 * The World's state hash behind `World.checksum()`: MurmurHash3's 32-bit mixing over the exact
 * bits of each float, users combined order-independently.
 *
 * @module
 */
import type { WorldRecords } from "./_world_internals.ts";
import { InvalidArgumentError } from "./errors.ts";

/** Which share of the users a checksum covers: those whose id % parts === part. */
export interface ChecksumPart {
  /** The share hashed, in [0, parts). */
  part: number;
  /** How many shares the users are split into (1: all of them). */
  parts: number;
}

/**
 * A uint32 hash of every user's id, position, velocity and money (exact bits) in `share`, plus the
 * user count and nextUserId. Throws InvalidArgumentError unless 0 ≤ part < parts.
 */
export function worldChecksum(records: WorldRecords, share: ChecksumPart): number {
  const { part, parts } = share;
  if (
    !Number.isInteger(parts) || parts < 1 || !Number.isInteger(part) || part < 0 || part >= parts
  ) {
    throw new InvalidArgumentError(
      `checksum() needs integers 0 <= part < parts, got ${part}, ${parts}`,
    );
  }
  const { ids, pos, vel, money } = records;
  const whole = parts === 1;
  let sum = 0;
  let xor = 0;
  const end = records.poolLength;
  for (let p = 0; p < end; p++) {
    const id = ids[p];
    if (id === 0 || (!whole && id % parts !== part)) continue;
    let h = mix(0x2545f491, id);
    h = mixFloat(h, pos[2 * p]);
    h = mixFloat(h, pos[2 * p + 1]);
    h = mixFloat(h, vel[2 * p]);
    h = mixFloat(h, vel[2 * p + 1]);
    h = mixFloat(h, money[p]);
    h = fmix(h ^ 44);
    sum = (sum + h) | 0;
    xor ^= fmix((h + 0x9e3779b9) | 0);
  }
  let h = mix(0x6a09e667, records.size);
  h = mixFloat(h, records.nextUserId);
  h = mix(h, sum);
  h = mix(h, xor);
  return fmix(h ^ 20);
}

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mixFloat(h: number, v: number): number {
  F64[0] = v;
  return mix(mix(h, U32[0]), U32[1]);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
