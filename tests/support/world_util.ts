/**
 * Helpers shared by the world's tests: edge-heavy random positions and brute-force answers.
 *
 * @module
 */
import type { Rng } from "../../lib/random/mod.ts";
import type { UserRecord, World } from "../../lib/world/mod.ts";

/** A user as seen through forEachUser(). */
export type Plain = UserRecord;

/** Every user of `world`, in forEachUser() order. */
export function usersOf(world: World): Plain[] {
  const users: Plain[] = [];
  world.forEachUser((id, x, y, vx, vy, money) => users.push({ id, x, y, vx, vy, money }));
  return users;
}

/**
 * A coordinate in [0, max] that often sits where bugs hide: on 0, on max, on a multiple of
 * `cell` (a cell border) or one ulp beside it.
 */
export function edgyCoordinate(rng: Rng, max: number, cell: number): number {
  const r = rng();
  if (r < 0.05) return 0;
  if (r < 0.1) return max;
  if (r < 0.35) {
    const border = Math.min(max, Math.floor(rng() * (max / cell + 1)) * cell);
    const nudge = rng();
    if (nudge < 0.33) return border;
    if (nudge < 0.66) return Math.min(max, nextUp(border));
    return Math.max(0, nextDown(border));
  }
  return rng() * max;
}

/** Sorted ids of `users` inside the rectangle (corners in any order, borders included). */
export function bruteRect(
  users: Plain[],
  x1: number,
  y1: number,
  x2: number,
  y2: number,
): number[] {
  const lx = Math.min(x1, x2);
  const hx = Math.max(x1, x2);
  const ly = Math.min(y1, y2);
  const hy = Math.max(y1, y2);
  return users.filter((u) => u.x >= lx && u.x <= hx && u.y >= ly && u.y <= hy).map((u) => u.id)
    .sort((a, b) => a - b);
}

/** Sorted ids of `users` with dx·dx + dy·dy ≤ r·r (the world's exact test). */
export function bruteCircle(users: Plain[], x: number, y: number, r: number): number[] {
  return users.filter((u) => {
    const dx = u.x - x;
    const dy = u.y - y;
    return dx * dx + dy * dy <= r * r;
  }).map((u) => u.id).sort((a, b) => a - b);
}

/** The first `total` ids of `out` (all of them: callers size `out` to hold every match), sorted. */
export function sortedIds(out: Uint32Array, total: number): number[] {
  return Array.from(out.subarray(0, total)).sort((a, b) => a - b);
}

const F64 = new Float64Array(1);
const I64 = new BigInt64Array(F64.buffer);

function nextUp(v: number): number {
  if (v === 0) return Number.MIN_VALUE;
  F64[0] = v;
  I64[0] += 1n;
  return F64[0];
}

function nextDown(v: number): number {
  if (v === 0) return 0;
  F64[0] = v;
  I64[0] -= 1n;
  return F64[0];
}
