/**
 * The replicated state of a game node: the world, each user's session credential, and the op log
 * every write goes through. The master applies writes and drains the log into one update per tick;
 * a slave (and the replication bench) replays updates with `GameState.applyUpdate`, the one apply
 * path. Pure: no sockets, no clocks.
 *
 * ```ts
 * import { GameState, newToken } from "./mod.ts";
 * const master = new GameState({ width: 1000, height: 1000, maxUsers: 100, maxSpeed: 10 }, 0.02);
 * const slave = new GameState({ width: 1000, height: 1000, maxUsers: 100, maxSpeed: 10 }, 0.02);
 * master.login(10, 10, newToken());
 * master.step();
 * slave.applyUpdate(master.drainOps());
 * console.log(master.checksum() === slave.checksum()); // true
 * ```
 *
 * @module
 */
export { GameState, type LoginResult, newToken } from "./game_state.ts";
export { decodeOps, type Op, OpLogWriter } from "./op_log.ts";
export { StateError } from "./errors.ts";
export { StateSnapshotWriter } from "./state_snapshot_writer.ts";
