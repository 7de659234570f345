/**
 * Replication: the master publishes one update per tick (the op log of the writes it applied, then
 * one step), slaves replay them in order with {@linkcode ReplicaSync} and ack, and the master holds
 * each write's reply until {@linkcode AckTracker} says enough live replicas have it. Both classes
 * are pure state machines (events and time in, actions out); the node owns the sockets.
 *
 * ```ts
 * import { AckTracker, ReplicaSync } from "./mod.ts";
 * import { GameState } from "../state/mod.ts";
 *
 * const slave = new GameState({ width: 1000, height: 1000, maxUsers: 100, maxSpeed: 10 }, 0.02);
 * const sync = new ReplicaSync(slave, {
 *   silenceMs: 1000,
 *   snapshotTimeoutMs: 2000,
 * });
 * sync.start(1, 0); // [{ type: "request_snapshot", reason: "start" }]: ask the master
 * // …then feed sync.onSnapshot(…) and sync.onUpdate(…) and act on what they return.
 *
 * const acks = new AckTracker({ minReplicas: -1, timeoutMs: 500 });
 * acks.setReplicas(["slave-1"]);
 * acks.waitFor(1, () => console.log("durable"), (code, message) => console.log(code, message), 0);
 * acks.onAck("slave-1", 1, 5); // logs "durable"
 * ```
 *
 * @module
 */
export {
  ReplicaSync,
  type ReplicaSyncOptions,
  type ReplicaSyncState,
  type ReplicaSyncStats,
  type ReplicaTarget,
  type SnapshotMessage,
  type SnapshotReason,
  type SyncAction,
  type UpdateMessage,
} from "./replica_sync.ts";
export { AckTracker, type AckTrackerOptions } from "./ack_tracker.ts";
