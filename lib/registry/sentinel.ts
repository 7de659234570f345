import { addressOf, type NodeRecord, viewOf } from "./_node_record.ts";
import { compareForDiscovery, compareForElection, compareIds, sanitizeLoad } from "./_ranking.ts";
import { majorityOf, sameMembers } from "../config/membership.ts";
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
  PrepareAction,
  PromiseInput,
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
 * Rules as implemented (the registry's half of the safety rule: see the README's "What is
 * guaranteed"; safety never depends on the registry being single, reachable or right):
 *
 * - **Membership.** Every registration carries the node's `cluster.members`; the first accepted one
 *   fixes the cluster's, and a node whose list differs (as a set), lacks its own id or lists one
 *   twice is rejected. A majority is ⌊n/2⌋ + 1 of them.
 * - **Epochs.** The cluster epoch is the highest epoch the registry asked for, saw from a node or
 *   heard in a refusal; it never decreases. Each election round spends a new one.
 * - **Elections.** With no master (after the recovery grace) and at least a majority of the members
 *   live, a round asks every live member to promise epoch + 1 (`prepare`). Nodes promise each epoch
 *   at most once and durably. With granted promises from a majority the promiser holding the most
 *   wins (highest position: epoch, then sequence of its last replication update; in a new cluster,
 *   where nobody holds anything, the configured master; then load band, connections + users, node
 *   id): `convert_to_master` to it, `change_master` to the other live nodes. A round without a
 *   majority in `electionTimeoutMs`, or one a refusal shows to be stale, is abandoned; the next
 *   starts after a random pause of up to one timeout, so two registries do not keep splitting the
 *   promises. No master is ever appointed at registration.
 * - **Recognition.** A node that reports (or registers) itself master at an epoch at least the
 *   cluster epoch and above the current master's was elected elsewhere (another registry, or before
 *   a restart): it is recognised as master, not fought. A master made stale by a newer epoch seen
 *   from another node is demoted; the registry then waits about one election timeout for the other
 *   coordinator's master to show up before it runs a round of its own.
 * - **Run ids.** The registered run id is authoritative. Reports, promises and goodbyes from another
 *   run never refresh or remove it; another run takes over the node id only by registering once the
 *   registered run is dead (until then it is told to retry after the remaining timeout).
 * - **Registration.** Same run id while alive: idempotent refresh. Master wish with a live master:
 *   a brand-new node is rejected as a second master, a returning one (known, or claiming an epoch)
 *   accepted as a slave. Otherwise accepted as a slave (of the master, if any).
 * - **Recovery grace.** For `recoveryGraceMs` after construction `now` (or the first input) the
 *   registry rebuilds its picture from re-registrations and elects nobody (deaths are still
 *   detected).
 * - **Liveness.** A node silent for `nodeTimeoutMs` is dead. A dead slave is dropped from discovery
 *   and the master gets `slave_removed`. A dead, departed or stale master leads to a round.
 * - **Reports.** Unknown node, other run, or a node already declared dead: `report_ack known=false`
 *   (register again); a master claim below the master's epoch also gets `change_master`. Lost
 *   commands are repeated: the master still reporting as slave gets `convert_to_master` again, a
 *   slave behind the master's epoch gets `change_master` again. Replies and acks carry the master's
 *   epoch (the cluster epoch without a master).
 * - **Registry stalls.** A gap between inputs above `stallThresholdMs` is the registry's own pause:
 *   the silence beyond the threshold is not held against the nodes (no mass death, no failover).
 * - **Discovery.** The least-loaded live node with load factor < 1 (then fewest connections, then
 *   node id), else none with "no node available"; for `wantMaster` the live master, else "no
 *   master".
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
  readonly #electionTimeoutMs: number;
  readonly #registryId: string;
  readonly #random: () => number;
  readonly #forgetAfterMs: number;
  readonly #stallMs: number;
  readonly #nodes = new Map<string, NodeRecord>();
  #epoch = 0;
  #masterId: string | null = null;
  #masterEpoch = 0;
  /** The cluster's members, from the first accepted registration. */
  #members: string[] | null = null;
  /** The election round in progress: every promise of its epoch, by node id. */
  #election: { epoch: number; startedAt: number; promises: Map<string, Promised> } | null = null;
  /** Why no round can start now, as last logged (logged again only when it changes). */
  #waiting = "";
  /** No round starts before this time (jitter after a failed or contested round). */
  #nextRoundAt = 0;
  #graceStart: number | undefined;
  #lastNow: number | undefined;
  #stalledMs = 0;

  /** Creates an empty sentinel (a registry that just started). */
  constructor(options: SentinelOptions = {}) {
    const resolved = resolveSentinelOptions(options);
    this.#timeoutMs = resolved.nodeTimeoutMs;
    this.#graceMs = resolved.recoveryGraceMs;
    this.#electionTimeoutMs = resolved.electionTimeoutMs;
    this.#registryId = resolved.registryId;
    this.#random = resolved.random;
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
      const reply = this.#reply(input.peer, nodeId, false, reason, wish);
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
    if (members.length === 0) {
      return reject("it sends no cluster.members: list every node id in every node's config");
    }
    if (!members.includes(nodeId)) {
      return reject(`${nodeId} is not in its own cluster.members [${members.join(", ")}]`);
    }
    if (new Set(members).size !== members.length) {
      return reject(`its cluster.members [${members.join(", ")}] list a node twice`);
    }
    if (this.#members && !sameMembers(this.#members, members)) {
      return reject(
        `its cluster.members [${members.join(", ")}] differ from the cluster's [${
          this.#members.join(", ")
        }]: every node must list the same members`,
      );
    }
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
    const round = this.#election;
    if (!input.granted) {
      out.push(
        log("warn", `${input.nodeId} refused epoch ${input.epoch}: it promised ${promised}`, {
          nodeId: input.nodeId,
          epoch: input.epoch,
          promisedEpoch: promised,
        }),
      );
      if (round !== null && promised >= round.epoch) {
        // Another coordinator asked first: let its round finish before asking again.
        this.#election = null;
        this.#nextRoundAt = t + this.#jitter();
      }
    } else if (round === null || input.epoch !== round.epoch) {
      out.push(log("info", `Late promise of ${input.nodeId} for epoch ${input.epoch} ignored`, {
        nodeId: input.nodeId,
        epoch: input.epoch,
        round: round?.epoch ?? null,
      }));
    } else if (this.#members?.includes(input.nodeId)) {
      // A position with either part unusable counts as holding nothing: it can never win.
      const valid = validEpoch(input.position?.epoch) && validEpoch(input.position?.seq);
      const position = valid
        ? { epoch: input.position.epoch, seq: input.position.seq }
        : { epoch: 0, seq: 0 };
      round.promises.set(input.nodeId, {
        nodeId: input.nodeId,
        load: record.load,
        position,
        configuredMaster: input.configuredRole === "master",
      });
      out.push(...this.#decide(t));
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
      members: this.#members === null ? null : [...this.#members],
      election: this.#election === null ? null : {
        epoch: this.#election.epoch,
        startedAt: this.#election.startedAt,
        promised: [...this.#election.promises.keys()].sort(compareIds),
      },
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
      // A newer epoch exists: another coordinator's round is likely under way; give it time to
      // finish (its master is then recognised from its reports) before running one of our own.
      this.#nextRoundAt = t + this.#electionTimeoutMs / 2 + this.#jitter();
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

  /**
   * Runs the election while the cluster has no master (after the grace): a round asks every live
   * member to promise a new epoch; one that gathers no majority in `electionTimeoutMs` is abandoned
   * and the next asks for a higher epoch. Nothing is asked while fewer than a majority are live.
   */
  #ensureMaster(t: number): SentinelAction[] {
    if (this.#masterId !== null || this.#inGrace(t) || this.#members === null) return [];
    const round = this.#election;
    if (round !== null) {
      if (t - round.startedAt < this.#electionTimeoutMs) return [];
      this.#election = null;
      this.#nextRoundAt = t + this.#jitter();
      const out: SentinelAction[] = [
        log(
          "warn",
          `Election for epoch ${round.epoch} failed: promises from [${
            [...round.promises.keys()].join(", ")
          }], a majority is ${majorityOf(this.#members.length)} of ${this.#members.length}`,
          { epoch: round.epoch, promised: [...round.promises.keys()] },
        ),
      ];
      return t < this.#nextRoundAt ? out : [...out, ...this.#startElection(t)];
    }
    if (t < this.#nextRoundAt) return [];
    return this.#startElection(t);
  }

  /** A random wait of up to one election timeout (before retrying a failed or contested round). */
  #jitter(): number {
    return this.#electionTimeoutMs * this.#random();
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

  #startElection(t: number): SentinelAction[] {
    const members = this.#members!;
    const voters = [...this.#nodes.values()].filter((r) =>
      this.#live(r, t) && members.includes(r.nodeId)
    );
    const need = majorityOf(members.length);
    if (voters.length < need) {
      const waiting = `${voters.length} of ${members.length} members live, ${need} needed`;
      if (waiting === this.#waiting) return [];
      this.#waiting = waiting;
      return [log("warn", `No master, and no election possible: ${waiting}`, {
        live: voters.map((r) => r.nodeId),
        members,
      })];
    }
    this.#waiting = "";
    const epoch = this.#epoch + 1;
    // The epoch is spent once asked for: a later round never reuses it.
    this.#epoch = epoch;
    this.#election = { epoch, startedAt: t, promises: new Map() };
    const out: SentinelAction[] = [
      log("info", `Election for epoch ${epoch}: asking ${voters.map((r) => r.nodeId).join(", ")}`, {
        epoch,
        registryId: this.#registryId,
      }),
    ];
    for (const r of voters) {
      out.push(
        {
          type: "prepare",
          peer: r.peer,
          nodeId: r.nodeId,
          epoch,
          registryId: this.#registryId,
        } satisfies PrepareAction,
      );
    }
    return out;
  }

  /** Ends the round once a majority promised: the best promiser is master at the round's epoch. */
  #decide(t: number): SentinelAction[] {
    const round = this.#election;
    const members = this.#members;
    if (round === null || members === null) return [];
    if (this.#epoch > round.epoch) {
      // A newer epoch exists (a refusal or a report showed it): this round's master would be stale.
      this.#election = null;
      this.#nextRoundAt = this.#lastNow! + this.#jitter();
      return [
        log("info", `Election for epoch ${round.epoch} abandoned: epoch ${this.#epoch} exists`, {
          epoch: round.epoch,
          seen: this.#epoch,
        }),
      ];
    }
    if (round.promises.size < majorityOf(members.length)) return [];
    const promisers = [...round.promises.values()].filter((p) => {
      const r = this.#nodes.get(p.nodeId);
      return r !== undefined && this.#live(r, t);
    });
    if (promisers.length < majorityOf(members.length)) return [];
    promisers.sort(compareForPromotion);
    const best = this.#nodes.get(promisers[0].nodeId)!;
    this.#election = null;
    const epoch = round.epoch;
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
    this.#election = null;
    this.#waiting = "";
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

  #waitingReason(): string {
    const n = this.#members?.length ?? 0;
    return `no master: accepted as slave; a master is elected once ${
      majorityOf(n)
    } of the ${n} members promise a new epoch`;
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
      // The epoch of the master named (a node must not take an old master at a newer epoch).
      epoch: master === undefined ? this.#epoch : this.#masterEpoch,
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
      epoch: master === undefined ? this.#epoch : this.#masterEpoch,
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

/** One promise of an election round. */
interface Promised {
  nodeId: string;
  load: NodeRecord["load"];
  /** The epoch and sequence of the last replication update the node holds. */
  position: { epoch: number; seq: number };
  configuredMaster: boolean;
}

/**
 * Promotion order among the promisers of a round, best first: the highest position (epoch, then
 * sequence: the winner holds every write a majority acknowledged), then, in a new cluster (nothing
 * held anywhere), the node configured as master, then the election order by load.
 */
function compareForPromotion(a: Promised, b: Promised): number {
  if (a.position.epoch !== b.position.epoch) return a.position.epoch > b.position.epoch ? -1 : 1;
  if (a.position.seq !== b.position.seq) return a.position.seq > b.position.seq ? -1 : 1;
  const fresh = a.position.epoch === 0 && a.position.seq === 0;
  if (fresh && a.configuredMaster !== b.configuredMaster) return a.configuredMaster ? -1 : 1;
  return compareForElection(a, b);
}
