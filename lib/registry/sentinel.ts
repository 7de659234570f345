import { addressOf, type NodeRecord, viewOf } from "./_node_record.ts";
import { compareForDiscovery, compareForElection, sanitizeLoad } from "./_ranking.ts";
import { invalidRegistration, validEpoch } from "./_validation.ts";
import { resolveSentinelOptions, type SentinelOptions } from "./sentinel_options.ts";
import type {
  ChangeMasterAction,
  DeregisterInput,
  DiscoverInput,
  DiscoverResult,
  LogAction,
  NodeView,
  Peer,
  RegisterInput,
  RegisterReplyAction,
  ReportAckAction,
  ReportInput,
  Role,
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
 * Rules as implemented:
 *
 * - **Epochs.** The cluster epoch is the highest epoch the registry issued or saw from an accepted
 *   node; it never decreases. Every master the registry appoints or elects gets `epoch + 1`. A
 *   higher epoch always wins, as it does on the replication stream: a master claim above the
 *   current master's epoch (and at least the cluster epoch) takes over, since only a registry
 *   incarnation this one forgot can have issued it; if an accepted node shows an epoch above the
 *   master's, that master is stale and is demoted, and a new one is chosen.
 * - **Run ids.** The registered run id is authoritative. Reports and goodbyes from another run
 *   never refresh or remove it (a report gets `known=false`); another run takes over the node id
 *   only by registering once the registered run is dead (silent past the timeout, or deregistered).
 * - **Registration.** Same run id while alive: idempotent refresh (the role the registry gave is
 *   kept; new peer, address and load are used). Another run while the registered one is alive:
 *   rejected as a duplicate. Master wish: recognised as master, keeping its epoch, when it claims
 *   an epoch > 0 that is at least the cluster epoch and above a live master's; otherwise, with a
 *   live master, a returning node (one the registry knows, or one claiming an epoch > 0) is
 *   accepted as a slave of that master (reply `role=slave`, logged), while a brand-new node (no
 *   record, epoch 0) is rejected as a second master; with no master in a fresh cluster (epoch 0) it
 *   is appointed at epoch 1; with no master in a cluster that had one, it is accepted as a slave
 *   and may win the election (below). Slave wish: with a master, accepted as its slave; in a fresh
 *   cluster rejected until a master exists (unless it names its master during the recovery grace,
 *   or shows an epoch > 0, which proves the cluster had one); otherwise accepted as a slave without
 *   a master. `register_reply.role` and `.master` are authoritative for the node: a registrant
 *   elected by its own registration learns it from the reply, without `convert_to_master`.
 * - **Recovery grace.** For `recoveryGraceMs` after construction `now` (or the first input) the
 *   registry rebuilds its picture from re-registrations: masters keep their epoch and role, slaves
 *   naming the master they follow are accepted even before it re-registers, the cluster epoch
 *   becomes the highest epoch seen, and nobody is elected (deaths are still detected). When the
 *   grace ends without a master, the cluster counts as having just lost it.
 * - **Liveness.** A node silent for `nodeTimeoutMs` is dead. A dead slave is dropped from discovery
 *   and the master gets `slave_removed` (plus a log line). A dead, departed or stale master leads
 *   to an election among the live slaves: highest `lastSeq` first (a slave that missed updates
 *   never beats one that did not), then lowest load factor, then fewest connections + users, then
 *   node id. The winner gets `convert_to_master`, every other live slave `change_master`, both with
 *   the new epoch.
 * - **No live slave.** The cluster stays masterless (`discover({wantMaster})` answers "no master").
 *   Nodes registering then are accepted as slaves without a master; the best of them is elected as
 *   soon as its `lastSeq` reaches the highest sequence the lost cluster reported, or, failing that,
 *   after `masterlessWaitMs` (with a warning that later updates are lost). The old master coming
 *   back with its epoch is recognised at once (its claim is at the cluster epoch), with no epoch
 *   change.
 * - **Reports.** Unknown node, other run, or a node already declared dead: `report_ack known=false`
 *   (register again); if it claims master at an epoch below the master's it also gets
 *   `change_master` to step down at once (a claim at the master's epoch or above may be the real
 *   master after a registry restart: it only has to register). A live node claiming master that is
 *   not the registry's master gets `change_master` the same way. Lost commands are repeated: the
 *   master still reporting as slave gets `convert_to_master` again, a slave behind the master's
 *   epoch gets `change_master` again.
 * - **Registry stalls.** A gap between inputs above `stallThresholdMs` is the registry's own pause:
 *   the silence beyond the threshold is not held against the nodes (no mass death, no failover).
 * - **Discovery.** The least-loaded live node with load factor < 1 (then fewest connections, then
 *   node id), else none with "no node available"; for `wantMaster` the live master, else "no
 *   master".
 *
 * Sequences are assumed to grow across failovers (a promoted master continues from its last applied
 * sequence), so `lastSeq` compares nodes of different epochs.
 *
 * @example
 * ```ts ignore
 * const sentinel = new Sentinel({ nodeTimeoutMs: 1000 });
 * const actions = sentinel.register({ peer: "p1", address, runId: "r1", role: "master" }, 0);
 * // [{ type: "register_reply", accepted: true, role: "master", epoch: 1, ... }, { type: "log", ... }]
 * ```
 */
export class Sentinel {
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #masterlessWaitMs: number;
  readonly #forgetAfterMs: number;
  readonly #stallMs: number;
  readonly #nodes = new Map<string, NodeRecord>();
  #epoch = 0;
  #masterId: string | null = null;
  #masterEpoch = 0;
  #masterless: { since: number; lostSeq: number } | null = null;
  #graceStart: number | undefined;
  #lastNow: number | undefined;
  #stalledMs = 0;

  /** Creates an empty sentinel (a registry that just started). */
  constructor(options: SentinelOptions = {}) {
    const resolved = resolveSentinelOptions(options);
    this.#timeoutMs = resolved.nodeTimeoutMs;
    this.#graceMs = resolved.recoveryGraceMs;
    this.#masterlessWaitMs = resolved.masterlessWaitMs;
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
    const reject = (reason: string): SentinelAction[] => {
      out.push(
        this.#reply(input.peer, nodeId, false, reason, wish),
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

    const existing = this.#nodes.get(nodeId);
    if (existing?.alive) {
      if (existing.runId !== input.runId) {
        return reject(
          `node ${nodeId} is already registered by run ${existing.runId}, last heard ${
            t - existing.lastSeen
          } ms ago: retry once it has deregistered or been silent for ${this.#timeoutMs} ms`,
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
      } else if (this.#epoch === 0 && claim === 0) {
        this.#nodes.set(nodeId, record);
        reason = "appointed master of a new cluster at epoch 1";
        tail.push(...this.#install(record, 1, t, reason));
      } else {
        this.#nodes.set(nodeId, record);
        reason = grace
          ? `registry is recovering and epoch ${claim} is below the cluster epoch ${this.#epoch}: accepted as slave until a master is known`
          : this.#masterlessReason(t);
      }
    } else {
      if (master && claim <= this.#masterEpoch) {
        record.follows = master.nodeId;
        reason = `accepted as slave of ${master.nodeId}`;
      } else if (this.#epoch === 0 && claim === 0 && !(grace && named !== null)) {
        return reject("no master yet: the master must register first");
      } else {
        record.follows = named;
        reason = grace
          ? `registry is recovering: accepted as slave${
            named ? ` of ${named}` : ""
          } until a master is known`
          : this.#masterlessReason(t);
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
    const out = this.#sweep(t);
    const master = this.#master();
    if (!current) {
      out.push(this.#ack(input.peer, input.nodeId, false));
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
        out.push(...this.#stepDown(input.peer, input.nodeId, epoch));
      }
      return out;
    }

    out.push(this.#ack(input.peer, input.nodeId, true));
    const commanded = out.some((a) =>
      (a.type === "convert_to_master" || a.type === "change_master") && a.nodeId === record.nodeId
    );
    // Unless this very call already told the node its role, repeat what it may have missed.
    if (!commanded) out.push(...this.#correct(record, input.role, epoch, master));
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

  /** Picks a node for a client; reads the state without changing it. */
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
      if (best === undefined || compareForDiscovery(r, best) < 0) best = r;
    }
    return best === undefined
      ? { type: "none", reason: "no node available" }
      : { type: "node", node: addressOf(best) };
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
      masterless: this.#masterless === null ? null : { ...this.#masterless },
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
      this.#masterless = null;
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
      this.#masterless = null;
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

  /** Elects a master when there is none, the cluster has one to lose, and the grace is over. */
  #ensureMaster(t: number): SentinelAction[] {
    if (this.#masterId !== null || this.#epoch === 0 || this.#inGrace(t)) return [];
    const candidates = [...this.#nodes.values()]
      .filter((r) => this.#live(r, t))
      .sort(compareForElection);
    const best = candidates[0];
    if (this.#masterless === null) {
      if (best !== undefined) return this.#elect(best, candidates, t, "the master was lost");
      let lostSeq = 0;
      for (const r of this.#nodes.values()) lostSeq = Math.max(lostSeq, r.load.lastSeq);
      this.#masterless = { since: t, lostSeq };
      return [log("error", "The cluster has no master and no live slave to promote", {
        epoch: this.#epoch,
        lostSeq,
        waitMs: this.#masterlessWaitMs,
      })];
    }
    if (best === undefined) return [];
    const { since, lostSeq } = this.#masterless;
    if (best.load.lastSeq >= lostSeq) {
      return this.#elect(best, candidates, t, "a node as up to date as the lost master is back");
    }
    if (t - since < this.#masterlessWaitMs) return [];
    return [
      log(
        "warn",
        `Electing ${best.nodeId} although it is behind the lost master: updates after sequence ${best.load.lastSeq} up to ${lostSeq} are lost`,
        { nodeId: best.nodeId, lastSeq: best.load.lastSeq, lostSeq, waitedMs: t - since },
      ),
      ...this.#elect(
        best,
        candidates,
        t,
        `no up-to-date node came back within ${this.#masterlessWaitMs} ms`,
      ),
    ];
  }

  /** Promotes `winner` at a new epoch: `convert_to_master` to it, `change_master` to the others. */
  #elect(winner: NodeRecord, candidates: NodeRecord[], t: number, why: string): SentinelAction[] {
    const epoch = this.#epoch + 1;
    return [
      { type: "convert_to_master", peer: winner.peer, nodeId: winner.nodeId, epoch },
      ...this.#install(winner, epoch, t, `elected: ${why}`, candidates),
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
    candidates?: NodeRecord[],
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
    this.#masterless = null;
    record.role = "master";
    record.follows = null;
    for (const r of this.#nodes.values()) {
      if (r === record || !this.#live(r, t) || r.follows === record.nodeId) continue;
      r.follows = record.nodeId;
      out.push(this.#changeMaster(r, record));
    }
    out.push(log("info", `${record.nodeId} is master at epoch ${epoch}: ${why}`, {
      nodeId: record.nodeId,
      epoch,
      lastSeq: record.load.lastSeq,
      loadFactor: record.load.loadFactor,
      ...(candidates === undefined ? {} : {
        candidates: candidates.map((c) => ({
          nodeId: c.nodeId,
          lastSeq: c.load.lastSeq,
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
    out.push(this.#reply(record.peer, record.nodeId, true, reason, undefined));
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

  #masterlessReason(t: number): string {
    const m = this.#masterless;
    return m === null
      ? "no master: accepted as slave until one is elected"
      : `no master: accepted as slave; the most up-to-date live node is elected once one reaches sequence ${m.lostSeq}, or after ${
        Math.max(0, m.since + this.#masterlessWaitMs - t)
      } ms`;
  }

  #reply(
    peer: Peer,
    nodeId: string,
    accepted: boolean,
    reason: string,
    wished: Role | undefined,
  ): RegisterReplyAction {
    const record = accepted ? this.#nodes.get(nodeId) : undefined;
    const master = this.#master();
    return {
      type: "register_reply",
      peer,
      nodeId,
      accepted,
      reason,
      role: record?.role ?? wished ?? "slave",
      ...(master === undefined ? {} : { master: addressOf(master) }),
      epoch: this.#epoch,
    };
  }

  #ack(peer: Peer, nodeId: string, known: boolean): ReportAckAction {
    const master = this.#master();
    return {
      type: "report_ack",
      peer,
      nodeId,
      known,
      ...(master === undefined ? {} : { master: addressOf(master) }),
      epoch: this.#epoch,
    };
  }

  #changeMaster(r: NodeRecord, master: NodeRecord): ChangeMasterAction {
    return {
      type: "change_master",
      peer: r.peer,
      nodeId: r.nodeId,
      master: addressOf(master),
      epoch: this.#masterEpoch,
    };
  }

  /** Commands for a live node whose report contradicts the registry (a command was lost). */
  #correct(
    record: NodeRecord,
    claimed: Role,
    epoch: number,
    master: NodeRecord | undefined,
  ): SentinelAction[] {
    if (master === record) {
      // The convert_to_master may have been dropped: repeat it (it is idempotent).
      return claimed === "master" ? [] : [{
        type: "convert_to_master",
        peer: record.peer,
        nodeId: record.nodeId,
        epoch: this.#masterEpoch,
      }];
    }
    if (claimed === "master") {
      if (master !== undefined) {
        record.follows = master.nodeId;
        return this.#stepDown(record.peer, record.nodeId, epoch);
      }
      return [log("warn", `${record.nodeId} claims to be master but is not`, {
        nodeId: record.nodeId,
        claimedEpoch: epoch,
        epoch: this.#epoch,
      })];
    }
    if (master !== undefined && (epoch < this.#masterEpoch || record.follows !== master.nodeId)) {
      // A dropped change_master: repeat it.
      record.follows = master.nodeId;
      return [this.#changeMaster(record, master)];
    }
    return [];
  }

  /** Tells a node that wrongly believes it is master to step down and follow the real one. */
  #stepDown(peer: Peer, nodeId: string, claimed: number): SentinelAction[] {
    const master = this.#master();
    if (master === undefined) return [];
    return [
      log(
        "warn",
        `${nodeId} claims to be master at epoch ${claimed} but is not: told to step down`,
        {
          nodeId,
          claimedEpoch: claimed,
          masterId: master.nodeId,
          masterEpoch: this.#masterEpoch,
        },
      ),
      {
        type: "change_master",
        peer,
        nodeId,
        master: addressOf(master),
        epoch: this.#masterEpoch,
      },
    ];
  }
}

function log(
  level: LogAction["level"],
  message: string,
  fields?: Record<string, unknown>,
): LogAction {
  return fields === undefined
    ? { type: "log", level, message }
    : { type: "log", level, message, fields };
}
