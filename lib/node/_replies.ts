/**
 * Reply bodies a game node builds from its world.
 *
 * @module
 */
import type { UserState } from "../protocol/mod.ts";
import type { World } from "../world/mod.ts";

/** The state of `userId` as replies carry it; only its id once it no longer exists. */
export function userState(world: World, userId: number): UserState {
  const u = world.getUser(userId);
  if (!u) return { id: userId };
  return { id: userId, x: u.x, y: u.y, vx: u.vx, vy: u.vy, money: u.money };
}

/**
 * The reply to a query that found `total` users, whose ids are at the start of `results`: it lists
 * as many as `results` holds. (Positional arguments: this runs for every query.)
 */
export function queryReply(
  world: World,
  results: Uint32Array,
  total: number,
): { users: UserState[]; truncated: boolean; total: number } {
  const n = Math.min(total, results.length);
  const users: UserState[] = new Array(n);
  for (let i = 0; i < n; i++) users[i] = userState(world, results[i]);
  return { users, truncated: total > n, total };
}
