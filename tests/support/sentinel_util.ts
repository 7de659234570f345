/**
 * Helpers shared by the sentinel's tests: addresses, loads, a test sentinel, registrations, reports
 * and promises, fake nodes that answer election rounds, action filters and a simulated clock that
 * ticks and reports.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type NodeAddress,
  type NodeLoad,
  type PrepareAction,
  type PromiseInput,
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
  // random 0: no jitter between rounds, so tests name exact times (tests of the jitter pass one).
  return new Sentinel({
    recoveryGraceMs: 0,
    stallThresholdMs: Infinity,
    random: () => 0,
    ...options,
  });
}

/** What a test registration or report may vary. */
export interface NodeOpts {
  role?: Role;
  runId?: string;
  peer?: string;
  load?: Partial<NodeLoad>;
  masterId?: string;
  epoch?: number;
  /**
   * The node's `cluster.members` (registration only). Default: the cluster's, once known; the first
   * registration of a test must name them. Given as `undefined`, none are sent.
   */
  members?: string[];
}

/** A node's position: the (epoch, sequence) of the last replication update it holds. */
export interface Position {
  epoch: number;
  seq: number;
}

/**
 * The promise side of fake nodes (SAFETY.md invariant 2): each promises an epoch at most once and
 * never one at or below an earlier promise. Shared by two sentinels, it is the same nodes answering
 * two registries.
 */
export class Voters {
  /** The highest epoch each node promised. */
  readonly promised = new Map<string, number>();
  /** Positions set by the test; otherwise a node holds (its epoch, lastSeq), or (0, 0) at epoch 0. */
  readonly positions = new Map<string, Position>();
  /** The role each node is configured with (default: its role in its first registration). */
  readonly configured = new Map<string, Role>();

  /** The node's answer to `prepare`: granted when its epoch is above every earlier promise. */
  reply(s: Sentinel, prepare: PrepareAction, now: number): SentinelAction[] {
    const id = prepare.nodeId;
    const before = this.promised.get(id) ?? 0;
    const granted = prepare.epoch > before;
    if (granted) this.promised.set(id, prepare.epoch);
    const v = s.nodes().find((n) => n.nodeId === id);
    return s.promise({
      peer: prepare.peer,
      nodeId: id,
      runId: v?.runId ?? `run-${id}`,
      granted,
      epoch: prepare.epoch,
      promisedEpoch: granted ? prepare.epoch : before,
      position: this.positionOf(s, id),
      load: v?.load,
      configuredRole: this.configured.get(id) ?? "slave",
    }, now);
  }

  /** Where `nodeId` stands: as set by the test, else from what the sentinel last heard of it. */
  positionOf(s: Sentinel, nodeId: string): Position {
    const set = this.positions.get(nodeId);
    if (set !== undefined) return set;
    const v = s.nodes().find((n) => n.nodeId === nodeId);
    if (v === undefined || v.epoch === 0) return { epoch: 0, seq: 0 };
    return { epoch: v.epoch, seq: v.load.lastSeq };
  }

  /**
   * `actions` followed by the answers to every prepare among them (and to prepares those answers
   * cause), from the nodes `from` lets answer (default: all).
   */
  answer(
    s: Sentinel,
    actions: SentinelAction[],
    now: number,
    from?: readonly string[],
  ): SentinelAction[] {
    const out: SentinelAction[] = [];
    const queue = [...actions];
    for (let a = queue.shift(); a !== undefined; a = queue.shift()) {
      out.push(a);
      if (a.type === "prepare" && (from === undefined || from.includes(a.nodeId))) {
        queue.push(...this.reply(s, a, now));
      }
    }
    return out;
  }
}

const votersBySentinel = new WeakMap<Sentinel, Voters>();

/** The fake nodes behind `s` (one set per sentinel, made on first use). */
export function votersOf(s: Sentinel): Voters {
  let voters = votersBySentinel.get(s);
  if (voters === undefined) {
    voters = new Voters();
    votersBySentinel.set(s, voters);
  }
  return voters;
}

/** `actions` plus the answers of `s`'s fake nodes (those in `from`, default all) to its prepares. */
export function answer(
  s: Sentinel,
  actions: SentinelAction[],
  now: number,
  from?: readonly string[],
): SentinelAction[] {
  return votersOf(s).answer(s, actions, now, from);
}

/** Registers `nodeId` (a slave unless `o.role` says otherwise) at `now`; prepares are not answered. */
export function reg(s: Sentinel, nodeId: string, now: number, o: NodeOpts = {}): SentinelAction[] {
  const role = o.role ?? "slave";
  const voters = votersOf(s);
  if (!voters.configured.has(nodeId)) voters.configured.set(nodeId, role);
  let members: string[] | undefined;
  if ("members" in o) members = o.members;
  else {
    const known = s.snapshot().members;
    assert.ok(known, `the first registration (${nodeId}) names the cluster's members`);
    members = known;
  }
  return s.register({
    peer: o.peer ?? `peer-${nodeId}`,
    address: addr(nodeId, role),
    runId: o.runId ?? `run-${nodeId}`,
    role,
    load: load(o.load),
    masterId: o.masterId,
    epoch: o.epoch ?? 0,
    members,
  }, now);
}

/**
 * A report from a well-behaved node: its role as the registry sees it and the epoch it follows (the
 * master's, else the one it last showed).
 */
export function rep(s: Sentinel, nodeId: string, now: number, o: NodeOpts = {}): SentinelAction[] {
  const snap = s.snapshot();
  const shown = snap.nodes.find((n) => n.nodeId === nodeId)?.epoch ?? 0;
  return s.report({
    peer: o.peer ?? `peer-${nodeId}`,
    nodeId,
    runId: o.runId ?? `run-${nodeId}`,
    role: o.role ?? roleOf(s, nodeId),
    load: load(o.load),
    epoch: o.epoch ?? (snap.masterId === null ? shown : snap.masterEpoch),
  }, now);
}

/** What a test promise may vary (the rest: a granted promise for the round in progress). */
export type PromiseOpts = Partial<Omit<PromiseInput, "nodeId" | "load">> & {
  load?: Partial<NodeLoad>;
};

/** A promise from `nodeId`: by default granted, for the current round, at position (0, 0). */
export function prom(
  s: Sentinel,
  nodeId: string,
  now: number,
  o: PromiseOpts = {},
): SentinelAction[] {
  const epoch = o.epoch ?? s.snapshot().election?.epoch ?? s.epoch;
  return s.promise({
    peer: o.peer ?? `peer-${nodeId}`,
    nodeId,
    runId: o.runId ?? `run-${nodeId}`,
    granted: o.granted ?? true,
    epoch,
    promisedEpoch: o.promisedEpoch ?? epoch,
    position: o.position ?? { epoch: 0, seq: 0 },
    load: load(o.load),
    configuredRole: o.configuredRole ?? "slave",
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

/** The messages of the log actions (of `level`, if given) that match `pattern`. */
export function logged(
  actions: SentinelAction[],
  pattern: RegExp,
  level?: "info" | "warn" | "error",
): string[] {
  return ofType(actions, "log")
    .filter((l) => (level === undefined || l.level === level) && pattern.test(l.message))
    .map((l) => l.message);
}

/**
 * Runs time from `from` (exclusive, a multiple of 50) to `to` (inclusive): a tick every 50 ms, a
 * report from each of `reporters` every 100 ms (with the load given for it); the reporters answer
 * every prepare at once, the other nodes none (they are silent). Returns every action with its time.
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
        const actions = answer(s, rep(s, id, t, { load: loads[id] }), t, reporters);
        for (const action of actions) out.push({ at: t, action });
      }
    }
    for (const action of answer(s, s.tick(t), t, reporters)) out.push({ at: t, action });
  }
  return out;
}

/** The actions of a run(), without their times. */
export function actionsOf(timed: { at: number; action: SentinelAction }[]): SentinelAction[] {
  return timed.map((x) => x.action);
}

/** What cluster() may vary. */
export interface ClusterOpts {
  /** The master's load. */
  master?: Partial<NodeLoad>;
  /** The cluster's members (default: m1 and the slaves). */
  members?: string[];
}

/**
 * A new cluster at `t`: m1 (configured master) and the given slaves register, answer the election
 * round, m1 is elected at epoch 1, and each node reports once so that it shows the epoch it follows.
 */
export function cluster(
  s: Sentinel,
  t: number,
  slaves: Record<string, Partial<NodeLoad>>,
  o: ClusterOpts = {},
): SentinelAction[] {
  const members = o.members ?? ["m1", ...Object.keys(slaves)];
  const loads: Record<string, Partial<NodeLoad>> = { m1: o.master ?? {}, ...slaves };
  const out: SentinelAction[] = [];
  for (const [id, l] of Object.entries(loads)) {
    const actions = answer(
      s,
      reg(s, id, t, { role: id === "m1" ? "master" : "slave", load: l, members }),
      t,
    );
    assert.equal(only(actions, "register_reply").accepted, true);
    out.push(...actions);
  }
  assert.equal(s.snapshot().masterId, "m1", "m1 is elected");
  assert.equal(s.snapshot().masterEpoch, 1);
  for (const [id, l] of Object.entries(loads)) out.push(...rep(s, id, t, { load: l }));
  return out;
}
