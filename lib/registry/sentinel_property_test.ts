// Sentinel tests: seeded random event sequences against a model of the nodes (SAFETY.md's rules).
import assert from "node:assert/strict";
import { Sentinel } from "./sentinel.ts";
import type { Role, SentinelAction } from "./types.ts";
import { mulberry32, type Rng } from "../random/mod.ts";
import { addr, load, ofType, type Position } from "../../tests/support/sentinel_util.ts";

const IDS = ["n1", "n2", "n3", "n4", "n5"];
const MAJORITY = 3;

function compare(a: Position, b: Position): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.seq - b.seq;
}

/** A node as SAFETY.md wants it: promises once per epoch, durably, and obeys no older epoch. */
interface ModelNode {
  id: string;
  run: number;
  up: boolean;
  /** Durable: the highest epoch promised or followed. */
  promised: number;
  /** Durable: the last replication update held. */
  pos: Position;
  /** The epoch it is master at, or null. */
  master: number | null;
  /** The epoch of the master it follows. */
  follow: number;
}

/** A message from a registry, waiting for delivery. */
interface InFlight {
  registry: number;
  action: SentinelAction;
  sentAt: number;
}

/**
 * Drives one or more sentinels with random events from five model nodes, delivers their commands
 * late, out of order or never, and checks after every step: one live master per sentinel, epochs
 * that never go down, one master per epoch across all registries (each chosen by a majority of
 * promises, with the highest position among them), and no acknowledged write missing from a new
 * master's position.
 */
class Simulation {
  readonly nodes: ModelNode[];
  readonly sentinels: Sentinel[];
  readonly #rand: Rng;
  readonly #inFlight: InFlight[] = [];
  /** Granted promises each registry received, by epoch: node id → position sent. */
  readonly #promises: Map<string, Position>[] = [];
  /** The node that became master of each epoch (through any registry). */
  readonly #masterOf = new Map<number, string>();
  /** Every write a majority held. */
  readonly #acked: Position[] = [];
  readonly #epochs: number[];
  now = 0;
  context = "";

  constructor(rand: Rng, registries: number) {
    this.#rand = rand;
    this.nodes = IDS.map((id) => ({
      id,
      run: 0,
      up: false,
      promised: 0,
      pos: { epoch: 0, seq: 0 },
      master: null,
      follow: 0,
    }));
    this.sentinels = Array.from({ length: registries }, (_, i) =>
      new Sentinel({
        recoveryGraceMs: rand() < 0.5 ? 0 : 2000,
        electionTimeoutMs: 1500,
        stallThresholdMs: rand() < 0.5 ? Infinity : 500,
        forgetAfterMs: 20_000,
        registryId: `r${i}`,
      }));
    this.#epochs = this.sentinels.map(() => 0);
    for (let i = 0; i < registries; i++) this.#promises.push(new Map());
  }

  #pick<T>(xs: T[]): T {
    return xs[Math.floor(this.#rand() * xs.length)];
  }

  /** One random event. */
  step(): void {
    this.now += Math.floor(this.#rand() * (this.#rand() < 0.05 ? 1500 : 100));
    const r = Math.floor(this.#rand() * this.sentinels.length);
    const node = this.#pick(this.nodes);
    const kind = this.#rand();
    if (kind < 0.06) {
      if (!node.up || this.#rand() < 0.3) this.#restart(node);
      this.#register(r, node);
    } else if (kind < 0.5) {
      if (node.up) this.#report(r, node);
    } else if (kind < 0.75) {
      for (let n = 1 + Math.floor(this.#rand() * 3); n > 0; n--) this.#deliver();
    } else if (kind < 0.9) {
      this.#write();
    } else if (kind < 0.91) {
      if (node.up) {
        this.#handle(r, this.sentinels[r].deregister(this.#input(node), this.now));
        node.up = false;
        node.master = null;
      }
    } else if (kind < 0.93) {
      node.up = false; // a crash, or a pause the node does not notice
    } else {
      this.#handle(r, this.sentinels[r].tick(this.now));
    }
  }

  #restart(node: ModelNode): void {
    node.run++;
    node.up = true;
    node.master = null;
  }

  #input(node: ModelNode) {
    return { nodeId: node.id, runId: `${node.id}-${node.run}` };
  }

  #register(r: number, node: ModelNode): void {
    // As the coordinator: a master keeps claiming its epoch; a fresh n1 wishes to be master.
    const role: Role = node.master !== null || (node.promised === 0 && node.id === "n1")
      ? "master"
      : "slave";
    const actions = this.sentinels[r].register({
      peer: node.id,
      address: addr(node.id, role),
      runId: this.#input(node).runId,
      role,
      load: load({ lastSeq: node.pos.seq, loadFactor: this.#rand() }),
      epoch: node.master ?? node.promised,
      members: this.#rand() < 0.5 ? IDS : [...IDS].reverse(),
    }, this.now);
    const reply = ofType(actions, "register_reply");
    assert.equal(reply.length, 1, this.context);
    if (reply[0].accepted) {
      if (reply[0].role === "master") this.#becomeMaster(node, reply[0].epoch);
      else if (reply[0].master) this.#follow(node, reply[0].epoch);
    }
    this.#handle(r, actions);
  }

  #report(r: number, node: ModelNode): void {
    const actions = this.sentinels[r].report({
      peer: node.id,
      ...this.#input(node),
      role: node.master !== null ? "master" : "slave",
      load: load({ lastSeq: node.pos.seq, loadFactor: this.#rand() }),
      epoch: node.master ?? node.follow,
    }, this.now);
    const ack = ofType(actions, "report_ack");
    assert.equal(ack.length, 1, this.context);
    this.#handle(r, actions);
    if (!ack[0].known) this.#register(r, node);
    else if (ack[0].master && ack[0].master.nodeId !== node.id) {
      if (node.master !== null || node.follow < ack[0].epoch) this.#follow(node, ack[0].epoch);
    }
  }

  /** Queues the commands in `actions`, checking every election decided in them. */
  #handle(r: number, actions: SentinelAction[]): void {
    const snap = this.sentinels[r].snapshot();
    for (const a of actions) {
      if (a.type === "convert_to_master" || a.type === "change_master") {
        assert.ok(a.epoch <= snap.epoch, this.context);
      }
      if (a.type === "convert_to_master") this.#elected(r, a.nodeId, a.epoch, actions);
      if (a.type === "prepare" || a.type === "convert_to_master" || a.type === "change_master") {
        this.#inFlight.push({ registry: r, action: a, sentAt: this.now });
      }
    }
  }

  /**
   * Checks an election: one master per epoch, chosen from a majority of granted promises (the
   * candidates its log line lists), with the highest position among them, holding every write a
   * majority acknowledged in an earlier epoch.
   */
  #elected(r: number, nodeId: string, epoch: number, actions: SentinelAction[]): void {
    const first = this.#masterOf.get(epoch);
    assert.ok(first === undefined || first === nodeId, `two masters at ${epoch}: ${this.context}`);
    const decided = ofType(actions, "log").find((l) =>
      l.message.startsWith(`${nodeId} is master at epoch ${epoch}: elected by promises`)
    );
    if (decided === undefined) {
      assert.ok(first !== undefined, `${nodeId} converted at ${epoch} unelected: ${this.context}`);
      return; // a repeated command
    }
    assert.equal(first, undefined, `${epoch} elected twice: ${this.context}`);
    this.#masterOf.set(epoch, nodeId);
    const candidates = (decided.fields?.candidates as {
      nodeId: string;
      positionEpoch: number;
      positionSeq: number;
    }[]).map((c) => ({ id: c.nodeId, pos: { epoch: c.positionEpoch, seq: c.positionSeq } }));
    assert.ok(candidates.length >= MAJORITY, `elected on ${candidates.length}: ${this.context}`);
    for (const c of candidates) {
      const sent = this.#promises[r].get(`${epoch}/${c.id}`);
      assert.deepEqual(c.pos, sent, `${c.id} did not promise ${epoch} so: ${this.context}`);
    }
    const winner = candidates.find((c) => c.id === nodeId);
    assert.ok(winner, `${nodeId} elected without promising ${epoch}: ${this.context}`);
    for (const c of candidates) {
      assert.ok(compare(winner.pos, c.pos) >= 0, `${c.id} ahead of ${nodeId}: ${this.context}`);
    }
    for (const w of this.#acked) {
      if (w.epoch < epoch) {
        const lost = `acked ${JSON.stringify(w)} not on ${nodeId}: ${this.context}`;
        assert.ok(compare(winner.pos, w) >= 0, lost);
      }
    }
  }

  /** Delivers (or drops) one message in flight, in random order; those over 1 s old are lost. */
  #deliver(): void {
    const fresh = this.#inFlight.filter((m) => this.now - m.sentAt < 1000);
    this.#inFlight.splice(0, this.#inFlight.length, ...fresh);
    if (this.#inFlight.length === 0) return;
    const i = Math.floor(this.#rand() * this.#inFlight.length);
    const { registry: r, action } = this.#inFlight.splice(i, 1)[0];
    if (
      action.type !== "prepare" && action.type !== "convert_to_master" &&
      action.type !== "change_master"
    ) return;
    const node = this.nodes.find((n) => n.id === action.nodeId)!;
    if (!node.up || this.#rand() < 0.1) return;
    if (action.type === "prepare") {
      const granted = action.epoch > node.promised;
      if (granted) {
        node.promised = action.epoch;
        if (node.master !== null && node.master < action.epoch) node.master = null;
        this.#promises[r].set(`${action.epoch}/${node.id}`, { ...node.pos });
      }
      this.#handle(
        r,
        this.sentinels[r].promise({
          peer: node.id,
          ...this.#input(node),
          granted,
          epoch: action.epoch,
          promisedEpoch: node.promised,
          position: { ...node.pos },
          load: load({ lastSeq: node.pos.seq, loadFactor: this.#rand() }),
          configuredRole: node.id === "n1" ? "master" : "slave",
        }, this.now),
      );
    } else if (action.type === "convert_to_master") {
      this.#becomeMaster(node, action.epoch);
    } else if (action.master.nodeId === node.id) {
      this.#becomeMaster(node, action.epoch);
    } else {
      this.#follow(node, action.epoch);
    }
  }

  #becomeMaster(node: ModelNode, epoch: number): void {
    if (epoch < node.promised) return;
    const first = this.#masterOf.get(epoch);
    assert.ok(first === undefined || first === node.id, `two masters at ${epoch}: ${this.context}`);
    this.#masterOf.set(epoch, node.id);
    node.promised = epoch;
    node.master = epoch;
    node.follow = epoch;
  }

  #follow(node: ModelNode, epoch: number): void {
    if (epoch < node.promised) return;
    node.promised = epoch;
    node.master = null;
    node.follow = epoch;
  }

  /** The current master (if any) appends and replicates to some followers; a majority acks. */
  #write(): void {
    const masters = this.nodes.filter((n) => n.up && n.master !== null && n.master === n.promised);
    if (masters.length === 0) return;
    const m = this.#pick(masters);
    const e = m.master!;
    m.pos = { epoch: e, seq: m.pos.seq + 1 };
    let holders = 1;
    for (const n of this.nodes) {
      if (n === m || !n.up || n.master !== null || n.follow !== e || n.promised > e) continue;
      if (this.#rand() < 0.7) {
        n.pos = { ...m.pos };
        holders++;
      }
    }
    if (holders >= MAJORITY) this.#acked.push({ ...m.pos });
  }

  /** The per-step invariants of every sentinel. */
  check(): void {
    this.sentinels.forEach((s, i) => {
      const snap = s.snapshot();
      assert.ok(snap.epoch >= this.#epochs[i], `epoch went down: ${this.context}`);
      this.#epochs[i] = snap.epoch;
      const masters = snap.nodes.filter((n) => n.alive && n.role === "master");
      assert.ok(
        masters.length <= 1,
        `live masters ${masters.map((m) => m.nodeId)}: ${this.context}`,
      );
      assert.equal(masters[0]?.nodeId ?? null, snap.masterId, this.context);
      if (snap.masterId !== null) {
        assert.equal(this.#masterOf.get(snap.masterEpoch) ?? snap.masterId, snap.masterId);
      }
    });
  }

  /** How many elections succeeded and writes were acknowledged (so a run is not vacuous). */
  get progress(): { elections: number; acked: number } {
    return { elections: this.#masterOf.size, acked: this.#acked.length };
  }
}

function simulate(registries: number, seeds: number, steps: number) {
  const total = { elections: 0, acked: 0 };
  for (let seed = 1; seed <= seeds; seed++) {
    const sim = new Simulation(mulberry32(seed), registries);
    for (let step = 0; step < steps; step++) {
      sim.context = `seed ${seed} step ${step} at ${sim.now}`;
      sim.step();
      sim.check();
    }
    total.elections += sim.progress.elections;
    total.acked += sim.progress.acked;
  }
  return total;
}

Deno.test("over random event sequences: one live master, epochs never go down, and every election keeps the acknowledged writes", () => {
  const total = simulate(1, 150, 400);
  assert.ok(total.elections > 150, `only ${total.elections} elections`);
  assert.ok(total.acked > 1000, `only ${total.acked} acknowledged writes`);
});

Deno.test("two registries over the same random events never make two masters for one epoch", () => {
  const total = simulate(2, 100, 400);
  assert.ok(total.elections > 100, `only ${total.elections} elections`);
  assert.ok(total.acked > 500, `only ${total.acked} acknowledged writes`);
});
