/**
 * The sentinel's election round: the round in progress, its promises, the pause between rounds and
 * the promotion order. The sentinel drives it and keeps the cluster epoch and the master.
 *
 * @module
 */
import { majorityOf } from "../config/membership.ts";
import { log } from "./_log.ts";
import type { NodeRecord } from "./_node_record.ts";
import { compareForElection, compareIds } from "./_ranking.ts";
import { validEpoch } from "./_validation.ts";
import type {
  LogAction,
  NodeLoad,
  PrepareAction,
  PromiseInput,
  SentinelAction,
  SentinelSnapshot,
} from "./types.ts";

/** One promise of an election round. */
export interface Promised {
  nodeId: string;
  load: NodeRecord["load"];
  /** The epoch and sequence of the last replication update the node holds. */
  position: { epoch: number; seq: number };
  configuredMaster: boolean;
}

/** What the round needs of the cluster to start: read when called, never kept. */
export interface Electorate {
  /** The cluster's members. */
  readonly members: readonly string[];
  /** The live members (who can be asked to promise). */
  voters(): NodeRecord[];
  /** Spends a new cluster epoch (the cluster epoch + 1) and returns it. */
  spendEpoch(): number;
}

/** What a round's promises amount to, as checked by {@linkcode ElectionRound.decide}. */
export type Decision =
  | { type: "undecided" }
  | { type: "abandoned"; log: LogAction }
  | { type: "elected"; epoch: number; promisers: Promised[] };

/** Options of {@linkcode ElectionRound}: the resolved sentinel options it uses. */
export interface ElectionRoundOptions {
  electionTimeoutMs: number;
  registryId: string;
  random: () => number;
}

/** The election round in progress, if any, and when the next may start. */
export class ElectionRound {
  readonly #timeoutMs: number;
  readonly #registryId: string;
  readonly #random: () => number;
  /** The round in progress: every promise of its epoch, by node id. */
  #round: { epoch: number; startedAt: number; promises: Map<string, Promised> } | null = null;
  /** Why no round can start now, as last logged (logged again only when it changes). */
  #waiting = "";
  /** No round starts before this time (jitter after a failed or contested round). */
  #nextRoundAt = 0;

  /** Creates the state of a sentinel that has run no round yet. */
  constructor(options: ElectionRoundOptions) {
    this.#timeoutMs = options.electionTimeoutMs;
    this.#registryId = options.registryId;
    this.#random = options.random;
  }

  /** The epoch of the round in progress, or null. */
  get epoch(): number | null {
    return this.#round?.epoch ?? null;
  }

  /** The round in progress, for the sentinel's snapshot. */
  view(): SentinelSnapshot["election"] {
    const round = this.#round;
    return round === null ? null : {
      epoch: round.epoch,
      startedAt: round.startedAt,
      promised: [...round.promises.keys()].sort(compareIds),
    };
  }

  /**
   * Runs the election while the cluster has no master: a round asks every live member to promise a
   * new epoch; one that gathers no majority in `electionTimeoutMs` is abandoned and the next asks
   * for a higher epoch. Nothing is asked while fewer than a majority are live.
   */
  run(t: number, electorate: Electorate): SentinelAction[] {
    const round = this.#round;
    if (round !== null) {
      if (t - round.startedAt < this.#timeoutMs) return [];
      this.#round = null;
      this.#nextRoundAt = t + this.#jitter();
      const n = electorate.members.length;
      const out: SentinelAction[] = [
        log(
          "warn",
          `Election for epoch ${round.epoch} failed: promises from [${
            [...round.promises.keys()].join(", ")
          }], a majority is ${majorityOf(n)} of ${n}`,
          { epoch: round.epoch, promised: [...round.promises.keys()] },
        ),
      ];
      return t < this.#nextRoundAt ? out : [...out, ...this.#start(t, electorate)];
    }
    if (t < this.#nextRoundAt) return [];
    return this.#start(t, electorate);
  }

  /** Adds a granted promise for the round in progress (the caller checked its epoch). */
  add(input: PromiseInput, load: NodeLoad): void {
    // A position with either part unusable counts as holding nothing: it can never win.
    const valid = validEpoch(input.position?.epoch) && validEpoch(input.position?.seq);
    const position = valid
      ? { epoch: input.position.epoch, seq: input.position.seq }
      : { epoch: 0, seq: 0 };
    this.#round?.promises.set(input.nodeId, {
      nodeId: input.nodeId,
      load,
      position,
      configuredMaster: input.configuredRole === "master",
    });
  }

  /**
   * Whether the round is won: once a majority of `members` promised and are live, the best
   * promiser (see compareForPromotion) is master at the round's epoch. A round that the cluster
   * `epoch` has overtaken is abandoned (its master would be stale).
   */
  decide(
    t: number,
    cluster: { epoch: number; members: readonly string[]; isLive: (nodeId: string) => boolean },
  ): Decision {
    const round = this.#round;
    if (round === null) return { type: "undecided" };
    if (cluster.epoch > round.epoch) {
      // A newer epoch exists (a refusal or a report showed it): this round's master would be stale.
      this.#round = null;
      this.#nextRoundAt = t + this.#jitter();
      return {
        type: "abandoned",
        log: log(
          "info",
          `Election for epoch ${round.epoch} abandoned: epoch ${cluster.epoch} exists`,
          { epoch: round.epoch, seen: cluster.epoch },
        ),
      };
    }
    const need = majorityOf(cluster.members.length);
    if (round.promises.size < need) return { type: "undecided" };
    const promisers = [...round.promises.values()].filter((p) => cluster.isLive(p.nodeId));
    if (promisers.length < need) return { type: "undecided" };
    promisers.sort(compareForPromotion);
    this.#round = null;
    return { type: "elected", epoch: round.epoch, promisers };
  }

  /** A node refused, having promised `promised`: a round it shows contested waits a pause. */
  refused(promised: number, t: number): void {
    if (this.#round !== null && promised >= this.#round.epoch) {
      // Another coordinator asked first: let its round finish before asking again.
      this.#round = null;
      this.#nextRoundAt = t + this.#jitter();
    }
  }

  /**
   * A newer epoch made the master stale: another coordinator's round is likely under way; give it
   * time to finish (its master is then recognised from its reports) before running one of our own.
   */
  deferToOther(t: number): void {
    this.#nextRoundAt = t + this.#timeoutMs / 2 + this.#jitter();
  }

  /** A master was installed: no round is in progress, and nothing is waited for. */
  end(): void {
    this.#round = null;
    this.#waiting = "";
  }

  /** A random wait of up to one election timeout (before retrying a failed or contested round). */
  #jitter(): number {
    return this.#timeoutMs * this.#random();
  }

  #start(t: number, electorate: Electorate): SentinelAction[] {
    const members = electorate.members;
    const voters = electorate.voters();
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
    // The epoch is spent once asked for: a later round never reuses it.
    const epoch = electorate.spendEpoch();
    this.#round = { epoch, startedAt: t, promises: new Map() };
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
