/**
 * Helpers shared by the sentinel's tests: addresses, loads, a test sentinel, registrations and
 * reports, action filters and a simulated clock that ticks and reports.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type NodeAddress,
  type NodeLoad,
  type Role,
  Sentinel,
  type SentinelAction,
  type SentinelOptions,
} from "../../lib/registry/mod.ts";

/** A node address on fixed ports, with `role`. */
export function addr(nodeId: string, role: Role = "slave"): NodeAddress {
  return {
    nodeId,
    host: `${nodeId}.local`,
    clientPort: 7000,
    clusterPort: 7001,
    publishPort: 7002,
    httpPort: 7003,
    role,
  };
}

/** A load with small, healthy defaults, overridden by `over`. */
export function load(over: Partial<NodeLoad> = {}): NodeLoad {
  return {
    connections: 0,
    users: 0,
    tickAvgMs: 2,
    tickP99Ms: 4,
    loadFactor: 0.1,
    lastSeq: 0,
    sessions: 0,
    ...over,
  };
}

/** Test sentinel: no recovery grace and no stall detection unless a test asks for them. */
export function make(options: SentinelOptions = {}): Sentinel {
  return new Sentinel({ recoveryGraceMs: 0, stallThresholdMs: Infinity, ...options });
}

/** What a test registration or report may vary. */
export interface NodeOpts {
  role?: Role;
  runId?: string;
  peer?: string;
  load?: Partial<NodeLoad>;
  masterId?: string;
  epoch?: number;
}

/** Registers `nodeId` (a slave unless `o.role` says otherwise) at `now`. */
export function reg(s: Sentinel, nodeId: string, now: number, o: NodeOpts = {}): SentinelAction[] {
  return s.register({
    peer: o.peer ?? `peer-${nodeId}`,
    address: addr(nodeId, o.role ?? "slave"),
    runId: o.runId ?? `run-${nodeId}`,
    role: o.role ?? "slave",
    load: load(o.load),
    masterId: o.masterId,
    epoch: o.epoch ?? 0,
  }, now);
}

/** A report from a well-behaved node: its role as the registry sees it, the cluster epoch. */
export function rep(s: Sentinel, nodeId: string, now: number, o: NodeOpts = {}): SentinelAction[] {
  return s.report({
    peer: o.peer ?? `peer-${nodeId}`,
    nodeId,
    runId: o.runId ?? `run-${nodeId}`,
    role: o.role ?? roleOf(s, nodeId),
    load: load(o.load),
    epoch: o.epoch ?? s.epoch,
  }, now);
}

/** The role the registry gave `nodeId` (slave when unknown). */
export function roleOf(s: Sentinel, nodeId: string): Role {
  return s.nodes().find((n) => n.nodeId === nodeId)?.role ?? "slave";
}

/** The registry's view of `nodeId`, which must exist. */
export function view(s: Sentinel, nodeId: string) {
  const v = s.nodes().find((n) => n.nodeId === nodeId);
  assert.ok(v, `${nodeId} is in the view`);
  return v;
}

/** The actions of one type. */
export function ofType<T extends SentinelAction["type"]>(
  actions: SentinelAction[],
  type: T,
): Extract<SentinelAction, { type: T }>[] {
  return actions.filter((a): a is Extract<SentinelAction, { type: T }> => a.type === type);
}

/** The one action of `type`; fails unless there is exactly one. */
export function only<T extends SentinelAction["type"]>(
  actions: SentinelAction[],
  type: T,
): Extract<SentinelAction, { type: T }> {
  const found = ofType(actions, type);
  assert.equal(found.length, 1, `exactly one ${type} in ${JSON.stringify(actions)}`);
  return found[0];
}

/** The convert_to_master and change_master actions. */
export function commands(actions: SentinelAction[]): SentinelAction[] {
  return actions.filter((a) => a.type === "convert_to_master" || a.type === "change_master");
}

/**
 * Runs time from `from` (exclusive, a multiple of 50) to `to` (inclusive): a tick every 50 ms, a
 * report from each of `reporters` every 100 ms (with the load given for it). Returns every action
 * with its time.
 */
export function run(
  s: Sentinel,
  from: number,
  to: number,
  reporters: string[],
  loads: Record<string, Partial<NodeLoad>> = {},
): { at: number; action: SentinelAction }[] {
  assert.equal(from % 50, 0, "run() starts on a multiple of 50");
  const out: { at: number; action: SentinelAction }[] = [];
  for (let t = from + 50; t <= to; t += 50) {
    if (t % 100 === 0) {
      for (const id of reporters) {
        for (const action of rep(s, id, t, { load: loads[id] })) out.push({ at: t, action });
      }
    }
    for (const action of s.tick(t)) out.push({ at: t, action });
  }
  return out;
}

/** The actions of a run(), without their times. */
export function actionsOf(timed: { at: number; action: SentinelAction }[]): SentinelAction[] {
  return timed.map((x) => x.action);
}

/** A master m1 and the given slaves, all registered at `t` (the master with `masterLoad`). */
export function cluster(
  s: Sentinel,
  t: number,
  slaves: Record<string, Partial<NodeLoad>>,
  masterLoad: Partial<NodeLoad> = {},
): void {
  assert.equal(
    only(reg(s, "m1", t, { role: "master", load: masterLoad }), "register_reply").accepted,
    true,
  );
  for (const [id, l] of Object.entries(slaves)) {
    assert.equal(only(reg(s, id, t, { load: l }), "register_reply").accepted, true);
  }
}
