import { ElectionRound, type Promised } from "./_election_round.ts";
import { log } from "./_log.ts";
import { addressOf, type NodeRecord, viewOf } from "./_node_record.ts";
import { compareForDiscovery, sanitizeLoad } from "./_ranking.ts";
import {
  changeMaster,
  corrections,
  type Leadership,
  registerReply,
  reportAck,
  stepDown,
} from "./_replies.ts";
import { majorityOf } from "../config/membership.ts";
import { invalidMembers, invalidRegistration, validEpoch } from "./_validation.ts";
import { resolveSentinelOptions, type SentinelOptions } from "./sentinel_options.ts";
import type {
  DeregisterInput,
  DiscoverInput,
  DiscoverResult,
  NodeView,
  PromiseInput,
  RegisterInput,
  ReportInput,
  SentinelAction,
  SentinelSnapshot,
} from "./types.ts";

/**
 * The registry's sentinel as a pure state machine: node directory, liveness, election,
 * notifications and client discovery. Inputs are events plus `now` (ms, monotonic); outputs are
 * {@linkcode SentinelAction}s for the adapter to send or log. No sockets, timers, clock reads or
 * protobuf.
 *
 * Every input sweeps liveness (a linear scan over the nodes: clusters hold a handful of nodes, so
 * this costs less than the bookkeeping of a timer wheel), so decisions always see the state as of
 * `now`; `tick()` is that sweep alone and should run every 50–100 ms, which bounds failover at
 * `nodeTimeoutMs` + one tick after the master's last report. A report is applied before the sweep
 * (a node heard from now is alive, and an election sees its figures); a registration or goodbye is
 * applied between the deaths and the election (the registrant may be the best candidate; a
 * departing node is never elected).
 *
 * The rules it implements (membership, epochs, elections, recognition, run ids, registration,
 * recovery grace, liveness, reports, registry stalls, discovery) are listed in the module
 * documentation of `mod.ts`.
 *
 * @example
 * ```ts ignore
 * const sentinel = new Sentinel({ nodeTimeoutMs: 1000 });
 * const actions = sentinel.register(
 *   { peer: "p1", address, runId: "r1", role: "master", members: ["m1", "s1", "s2"] },
 *   0,
 * );
 * // register_reply { accepted: true, role: "slave" }: a master needs promises from 2 of 3 members
 * ```
 */
export class Sentinel {
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #forgetAfterMs: number;
  readonly #stallMs: number;
  readonly #nodes = new Map<string, NodeRecord>();
  #epoch = 0;
  #masterId: string | null = null;
  #masterEpoch = 0;
  /** The cluster's members, from the first accepted registration. */
  #members: string[] | null = null;
  readonly #rounds: ElectionRound;
  #graceStart: number | undefined;
  #lastNow: number | undefined;
  #stalledMs = 0;

  /** Creates an empty sentinel (a registry that just started). */
  constructor(options: SentinelOptions = {}) {
    const resolved = resolveSentinelOptions(options);
    this.#timeoutMs = resolved.nodeTimeoutMs;
    this.#graceMs = resolved.recoveryGraceMs;
    this.#rounds = new ElectionRound(resolved);
    this.#forgetAfterMs = resolved.forgetAfterMs;
    this.#stallMs = resolved.stallThresholdMs;
    if (resolved.now !== undefined) {
      this.#graceStart = resolved.now;
      this.#lastNow = resolved.now;
    }
  }

  /** The node timeout in ms. */
  get nodeTimeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The cluster epoch. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The live master's node id, or null. */
  get masterId(): string | null {
    return this.#masterId;
  }

  /** Handles a `Register`: always answers with one `register_reply`, plus commands and logs. */
  register(input: RegisterInput, now: number): SentinelAction[] {
    const t = this.#advance(now);
    // Deaths first (a silent old run must not block its successor), the election only once this
    // registration is in: the registrant may be the best candidate, or the old master come back.
    const out = this.#sweep(t, false);
    const wish = input.role;
    const nodeId = typeof input.address?.nodeId === "string" ? input.address.nodeId : "";
    const claim = input.epoch ?? 0;
    const reject = (reason: string, retryAfterMs = 0): SentinelAction[] => {
      const reply = registerReply(this.#leadership(), {
        peer: input.peer,
        nodeId,
        accepted: false,
        reason,
        role: wish ?? "slave",
      });
      if (retryAfterMs > 0) reply.retryAfterMs = Math.ceil(retryAfterMs);
      out.push(
        reply,
        log("warn", `Rejected registration of ${nodeId || "a node"}: ${reason}`, {
          nodeId,
          runId: input.runId,
          role: wish,
        }),
        ...this.#reconcile(t),
      );
      return out;
    };

    const invalid = invalidRegistration(input, nodeId, claim);
    if (invalid) return reject(invalid);
    const members = Array.isArray(input.members) ? input.members : [];
    const wrongMembers = invalidMembers(members, { nodeId, cluster: this.#members });
    if (wrongMembers) return reject(wrongMembers);
    this.#members ??= [...members];

    const existing = this.#nodes.get(nodeId);
    if (existing?.alive) {
      if (existing.runId !== input.runId) {
        return reject(
          `node ${nodeId} is already registered by run ${existing.runId}, last heard ${
            t - existing.lastSeen
          } ms ago: retry once it has deregistered or been silent for ${this.#timeoutMs} ms`,
          // A restarted process (its previous run crashed) gets in once that run times out.
          this.#timeoutMs - (t - existing.lastSeen) + 50,
        );
      }
      // Same process again (lost reply, reconnect): refresh, keep the role the registry gave it.
      existing.peer = input.peer;
      existing.address = { ...input.address };
      existing.load = sanitizeLoad(input.load);
      existing.lastSeen = t;
      existing.epoch = claim;
      if (claim > this.#epoch) this.#epoch = claim;
      return this.#accepted(out, existing, "registration refreshed (same run)", [], t);
    }

    const master = this.#master();
    const grace = this.#inGrace(t);
    const named = input.masterId ? input.masterId : null;
    const returning = existing !== undefined || claim > 0;
    const record: NodeRecord = {
      nodeId,
      runId: input.runId,
      peer: input.peer,
      address: { ...input.address },
      role: "slave",
      load: sanitizeLoad(input.load),
      epoch: claim,
      follows: null,
      registeredAt: t,
      lastSeen: t,
      alive: true,
      diedAt: null,
      deathReason: null,
    };
    const tail: SentinelAction[] = [];
    let reason: string;
    record.wish = wish;

    if (wish === "master") {
      const claimHolds = claim > 0 && claim >= this.#epoch &&
        (master === undefined || claim > this.#masterEpoch);
      if (claimHolds) {
        this.#nodes.set(nodeId, record);
        reason = master
          ? `took over from master ${master.nodeId}: epoch ${claim} > ${this.#masterEpoch}`
          : `recognised as master at epoch ${claim}`;
        tail.push(...this.#install(record, claim, t, reason));
      } else if (master) {
        if (!returning) {
          return reject(
            `master ${master.nodeId} (epoch ${this.#masterEpoch}) is alive: a second master is not allowed; configure this node as a slave`,
          );
        }
        record.follows = master.nodeId;
        this.#nodes.set(nodeId, record);
        reason =
          `master ${master.nodeId} (epoch ${this.#masterEpoch}) is alive and this node's epoch ${claim} does not beat it: accepted as slave`;
        tail.push(log(claim >= this.#masterEpoch ? "error" : "warn", `${nodeId}: ${reason}`, {
          nodeId,
          claimedEpoch: claim,
          masterId: master.nodeId,
          masterEpoch: this.#masterEpoch,
        }));
      } else {
        this.#nodes.set(nodeId, record);
        reason = grace && claim > 0
          ? `registry is recovering and epoch ${claim} is below the cluster epoch ${this.#epoch}: accepted as slave until a master is known`
          : this.#waitingReason();
      }
    } else {
      if (master && claim <= this.#masterEpoch) {
        record.follows = master.nodeId;
        reason = `accepted as slave of ${master.nodeId}`;
      } else {
        record.follows = named;
        reason = grace
          ? `registry is recovering: accepted as slave${
            named ? ` of ${named}` : ""
          } until a master is known`
          : this.#waitingReason();
      }
      this.#nodes.set(nodeId, record);
    }

    if (claim > this.#epoch) this.#epoch = claim;
    return this.#accepted(out, record, reason, tail, t);
  }

  /** Handles a `Report` (the node's heartbeat): always answers with one `report_ack`. */
  report(input: ReportInput, now: number): SentinelAction[] {
    const t = this.#advance(now);
    const record = this.#nodes.get(input.nodeId);
    const epoch = validEpoch(input.epoch ?? 0) ? input.epoch ?? 0 : 0;
    const current = record !== undefined && record.runId === input.runId && record.alive;
    if (current) {
      // Before the sweep: an election in it sees the freshest figures, and a node heard from now is
      // not declared dead for a silence the last tick had not yet caught.
      record.peer = input.peer;
      record.lastSeen = t;
      record.load = sanitizeLoad(input.load);
      record.epoch = epoch;
      if (epoch > this.#epoch) this.#epoch = epoch;
    }
    const out: SentinelAction[] = [];
    if (current && input.role === "master") out.push(...this.#recognise(record, epoch, t));
    out.push(...this.#sweep(t));
    const master = this.#master();
    if (!current) {
      out.push(
        reportAck(this.#leadership(), { peer: input.peer, nodeId: input.nodeId, known: false }),
      );
      if (record === undefined) {
        out.push(log("info", `Unknown node ${input.nodeId} reported: asked to register`, {
          nodeId: input.nodeId,
          runId: input.runId,
        }));
      } else if (record.runId !== input.runId) {
        out.push(log("warn", `Ignored a report from run ${input.runId} of ${input.nodeId}`, {
          nodeId: input.nodeId,
          runId: input.runId,
          registeredRunId: record.runId,
        }));
      } else {
        out.push(
          log("warn", `${input.nodeId} reported after being declared dead: asked to register`, {
            nodeId: input.nodeId,
            deathReason: record.deathReason,
          }),
        );
      }
      // A master the cluster has moved on from (paused, cut off, an old run) must stop acting now,
      // not only after it re-registered; one at the current epoch or above may be the real master
      // after a registry restart, so it is only asked to register.
      if (input.role === "master" && master !== undefined && epoch < this.#masterEpoch) {
        out.push(
          ...stepDown(this.#leadership(), {
            peer: input.peer,
            nodeId: input.nodeId,
            claimed: epoch,
          }),
        );
      }
      return out;
    }

    out.push(
      reportAck(this.#leadership(), { peer: input.peer, nodeId: input.nodeId, known: true }),
    );
    const commanded = out.some((a) =>
      (a.type === "convert_to_master" || a.type === "change_master") && a.nodeId === record.nodeId
    );
    // Unless this very call already told the node its role, repeat what it may have missed.
    if (!commanded) {
      out.push(...corrections(this.#leadership(), { record, claimed: input.role, epoch }));
    }
    return out;
  }

  /**
   * Handles a node's answer to `prepare`. Once promises for the round's epoch come from a majority of
   * the members, the most up-to-date promiser (highest position; in a new cluster the configured
   * master; then load) becomes master at that epoch.
   */
  promise(input: PromiseInput, now: number): SentinelAction[] {
    const t = this.#advance(now);
    const record = this.#nodes.get(input.nodeId);
    const out: SentinelAction[] = [];
    if (record === undefined || record.runId !== input.runId || !record.alive) {
      out.push(log("info", `Ignored a promise from ${input.nodeId} (run ${input.runId})`, {
        nodeId: input.nodeId,
        runId: input.runId,
      }));
      out.push(...this.#sweep(t));
      return out;
    }
    record.peer = input.peer;
    record.lastSeen = t;
    record.load = sanitizeLoad(input.load);
    const promised = validEpoch(input.promisedEpoch) ? input.promisedEpoch : 0;
    if (promised > this.#epoch) this.#epoch = promised;
    const round = this.#rounds.epoch;
    if (!input.granted) {
      out.push(
        log("warn", `${input.nodeId} refused epoch ${input.epoch}: it promised ${promised}`, {
          nodeId: input.nodeId,
          epoch: input.epoch,
          promisedEpoch: promised,
        }),
      );
      this.#rounds.refused(promised, t);
    } else if (round === null || input.epoch !== round) {
      out.push(log("info", `Late promise of ${input.nodeId} for epoch ${input.epoch} ignored`, {
        nodeId: input.nodeId,
        epoch: input.epoch,
        round,
      }));
    } else if (this.#members?.includes(input.nodeId)) {
      this.#rounds.add(input, record.load);
      out.push(...this.#decide(t, this.#members));
    }
    out.push(...this.#sweep(t));
    return out;
  }

  /**
   * Handles a `Deregister` (orderly shutdown): a master's departure elects at once (after grace).
   */
  deregister(input: DeregisterInput, now: number): SentinelAction[] {
    const t = this.#advance(now);
    // One election at most, after the departure: never one that elects the departing node.
    const out = this.#sweep(t, false);
    const record = this.#nodes.get(input.nodeId);
    if (record === undefined || record.runId !== input.runId || !record.alive) {
      out.push(log("info", `Ignored a goodbye from ${input.nodeId} (run ${input.runId})`, {
        nodeId: input.nodeId,
        runId: input.runId,
        registeredRunId: record?.runId ?? null,
        alive: record?.alive ?? false,
      }));
      out.push(...this.#reconcile(t));
      return out;
    }
    out.push(...this.#die(record, t, "deregistered"));
    out.push(...this.#reconcile(t));
    return out;
  }

  /** Sweeps liveness at `now`: removals, elections, the end of the recovery grace. */
  tick(now: number): SentinelAction[] {
    return this.#sweep(this.#advance(now));
  }

  /**
   * Picks a node for a client, and remembers it sent one there (decaying over DISCOVERY_DECAY_MS):
   * a burst of clients between two load reports spreads over the nodes.
   */
  discover(input: DiscoverInput, now: number): DiscoverResult {
    const t = Number.isFinite(now) ? Math.max(now, this.#lastNow ?? now) : this.#lastNow ?? 0;
    if (input.wantMaster) {
      const master = this.#master();
      return master !== undefined && this.#live(master, t)
        ? { type: "node", node: addressOf(master) }
        : { type: "none", reason: "no master" };
    }
    let best: NodeRecord | undefined;
    for (const r of this.#nodes.values()) {
      if (!this.#live(r, t) || !(r.load.loadFactor < 1)) continue;
      r.sent = sentNow(r, t);
      r.sentAt = t;
      if (best === undefined || compareForDiscovery(r, best) < 0) best = r;
    }
    if (best === undefined) return { type: "none", reason: "no node available" };
    best.sent = (best.sent ?? 0) + 1;
    return { type: "node", node: addressOf(best) };
  }

  /** Every node as the registry sees it, dead ones included, by node id. */
  nodes(): NodeView[] {
    return [...this.#nodes.values()]
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
      .map(viewOf);
  }

  /** The whole state, for the status endpoint and tests. */
  snapshot(): SentinelSnapshot {
    const t = this.#lastNow;
    return {
      epoch: this.#epoch,
      masterId: this.#masterId,
      masterEpoch: this.#masterId === null ? 0 : this.#masterEpoch,
      recovering: t === undefined || this.#inGrace(t),
      recoveryEndsAt: this.#graceStart === undefined ? null : this.#graceStart + this.#graceMs,
      members: this.#members === null ? null : [...this.#members],
      election: this.#rounds.view(),
      nodes: this.nodes(),
    };
  }

  // --- internals ---------------------------------------------------------------------------------

  /**
   * Validates and clamps `now` (time never runs backwards here), starts the grace, detects stalls.
   */
  #advance(now: number): number {
    const last = this.#lastNow;
    const t = Number.isFinite(now) ? Math.max(now, last ?? now) : last ?? 0;
    this.#graceStart ??= t;
    if (last !== undefined && t - last > this.#stallMs) {
      // The registry did not run for a while: nodes' silence over that gap says nothing about them.
      // Only the part beyond the threshold is forgiven, so an adapter that ticks too slowly delays
      // death detection instead of preventing it.
      const credit = t - last - this.#stallMs;
      let shifted = false;
      for (const r of this.#nodes.values()) {
        if (!r.alive) continue;
        r.lastSeen = Math.min(t, r.lastSeen + credit);
        shifted = true;
      }
      if (shifted) this.#stalledMs = t - last;
    }
    this.#lastNow = t;
    return t;
  }

  #inGrace(t: number): boolean {
    return this.#graceStart !== undefined && t < this.#graceStart + this.#graceMs;
  }

  #live(r: NodeRecord, t: number): boolean {
    return r.alive && t - r.lastSeen < this.#timeoutMs;
  }

  #master(): NodeRecord | undefined {
    return this.#masterId === null ? undefined : this.#nodes.get(this.#masterId);
  }

  /** Declares silent nodes dead, forgets long-dead ones, then (`elect`) makes sure of a master. */
  #sweep(t: number, elect = true): SentinelAction[] {
    const out: SentinelAction[] = [];
    if (this.#stalledMs > 0) {
      out.push(
        log("warn", `Registry stalled for ${this.#stalledMs} ms: node silence over it ignored`, {
          stalledMs: this.#stalledMs,
        }),
      );
      this.#stalledMs = 0;
    }
    const silent: NodeRecord[] = [];
    for (const r of this.#nodes.values()) {
      if (!r.alive) {
        if (r.diedAt !== null && t - r.diedAt >= this.#forgetAfterMs) this.#nodes.delete(r.nodeId);
      } else if (t - r.lastSeen >= this.#timeoutMs) {
        silent.push(r);
      }
    }
    // The master first: slaves that die with it are not reported to a master that is gone.
    silent.sort((a, b) => (a.nodeId === this.#masterId ? -1 : b.nodeId === this.#masterId ? 1 : 0));
    for (const r of silent) out.push(...this.#die(r, t, `silent for ${t - r.lastSeen} ms`));
    if (elect) out.push(...this.#reconcile(t));
    return out;
  }

  /**
   * Marks a node dead; a master leaves the cluster masterless, a slave is reported to the master.
   */
  #die(r: NodeRecord, t: number, why: string): SentinelAction[] {
    r.alive = false;
    r.diedAt = t;
    r.deathReason = why;
    if (r.nodeId === this.#masterId) {
      this.#masterId = null;
      return [log("error", `Master ${r.nodeId} lost: ${why}`, {
        nodeId: r.nodeId,
        epoch: this.#masterEpoch,
        lastSeq: r.load.lastSeq,
        recovering: this.#inGrace(t),
      })];
    }
    const out: SentinelAction[] = [
      log("warn", `Slave ${r.nodeId} removed: ${why}`, { nodeId: r.nodeId, runId: r.runId }),
    ];
    const master = this.#master();
    if (master !== undefined) {
      out.push({
        type: "slave_removed",
        peer: master.peer,
        nodeId: r.nodeId,
        reason: why,
        epoch: this.#masterEpoch,
      });
    }
    return out;
  }

  /** Demotes a master made stale by a higher epoch, then elects one if the cluster has none. */
  #reconcile(t: number): SentinelAction[] {
    const out: SentinelAction[] = [];
    const master = this.#master();
    if (master !== undefined && this.#epoch > this.#masterEpoch) {
      master.role = "slave";
      master.follows = null;
      this.#masterId = null;
      this.#rounds.deferToOther(t);
      out.push(
        log("warn", `Master ${master.nodeId} is stale: the cluster has seen epoch ${this.#epoch}`, {
          nodeId: master.nodeId,
          masterEpoch: this.#masterEpoch,
          epoch: this.#epoch,
        }),
      );
    }
    out.push(...this.#ensureMaster(t));
    return out;
  }

  /** Runs the election while the cluster has no master (after the grace): see ElectionRound. */
  #ensureMaster(t: number): SentinelAction[] {
    const members = this.#members;
    if (this.#masterId !== null || this.#inGrace(t) || members === null) return [];
    return this.#rounds.run(t, {
      members,
      voters: () =>
        [...this.#nodes.values()].filter((r) => this.#live(r, t) && members.includes(r.nodeId)),
      spendEpoch: () => ++this.#epoch,
    });
  }

  /**
   * A node reports itself master at an epoch at least the cluster's and above our master's: it was
   * elected by another registry (or before this one restarted). It is recognised, not fought: a
   * node is master at an epoch only with promises from a majority, so there is nothing to check.
   */
  #recognise(record: NodeRecord, epoch: number, t: number): SentinelAction[] {
    const master = this.#master();
    if (master === record || epoch === 0 || epoch < this.#epoch) return [];
    if (master !== undefined && epoch <= this.#masterEpoch) return [];
    return this.#install(record, epoch, t, `recognised: it reports master at epoch ${epoch}`);
  }

  /** Ends the round once a majority promised: the best promiser is master at the round's epoch. */
  #decide(t: number, members: readonly string[]): SentinelAction[] {
    const decision = this.#rounds.decide(t, {
      epoch: this.#epoch,
      members,
      isLive: (nodeId) => {
        const r = this.#nodes.get(nodeId);
        return r !== undefined && this.#live(r, t);
      },
    });
    if (decision.type === "undecided") return [];
    if (decision.type === "abandoned") return [decision.log];
    const { epoch, promisers } = decision;
    const best = this.#nodes.get(promisers[0].nodeId)!;
    return [
      { type: "convert_to_master", peer: best.peer, nodeId: best.nodeId, epoch },
      ...this.#install(
        best,
        epoch,
        t,
        `elected by promises from ${promisers.length} of ${members.length} members`,
        promisers,
      ),
    ];
  }

  /**
   * Makes `record` the master at `epoch` and points every live slave that follows another at it.
   */
  #install(
    record: NodeRecord,
    epoch: number,
    t: number,
    why: string,
    candidates?: Promised[],
  ): SentinelAction[] {
    const out: SentinelAction[] = [];
    const old = this.#master();
    if (old !== undefined && old !== record) {
      old.role = "slave";
      old.follows = null;
      out.push(
        log(
          "warn",
          `Master ${old.nodeId} (epoch ${this.#masterEpoch}) replaced by ${record.nodeId}`,
          {
            nodeId: old.nodeId,
            masterEpoch: this.#masterEpoch,
            newMasterId: record.nodeId,
            newEpoch: epoch,
          },
        ),
      );
    }
    this.#epoch = Math.max(this.#epoch, epoch);
    this.#masterEpoch = epoch;
    this.#masterId = record.nodeId;
    this.#rounds.end();
    record.role = "master";
    record.follows = null;
    for (const r of this.#nodes.values()) {
      if (r === record || !this.#live(r, t) || r.follows === record.nodeId) continue;
      r.follows = record.nodeId;
      out.push(changeMaster(r, { master: record, masterEpoch: epoch }));
    }
    out.push(log("info", `${record.nodeId} is master at epoch ${epoch}: ${why}`, {
      nodeId: record.nodeId,
      epoch,
      lastSeq: record.load.lastSeq,
      loadFactor: record.load.loadFactor,
      ...(candidates === undefined ? {} : {
        candidates: candidates.map((c) => ({
          nodeId: c.nodeId,
          positionEpoch: c.position.epoch,
          positionSeq: c.position.seq,
          loadFactor: c.load.loadFactor,
          connections: c.load.connections,
          users: c.load.users,
        })),
      }),
    }));
    return out;
  }

  /** Ends an accepted registration: reconcile, then the reply with the role as it stands. */
  #accepted(
    out: SentinelAction[],
    record: NodeRecord,
    why: string,
    tail: SentinelAction[],
    t: number,
  ): SentinelAction[] {
    let reason = why;
    const wasMaster = record.role === "master";
    tail.push(...this.#reconcile(t));
    // Becoming master through this very registration is said by the reply, not by a second command.
    const promoted = tail.findIndex((a) =>
      a.type === "convert_to_master" && a.nodeId === record.nodeId
    );
    if (promoted >= 0) {
      tail.splice(promoted, 1);
      reason = `elected master at epoch ${this.#masterEpoch}`;
    } else if (wasMaster && record.role !== "master") {
      reason = `${why}; then demoted: the cluster has seen epoch ${this.#epoch}`;
    }
    out.push(registerReply(this.#leadership(), {
      peer: record.peer,
      nodeId: record.nodeId,
      accepted: true,
      reason,
      role: record.role,
    }));
    out.push(
      log(
        "info",
        `Registered ${record.nodeId} (run ${record.runId}) as ${record.role}: ${reason}`,
        {
          nodeId: record.nodeId,
          runId: record.runId,
          role: record.role,
          epoch: this.#epoch,
        },
      ),
    );
    out.push(...tail);
    return out;
  }

  #waitingReason(): string {
    const n = this.#members?.length ?? 0;
    return `no master: accepted as slave; a master is elected once ${
      majorityOf(n)
    } of the ${n} members promise a new epoch`;
  }

  /** The master and epochs as they stand, for replies and commands. */
  #leadership(): Leadership {
    return { master: this.#master(), masterEpoch: this.#masterEpoch, epoch: this.#epoch };
  }
}

/**
 * How long a client discovery sent to a node keeps counting there (ms): about the time it takes to
 * connect and show in the node's next load report.
 */
const DISCOVERY_DECAY_MS = 1000;

/** `r.sent` decayed to time `t`. */
function sentNow(r: NodeRecord, t: number): number {
  if (!r.sent || r.sentAt === undefined) return 0;
  return r.sent * Math.exp(-Math.max(0, t - r.sentAt) / DISCOVERY_DECAY_MS);
}
