import assert from "node:assert/strict";
import { combineNodeFigures, LoadNodes } from "./load_nodes.ts";
import { DELAY_EDGES_MS, DelayHistogram } from "../metrics/mod.ts";

/** A node's status reply at `tick` ticks after `uptimeS` seconds. */
function status(
  nodeId: string,
  tick: number,
  uptimeS: number,
  tickP99Ms: number,
  late = new DelayHistogram(),
) {
  return {
    nodeId,
    role: "ROLE_MASTER" as const,
    tick,
    uptimeS,
    load: {
      connections: 3,
      sessions: 10,
      users: 12,
      tickP99Ms,
      tickAvgMs: 0.2,
      tickLateCounts: late.counts(),
      loopLagCounts: late.counts(),
    },
  };
}

Deno.test("LoadNodes figures cover the measured time of each node", () => {
  const nodes = new LoadNodes();
  nodes.record(status("a", 0, 10, 9), 0, "x"); // before measuring: not in the tick window
  nodes.record(status("a", 50, 11, 1), 1000, "x"); // measuring starts
  nodes.record(status("a", 100, 12, 2), 2000, "x");
  nodes.record(status("a", 150, 13, 4), 3000, "x"); // the end
  nodes.record({ load: { sessions: 5 } }, 1500, "b"); // no node id in the reply: the fallback
  assert.deepEqual(nodes.latest().map((s) => s.sessions), [10, 5]);
  const [a, b] = nodes.figures({ measuring: true, measureAt: 1000, endedAt: 3000 });
  assert.equal(a.node_id, "a");
  assert.equal(a.role, "master");
  assert.equal(a.tick_rate_hz, 50);
  assert.equal(a.tick_rate_s, 2);
  // Tick times: the samples from 1 s into the measured time on (2 and 4 ms), not the 9 before it.
  assert.equal(a.tick_p99_ms_max, 4);
  assert.equal(a.tick_p99_ms_median, 2);
  assert.equal(b.node_id, "b");
  assert.equal(b.tick_rate_hz, 0);
});

Deno.test("LoadNodes counts every tick's start lateness between the measured time's two ends", () => {
  const late = new DelayHistogram();
  const nodes = new LoadNodes();
  for (let i = 0; i < 50; i++) late.record(300); // a stall before measuring: not counted
  nodes.record(status("a", 50, 11, 1, late), 1000, "x"); // measuring starts
  for (let i = 0; i < 97; i++) late.record(0.3);
  nodes.record(status("a", 100, 12, 1, late), 2000, "x"); // a routine poll in between
  for (let i = 0; i < 3; i++) late.record(45); // one 60 ms stall: three ticks start late
  nodes.record(status("a", 150, 13, 1, late), 3000, "x"); // the end
  const [a] = nodes.figures({ measuring: true, measureAt: 1000, endedAt: 3000 });
  assert.equal(a.ticks_counted, 100);
  assert.equal(a.ticks_late_over_20ms, 3);
  assert.equal(a.tick_late_p99_ms, 50, "3 of 100 late: p99 is in the bucket (40, 50]");
  assert.equal(a.tick_late_max_ms, 50);
  assert.equal(a.loop_lag_p99_ms, 50);
  assert.ok(DELAY_EDGES_MS.includes(a.tick_late_p99_ms));
  // Without two status replies in the measured time, there is nothing to count.
  const [none] = nodes.figures({ measuring: true, measureAt: 5000, endedAt: 6000 });
  assert.equal(none.ticks_counted, 0);
});

Deno.test("LoadNodes counts a slave's ticks by the updates it applied", () => {
  const nodes = new LoadNodes();
  const slave = (lastSeq: number, uptimeS: number) => ({
    nodeId: "s",
    role: "ROLE_SLAVE" as const,
    tick: 0, // a slave does not tick on its own
    uptimeS,
    load: { lastSeq },
  });
  nodes.record(slave(100, 10), 1000, "s");
  nodes.record(slave(200, 12), 3000, "s");
  const [s] = nodes.figures({ measuring: true, measureAt: 1000, endedAt: 3000 });
  assert.equal(s.tick_rate_hz, 50);
});

Deno.test("combineNodeFigures() sums counts and takes the worst tick figures", () => {
  const nodes = new LoadNodes();
  nodes.record(status("a", 0, 0, 1), 0, "");
  nodes.record(status("b", 0, 0, 3), 0, "");
  const figures = nodes.figures({ measuring: false, measureAt: Infinity, endedAt: 0 });
  assert.equal(combineNodeFigures([]), null);
  assert.equal(combineNodeFigures(figures.slice(0, 1)), figures[0]);
  const both = combineNodeFigures(figures);
  assert.equal(both?.node_id, "a,b");
  assert.equal(both?.role, "cluster");
  assert.equal(both?.sessions, 20);
  assert.equal(both?.users, 12);
  assert.equal(both?.tick_p99_ms, 3);
});
