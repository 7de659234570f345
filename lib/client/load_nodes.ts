/**
 * The nodes a load runs against, as their status replies show them: samples per node, and the
 * figures of the report (tick times over the measured window, tick rate, sessions). Pure: the
 * driver polls the nodes and passes each reply and its arrival time.
 *
 * @module
 */
import type { Envelope } from "../protocol/mod.ts";
import { delayCountsBetween, delayPercentile, delaysOver } from "../metrics/mod.ts";
import {
  measuredSpan,
  median,
  type NodeFigures,
  round,
  tickRate,
  type TickSample,
} from "./load_stats.ts";

/** The status reply asked for as measuring ends counts if it arrives this soon after the end. */
const TICK_RATE_SLACK_MS = 250;

/** One status reply of a node as sampled: arrival time (generator ms) and the figures kept. */
export interface StatusSample extends TickSample {
  /** The node's p99 tick duration over its last 1-s window, ms. */
  tickP99: number;
  /** Sessions on the node. */
  sessions: number;
  /** The node's cumulative counts of tick start lateness and of loop lag (see lib/metrics). */
  lateCounts: number[];
  lagCounts: number[];
}

/** The measured time of a run (generator ms), for {@linkcode LoadNodes.figures}. */
export interface MeasuredTime {
  /** False when the run ended before measuring began. */
  measuring: boolean;
  /** When measuring began. */
  measureAt: number;
  /** When the run ended. */
  endedAt: number;
}

type StatusReply = NonNullable<Envelope["statusReply"]>;

interface NodeTrack {
  samples: StatusSample[];
  last?: StatusReply;
}

/** Status samples of every node a load reached, keyed by node id, and their report figures. */
export class LoadNodes {
  readonly #tracks = new Map<string, NodeTrack>();

  /** Records a status reply that arrived at `at`; `fallbackId` names the node if the reply does not. */
  record(status: StatusReply, at: number, fallbackId: string): void {
    const id = status.nodeId || fallbackId;
    let track = this.#tracks.get(id);
    if (!track) this.#tracks.set(id, track = { samples: [] });
    track.last = status;
    track.samples.push({
      at,
      tickP99: status.load?.tickP99Ms ?? 0,
      // A slave does not tick on its own: its world advances one tick per update it applies.
      tick: status.role === "ROLE_SLAVE" ? status.load?.lastSeq ?? 0 : status.tick ?? 0,
      uptimeS: status.uptimeS ?? 0,
      sessions: status.load?.sessions ?? 0,
      lateCounts: status.load?.tickLateCounts ?? [],
      lagCounts: status.load?.loopLagCounts ?? [],
    });
  }

  /** The latest sample of each node (for the progress line). */
  latest(): StatusSample[] {
    return [...this.#tracks.values()].map((t) => t.samples.at(-1)).filter((s) => s !== undefined);
  }

  /** Each node's figures over the measured time. */
  figures(time: MeasuredTime): NodeFigures[] {
    return [...this.#tracks.entries()].map(([id, track]) => nodeFigures(id, track, time));
  }
}

/**
 * Several nodes' figures as one line of the report: sums of connections and sessions, the most
 * loaded node's tick times and the slowest tick rate; `null` without nodes.
 */
export function combineNodeFigures(nodes: NodeFigures[]): NodeFigures | null {
  if (nodes.length === 0) return null;
  if (nodes.length === 1) return nodes[0];
  return {
    node_id: nodes.map((n) => n.node_id).join(","),
    role: "cluster",
    connections: sum(nodes.map((n) => n.connections)),
    sessions: sum(nodes.map((n) => n.sessions)),
    users: Math.max(...nodes.map((n) => n.users)),
    tick_p99_ms: Math.max(...nodes.map((n) => n.tick_p99_ms)),
    tick_avg_ms: Math.max(...nodes.map((n) => n.tick_avg_ms)),
    tick_p99_ms_median: Math.max(...nodes.map((n) => n.tick_p99_ms_median)),
    tick_p99_ms_max: Math.max(...nodes.map((n) => n.tick_p99_ms_max)),
    tick_rate_hz: Math.min(...nodes.map((n) => n.tick_rate_hz)),
    tick_rate_s: Math.min(...nodes.map((n) => n.tick_rate_s)),
    sessions_max: sum(nodes.map((n) => n.sessions_max)),
    ticks_counted: Math.min(...nodes.map((n) => n.ticks_counted)),
    tick_late_p99_ms: Math.max(...nodes.map((n) => n.tick_late_p99_ms)),
    tick_late_max_ms: Math.max(...nodes.map((n) => n.tick_late_max_ms)),
    ticks_late_over_20ms: Math.max(...nodes.map((n) => n.ticks_late_over_20ms)),
    loop_lag_p99_ms: Math.max(...nodes.map((n) => n.loop_lag_p99_ms)),
    loop_lag_max_ms: Math.max(...nodes.map((n) => n.loop_lag_max_ms)),
  };
}

function nodeFigures(id: string, track: NodeTrack, time: MeasuredTime): NodeFigures {
  const { measuring, measureAt, endedAt } = time;
  // Tick durations: the node reports its last full 1-s window, so samples from 1 s into the
  // measured time on.
  const inWindow = track.samples.filter((s) =>
    measuring && s.at >= measureAt + 1000 && s.at <= endedAt + 1000
  );
  const window = inWindow.length ? inWindow : track.samples.slice(-1);
  // Tick rate: a count, so over the whole measured time (the poll at its start to the final one).
  const rate = measuring
    ? tickRate(track.samples, measureAt, endedAt + TICK_RATE_SLACK_MS)
    : { hz: 0, seconds: 0 };
  // Tick delays: the node's cumulative counts at the two ends of the same span, subtracted — every
  // tick in between, none missed between polls and none counted twice.
  const span = measuring
    ? measuredSpan(track.samples, measureAt, endedAt + TICK_RATE_SLACK_MS)
    : undefined;
  const between = (pick: (s: StatusSample) => number[]) =>
    span ? delayCountsBetween(pick(track.samples[span[0]]), pick(track.samples[span[1]])) : [];
  const late = between((s) => s.lateCounts);
  const lag = between((s) => s.lagCounts);
  const load = track.last?.load ?? {};
  return {
    node_id: id,
    role: String(track.last?.role ?? "").replace("ROLE_", "").toLowerCase(),
    connections: load.connections ?? 0,
    sessions: load.sessions ?? 0,
    users: load.users ?? 0,
    tick_p99_ms: round(load.tickP99Ms ?? 0),
    tick_avg_ms: round(load.tickAvgMs ?? 0),
    tick_p99_ms_median: round(median(window.map((s) => s.tickP99))),
    tick_p99_ms_max: round(Math.max(0, ...window.map((s) => s.tickP99))),
    tick_rate_hz: round(rate.hz, 1),
    tick_rate_s: round(rate.seconds, 2),
    sessions_max: Math.max(0, ...track.samples.map((s) => s.sessions)),
    ticks_counted: sum(late),
    tick_late_p99_ms: delayPercentile(late, 99),
    tick_late_max_ms: delayPercentile(late, 100),
    ticks_late_over_20ms: delaysOver(late, 20),
    loop_lag_p99_ms: delayPercentile(lag, 99),
    loop_lag_max_ms: delayPercentile(lag, 100),
  };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
