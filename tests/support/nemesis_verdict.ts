/**
 * The failure tests' oracle, run after every fault: the writers pause before anything heals (so no
 * later write can cover a lost one), the faults heal, the cluster settles on one master, and every
 * writer's user is read from that master before anyone writes again. Then: no epoch in which two
 * nodes acknowledged writes, and every live node holds the same world.
 *
 * @module
 */
import { eventually } from "../_harness.ts";
import type { NemesisCluster, NodeStatus, Writers } from "./nemesis.ts";

/** One scenario's row. */
export interface ScenarioResult {
  name: string;
  ok: boolean;
  detail: string;
  /** Writes during the scenario, by outcome. */
  acknowledged: number;
  failed: number;
  unknown: number;
  /** The longest time in the fault's window without any acknowledged write, ms. */
  noWritesMs: number;
  timings: Record<string, number>;
}

/** What a scenario hands to {@linkcode Verdicts.judge}. */
export interface Fault {
  /** When the fault started and ended (performance.now()). */
  from: number;
  to: number;
  /** Undoes what the scenario did (heal links, resume, restart); runs after the writers paused. */
  heal?: () => Promise<void>;
  /** Leave dead nodes dead (default: everything is restarted before the check). */
  keepDead?: boolean;
  /** The scenario's own findings. */
  problems?: string[];
  /** The scenario's own notes for the detail column. */
  notes?: string[];
  timings?: Record<string, number>;
}

/** Judges scenarios one after another, on one cluster and one writers process. */
export class Verdicts {
  readonly results: ScenarioResult[] = [];
  readonly #cluster: NemesisCluster;
  readonly #writers: Writers;
  #counts = { acknowledged: 0, failed: 0, unknown: 0 };
  readonly #ackedBy = new Map<string, Set<string>>();

  constructor(cluster: NemesisCluster, writers: Writers) {
    this.#cluster = cluster;
    this.#writers = writers;
  }

  /** The live nodes once they agree on one master: every other node follows it at its epoch. */
  async settle(timeoutMs = 30_000): Promise<{ master: NodeStatus; live: NodeStatus[] }> {
    const cluster = this.#cluster;
    let last: NodeStatus[] = [];
    try {
      return await eventually(
        "one master that every live node follows",
        async () => {
          const running = cluster.nodes.filter((n) => cluster.running(n));
          last = await this.#writers.status(running.map((n) => cluster.endpoint(n)));
          if (last.some((s) => !s.ok)) return undefined;
          const masters = last.filter((s) => s.role === "ROLE_MASTER");
          if (masters.length !== 1) return undefined;
          const master = masters[0];
          const agree = last.every((s) =>
            s === master ||
            (s.role === "ROLE_SLAVE" && s.masterId === master.nodeId && s.epoch === master.epoch)
          );
          return agree ? { master, live: last } : undefined;
        },
        timeoutMs,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last statuses: ${JSON.stringify(last)}`);
    }
  }

  /** The current master's node id (after settling). */
  async master(): Promise<string> {
    return (await this.settle()).master.nodeId!;
  }

  /** Pauses the writers, heals, settles, checks, compares worlds, resumes; records the row. */
  async judge(name: string, fault: Fault): Promise<ScenarioResult> {
    const problems = [...(fault.problems ?? [])];
    const notes = [...(fault.notes ?? [])];
    await this.#writers.pause();
    await fault.heal?.();
    this.#cluster.resumeAll();
    if (!fault.keepDead) await this.#cluster.restartDead();
    let masterId = "?";
    try {
      const { master } = await this.settle();
      masterId = master.nodeId ?? "?";
      const check = await this.#writers.check(this.#cluster.endpoint(masterId));
      problems.push(...check.problems);
      for (const [epoch, masters] of Object.entries(check.ackedBy)) {
        const set = this.#ackedBy.get(epoch) ?? new Set();
        for (const m of masters) set.add(m);
        this.#ackedBy.set(epoch, set);
        if (set.size > 1) problems.push(`epoch ${epoch}: writes acknowledged by ${[...set]}`);
      }
      const counts = check.counts;
      const row = {
        acknowledged: counts.acknowledged - this.#counts.acknowledged,
        failed: counts.failed - this.#counts.failed,
        unknown: counts.unknown - this.#counts.unknown,
      };
      this.#counts = counts;
      await this.#writers.stopMoving();
      const differ = await this.#differentWorlds();
      if (differ) problems.push(`live nodes hold different worlds after 40 s: ${differ}`);
      notes.push(`master ${masterId} at epoch ${master.epoch}`);
      const result: ScenarioResult = {
        name,
        ok: problems.length === 0,
        detail: [...notes, ...(problems.length ? problems : ["every acknowledged write present"])]
          .join("; "),
        ...row,
        noWritesMs: longestGap(check.ackTimes, fault.from, fault.to),
        timings: fault.timings ?? {},
      };
      this.results.push(result);
      return result;
    } catch (err) {
      problems.push((err as Error).message.split("\n")[0]);
      const result: ScenarioResult = {
        name,
        ok: false,
        detail: [...notes, ...problems].join("; "),
        acknowledged: 0,
        failed: 0,
        unknown: 0,
        noWritesMs: 0,
        timings: fault.timings ?? {},
      };
      this.results.push(result);
      return result;
    } finally {
      await this.#writers.resume();
    }
  }

  /**
   * Undefined once every live node reports the same checksum; else what they reported. A replica
   * that drifted finds out through the checksum parts (all users covered every 8 checks of 50 ticks,
   * 8 s) and then needs a snapshot: 40 s leaves room for that on a loaded machine.
   */
  async #differentWorlds(): Promise<string | undefined> {
    const cluster = this.#cluster;
    const endpoints = cluster.nodes.filter((n) => cluster.running(n)).map((n) =>
      cluster.endpoint(n)
    );
    let last: NodeStatus[] = [];
    const same = await eventually(
      "identical worlds",
      async () => {
        last = await this.#writers.status(endpoints);
        return last.every((x) => x.ok && x.checksum === last[0].checksum) ? true : undefined;
      },
      40_000,
      200,
    ).catch(() => false);
    return same ? undefined : last
      .map((x) =>
        `${x.nodeId ?? x.endpoint} ${x.role ?? "?"} seq ${x.lastSeq} checksum ${x.checksum}`
      )
      .join(", ");
  }
}

/** The longest stretch of [from, to] (performance.now() ms) without an acknowledgement. */
function longestGap(ackTimes: number[], from: number, to: number): number {
  // ackTimes are epoch ms; the window is in performance.now() ms.
  const origin = performance.timeOrigin;
  let last = from;
  let gap = 0;
  for (const at of ackTimes) {
    const t = at - origin;
    if (t < from) continue;
    if (t > to) break;
    gap = Math.max(gap, t - last);
    last = t;
  }
  return Math.round(Math.max(gap, to - last));
}
