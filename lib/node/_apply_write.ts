/**
 * Applying a client's write to the replicated state, on the node that performs writes (single,
 * master): the state change and its reply body.
 *
 * @module
 */
import type { Envelope, ErrorCode, Request } from "../protocol/mod.ts";
import { type GameState, newToken } from "../state/mod.ts";
import { userState } from "./_replies.ts";

/** What writes are applied to, and with: set up once per node. */
export interface WriteTarget {
  /** The replicated state. */
  readonly state: GameState;
  /** Random numbers in [0, 1) for spawn positions. */
  readonly random: () => number;
  /** The world's size, where new users spawn. */
  readonly width: number;
  /** The world's height. */
  readonly height: number;
  /** Where an aoe puts the ids it hit; its length caps the reply's list. */
  readonly results: Uint32Array;
}

/**
 * Applies `request` (a write) for `userId` (0: none) and returns its reply body, without ids: the
 * result, or an error with nothing applied. A login's user has its resume generation in the state
 * from then on. (Positional arguments: this runs for every write.)
 */
export function applyWrite(target: WriteTarget, request: Request, userId: number): Envelope {
  const state = target.state;
  switch (request.op) {
    case "login": {
      const result = request.userId !== 0
        ? state.resume(request.userId, request.sessionToken)
        : state.login(target.random() * target.width, target.random() * target.height, newToken());
      if (!result.ok) {
        return result.reason === "world_full"
          ? failure("WORLD_FULL", "The world holds max_users users")
          : failure("SESSION_INVALID", `User ${request.userId} cannot be resumed with that token`);
      }
      return {
        loginReply: {
          userId: result.userId,
          sessionToken: result.token,
          user: userState(state.world, result.userId),
          resumed: result.resumed,
        },
      };
    }
    case "logout":
      if (!state.logout(userId)) return gone(userId);
      return { logoutReply: { userId } };
    case "set_velocity":
      if (!state.setVelocity(userId, request.vx, request.vy)) return gone(userId);
      return { setVelocityReply: { user: userState(state.world, userId) } };
    case "aoe": {
      const total = state.aoe(userId, request.radius, request.amount, target.results);
      if (total < 0) return gone(userId);
      const n = Math.min(total, target.results.length);
      return { aoeReply: { userIds: Array.from(target.results.subarray(0, n)), total } };
    }
    default:
      return failure("UNKNOWN_OPERATION", `${request.op} is not a write`);
  }
}

function gone(userId: number): Envelope {
  return failure("SESSION_INVALID", `User ${userId} no longer exists`);
}

function failure(code: ErrorCode, message: string): Envelope {
  return { error: { code, message } };
}
