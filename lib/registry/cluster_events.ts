/**
 * The registry's recent history for the dashboard's timeline: registrations, deaths, elections,
 * masters and role changes, found by comparing successive sentinel snapshots (so the sentinel
 * itself stays untouched), kept in a bounded ring with wall-clock times.
 *
 * @module
 */
import type { Role, SentinelSnapshot } from "./types.ts";

/** What happened. */
export type ClusterEventKind =
  | "registry_started"
  | "registered"
  | "died"
  | "role"
  | "election"
  | "master"
  | "no_master";

/** One entry of the timeline. */
export interface ClusterEvent {
  /** Increasing from 1 in this registry run (ask for events after the last one you saw). */
  id: number;
  /** Wall-clock time (ms since the epoch) the registry noticed it. */
  at: number;
  /** What happened. */
  kind: ClusterEventKind;
  /** The node concerned, if one. */
  nodeId?: string;
  /** The epoch concerned (the cluster epoch for most kinds). */
  epoch: number;
  /** One line for people. */
  text: string;
}

interface Seen {
  runId: string;
  alive: boolean;
  role: Role;
}

/** Default size of the ring. */
export const DEFAULT_EVENT_CAPACITY = 500;

/**
 * A bounded ring of {@linkcode ClusterEvent}s, fed sentinel snapshots by {@linkcode observe}; the
 * first entry says the registry started.
 */
export class ClusterEvents {
  readonly #capacity: number;
  readonly #ring: ClusterEvent[] = [];
  readonly #nodes = new Map<string, Seen>();
  #nextId = 1;
  #electionEpoch = 0;
  #masterId: string | null = null;
  #masterEpoch = 0;

  /** An empty history whose first event, at `at` (wall ms), is the registry's start. */
  constructor(at: number, options: { capacity?: number; registryId?: string } = {}) {
    this.#capacity = Math.max(1, options.capacity ?? DEFAULT_EVENT_CAPACITY);
    this.#push(at, {
      kind: "registry_started",
      epoch: 0,
      text: `Registry ${
        options.registryId ?? ""
      } started: rebuilding the cluster from registrations`
        .replace("  ", " "),
    });
  }

  /** Records what changed between the previous snapshot and `snapshot`, seen at `at` (wall ms). */
  observe(snapshot: SentinelSnapshot, at: number): void {
    const epoch = snapshot.epoch;
    const election = snapshot.election;
    if (election && election.epoch !== this.#electionEpoch) {
      this.#electionEpoch = election.epoch;
      this.#push(at, {
        kind: "election",
        epoch: election.epoch,
        text: `Election for epoch ${election.epoch} started`,
      });
    }
    const newMaster = snapshot.masterId !== null &&
      (snapshot.masterId !== this.#masterId || snapshot.masterEpoch !== this.#masterEpoch);
    for (const node of snapshot.nodes) {
      const seen = this.#nodes.get(node.nodeId);
      if (node.alive && (!seen || seen.runId !== node.runId || !seen.alive)) {
        this.#push(at, {
          kind: "registered",
          nodeId: node.nodeId,
          epoch,
          text: `${node.nodeId} registered as ${node.role} (run ${node.runId})`,
        });
      } else if (seen?.alive && !node.alive) {
        this.#push(at, {
          kind: "died",
          nodeId: node.nodeId,
          epoch,
          text: `${node.nodeId} (${node.role}) declared dead: ${node.deathReason ?? "gone"}`,
        });
      } else if (
        seen && node.alive && seen.role !== node.role &&
        !(newMaster && node.nodeId === snapshot.masterId)
      ) {
        this.#push(at, {
          kind: "role",
          nodeId: node.nodeId,
          epoch,
          text: `${node.nodeId}: ${seen.role} → ${node.role}`,
        });
      }
      this.#nodes.set(node.nodeId, { runId: node.runId, alive: node.alive, role: node.role });
    }
    if (newMaster) {
      this.#push(at, {
        kind: "master",
        nodeId: snapshot.masterId!,
        epoch: snapshot.masterEpoch,
        text: `${snapshot.masterId} is master at epoch ${snapshot.masterEpoch}`,
      });
    } else if (snapshot.masterId === null && this.#masterId !== null) {
      this.#push(at, {
        kind: "no_master",
        nodeId: this.#masterId,
        epoch,
        text: `No master: ${this.#masterId} is no longer master`,
      });
    }
    this.#masterId = snapshot.masterId;
    this.#masterEpoch = snapshot.masterEpoch;
  }

  /** The events after id `since` (0: all kept), oldest first. */
  since(since = 0): ClusterEvent[] {
    return this.#ring.filter((e) => e.id > since);
  }

  /** The id the next event gets. */
  get nextId(): number {
    return this.#nextId;
  }

  #push(at: number, event: Omit<ClusterEvent, "id" | "at">): void {
    this.#ring.push({ id: this.#nextId++, at, ...event });
    if (this.#ring.length > this.#capacity) this.#ring.shift();
  }
}
