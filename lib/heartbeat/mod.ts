/**
 * Liveness tracking shared by the node (its clients), the registry (its nodes) and the client (its
 * node): feed it traffic and the time, ask it who went silent. Pure: no timers, no clock.
 *
 * ```ts
 * import { LivenessTracker } from "./mod.ts";
 * const peers = new LivenessTracker<string>({ timeoutMs: 10_000 });
 * peers.touch("client-a", 0);
 * peers.expire(10_000); // ["client-a"]
 * ```
 *
 * @module
 */
export { LivenessTracker, type LivenessTrackerOptions } from "./liveness_tracker.ts";
export { IdleWheel, type Seen } from "./idle_wheel.ts";
