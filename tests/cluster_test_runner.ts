/**
 * `deno task cluster-test`: the high-availability scenarios, each checked by the oracle of
 * `support/nemesis_verdict.ts` (writers pause before healing; every acknowledged write must be on the
 * final master; no epoch with two acknowledging masters; identical worlds).
 *
 * Part one runs a registry and three nodes on loopback: kill -9 of the master, its restart, kill -9
 * of a slave, a registry outage, a paused master, and kill -9 of every process at once followed by a
 * restart of all (each node recovers its world from its data_dir). Part two (the nemesis) runs two registries, three
 * nodes and the writers each in a Linux network namespace of their own, so links can be cut one by
 * one: partitions, an isolated master, a paused master, split registries, a crash-restart with the
 * disk lost while the slaves are paused, and a seeded random minute of all of them. Without root or `ip netns` part two
 * is skipped loudly (`GAMESERVER_TEST_NETNS=required` makes that a failure).
 *
 * Prints a table, then one JSON line. Exits 1 on any failure.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { NemesisCluster, Writers } from "./support/nemesis.ts";
import { type ScenarioResult, Verdicts } from "./support/nemesis_verdict.ts";
import { NetLab } from "./support/netlab.ts";
import { mulberry32 } from "../lib/random/mod.ts";

const NODES = ["master", "slave1", "slave2"];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until a node other than `except` logs its promotion (after each one's mark). */
async function promotion(cluster: NemesisCluster, except: string, timeoutMs = 15_000) {
  const others = cluster.nodes.filter((n) => n !== except && cluster.running(n));
  const marks = others.map((n) => cluster.proc(n).mark());
  return await Promise.any(
    others.map((n, i) =>
      cluster.proc(n).waitFor(/Now MASTER at epoch/, timeoutMs, marks[i]).then(() => n)
    ),
  );
}

function report(line: string): void {
  console.error(line);
}

/** Part one: loopback. */
async function loopback(): Promise<ScenarioResult[]> {
  await using cluster = new NemesisCluster({ registries: ["registry"], nodes: NODES });
  await cluster.startRegistry("registry");
  for (const n of NODES) await cluster.startNode(n);
  await using writers = await Writers.start(cluster.discovery, 9);
  const v = new Verdicts(cluster, writers);
  const log = (r: ScenarioResult) =>
    report(`scenario ${r.name}: ${r.ok ? "PASS" : "FAIL"} ${r.detail}`);

  {
    const old = await v.master();
    const from = performance.now();
    await cluster.kill(old);
    const promoted = await promotion(cluster, old).catch(() => undefined);
    const promotedMs = Math.round(performance.now() - from);
    await sleep(1500);
    log(
      await v.judge("1 kill -9 master under write load", {
        from,
        to: performance.now(),
        keepDead: true,
        problems: promoted
          ? promotedMs > 2000 ? [`promotion took ${promotedMs} ms (> 2000)`] : []
          : ["no node was promoted"],
        notes: [`${promoted} promoted in ${promotedMs} ms`],
        timings: { promotion_ms: promotedMs },
      }),
    );
    const from2 = performance.now();
    const proc = await cluster.startNode(old);
    const snapshot = await proc.waitFor(/Snapshot applied/, 15_000).then(() => true, () => false);
    log(
      await v.judge("2 old master restarted rejoins as slave", {
        from: from2,
        to: performance.now(),
        problems: snapshot ? [] : [`${old} took no snapshot`],
        notes: [`${old} rejoined`],
      }),
    );
  }

  {
    const master = await v.master();
    const slave = NODES.find((n) => n !== master)!;
    const mark = cluster.proc(master).mark();
    const from = performance.now();
    await cluster.kill(slave);
    const logged = await cluster.proc(master)
      .waitFor(new RegExp(`Slave ${slave} removed from the cluster`), 10_000, mark)
      .then(() => true, () => false);
    await sleep(2000);
    log(
      await v.judge("3 kill -9 slave: the other two still acknowledge", {
        from,
        to: performance.now(),
        problems: logged ? [] : [`${master} did not log ${slave}'s removal`],
        notes: [`${slave} killed and restarted`],
      }),
    );
  }

  {
    const master = await v.master();
    const from = performance.now();
    await cluster.kill("registry");
    await sleep(10_000);
    const to = performance.now();
    const registry = await cluster.startRegistry("registry");
    await sleep(4000); // past the recovery grace
    const elections = registry.lines.filter((l) => /Election for epoch/.test(l)).length;
    const after = await v.master();
    const r = await v.judge("4 registry down 10 s, restarted", {
      from,
      to,
      problems: [
        ...(elections > 0 ? [`the restarted registry ran ${elections} election(s)`] : []),
        ...(after !== master ? [`master changed from ${master} to ${after}`] : []),
      ],
      notes: ["no failover"],
    });
    if (r.acknowledged === 0) {
      r.ok = false;
      r.detail += "; no write acknowledged while the registry was down";
    }
    log(r);
  }

  log(await pausedMaster(cluster, writers, v, "5 master frozen (SIGSTOP) past the timeout"));
  log(
    await wholeClusterCrash(cluster, writers, v, "6 kill -9 of every process at once, restart all"),
  );
  // One slave stops first, so it comes back holding less than the others: it must not win.
  const current = await v.master();
  const stale = NODES.find((n) => n !== current)!;
  log(
    await wholeClusterCrash(
      cluster,
      writers,
      v,
      `7 ${stale} killed 2 s before the rest, restart all: it holds less, must not win`,
      stale,
    ),
  );
  return v.results;
}

/**
 * Every process killed at once (registry included), as a power cut would, then everything started
 * again: the nodes recover their worlds from their data_dirs, the new registry rebuilds the picture
 * from their registrations and elects the member holding the most; every acknowledged write must be
 * on it, and the writers (which resume their sessions with their tokens) must write again. With
 * `killFirst`, that node dies 2 s earlier (the others go on acknowledging) and must not win.
 */
async function wholeClusterCrash(
  cluster: NemesisCluster,
  writers: Writers,
  v: Verdicts,
  name: string,
  killFirst?: string,
): Promise<ScenarioResult> {
  const from = performance.now();
  if (killFirst) {
    // The others go on acknowledging without it for a while.
    await cluster.kill(killFirst);
    await sleep(2000);
  }
  await Promise.all(
    [...cluster.registries, ...cluster.nodes].filter((n) => cluster.running(n))
      .map((n) => cluster.kill(n)),
  );
  await sleep(1000);
  const restartedAt = performance.now();
  await cluster.restartDead();
  const problems: string[] = [];
  const recovered = cluster.nodes.map((n) =>
    cluster.proc(n).lines.find((l) => /Recovered \d+ users/.test(l))?.replace(/^.*Recovered/, "")
  );
  for (const [i, line] of recovered.entries()) {
    if (!line) problems.push(`${cluster.nodes[i]} logged no recovery`);
  }
  const settled = await v.settle().catch(() => undefined);
  const master = settled?.master.nodeId;
  const electedMs = Math.round(performance.now() - restartedAt);
  if (!master) problems.push("no master after the restart");
  // What each node held when it promised the winning epoch.
  const held = new Map<string, [number, number]>();
  for (const n of cluster.nodes) {
    const line = cluster.proc(n).lines.find((l) =>
      new RegExp(`Promised epoch ${settled?.master.epoch} to`).test(l)
    );
    const m = line?.match(/holding epoch (\d+) seq (\d+)/);
    if (m) held.set(n, [Number(m[1]), Number(m[2])]);
  }
  const mine = master ? held.get(master) : undefined;
  if (killFirst && master === killFirst) problems.push(`${killFirst}, which holds less, won`);
  // A round decides on the first majority of promises, so a promise that came after the decision
  // may hold an unacknowledged update more than the winner; but the winner must hold at least the
  // most that any majority of the promisers holds at its least.
  const ranked = [...held.values()].sort((a, b) => b[0] - a[0] || b[1] - a[1]);
  // The winning round counted some majority of the promisers; at worst the ones holding least.
  const majority = Math.floor(cluster.nodes.length / 2) + 1;
  const floor = ranked[Math.max(0, ranked.length - majority)];
  if (mine && floor && (floor[0] > mine[0] || (floor[0] === mine[0] && floor[1] > mine[1]))) {
    problems.push(
      `${master} won holding ${mine}, less than a majority of promisers hold (${floor})`,
    );
  }
  // The writers reconnect, resume their users and write again before the check.
  await sleep(3000);
  const stats = await writers.pause();
  await writers.resume();
  const origin = performance.timeOrigin;
  const after = stats.ackTimes.filter((t) => t - origin > restartedAt).length;
  if (after === 0) problems.push("no write acknowledged after the restart");
  const users = recovered.map((l) => l?.match(/^ (\d+) users/)?.[1] ?? "?").join("/");
  return await v.judge(name, {
    from,
    to: performance.now(),
    problems,
    notes: [
      `${users} users recovered`,
      `master ${master} ${electedMs} ms after the restart began (promised holding ${
        [...held].map(([n, p]) => `${n} ${p.join("/")}`).join(", ")
      })`,
      `${after} writes acknowledged after it`,
    ],
    timings: { master_after_restart_ms: electedMs },
  });
}

/** A master paused with a write queued to it, resumed after a new master was elected. */
async function pausedMaster(
  cluster: NemesisCluster,
  writers: Writers,
  v: Verdicts,
  name: string,
): Promise<ScenarioResult> {
  const old = await v.master();
  await writers.patient(cluster.endpoint(old));
  const from = performance.now();
  cluster.signal(old, "SIGSTOP");
  await writers.patientSend();
  const promoted = await promotion(cluster, old).catch(() => undefined);
  const promotedMs = Math.round(performance.now() - from);
  await writers.pause();
  const mark = cluster.proc(old).mark();
  cluster.signal(old, "SIGCONT");
  const patient = await writers.patientWait();
  const stepped = await cluster.proc(old).waitFor(/Stepping down|Following master/, 10_000, mark)
    .then(() => true, () => false);
  const problems = [
    ...(promoted ? [] : ["no node was promoted"]),
    ...(stepped ? [] : [`${old} did not step down`]),
  ];
  if (patient.ok && patient.masterId === old) {
    // Acknowledged by the old master: the check below shows whether the new master has it.
    problems.push(`the resumed ${old} acknowledged a queued write at epoch ${patient.epoch}`);
  }
  return await v.judge(name, {
    from,
    to: performance.now(),
    problems,
    notes: [
      `${promoted} promoted in ${promotedMs} ms`,
      `queued write: ${patient.ok ? "acknowledged" : patient.code}`,
    ],
    timings: { promotion_ms: promotedMs },
  });
}

/** Part two: the nemesis in network namespaces. */
async function nemesis(seed: number, randomMs: number): Promise<ScenarioResult[]> {
  await using lab = await NetLab.create(["r1", "r2", ...NODES, "clients"]);
  await using cluster = new NemesisCluster({ registries: ["r1", "r2"], nodes: NODES, lab });
  await cluster.startRegistry("r1");
  await cluster.startRegistry("r2");
  for (const n of NODES) await cluster.startNode(n);
  await using writers = await Writers.start(cluster.discovery, 9, lab.netns("clients"));
  const v = new Verdicts(cluster, writers);
  const log = (r: ScenarioResult) =>
    report(`scenario ${r.name}: ${r.ok ? "PASS" : "FAIL"} ${r.detail}`);
  const heal = () => lab.healAll();

  {
    const m = await v.master();
    const [a, b] = NODES.filter((n) => n !== m);
    const from = performance.now();
    await lab.partition([m, a], ["r1", "r2", b]);
    await sleep(10_000);
    log(
      await v.judge(`N1 partition {${m}, ${a}} vs {r1, r2, ${b}} for 10 s`, {
        from,
        to: performance.now(),
        heal,
      }),
    );
  }

  {
    const m = await v.master();
    const others = ["r1", "r2", ...NODES.filter((n) => n !== m)];
    const from = performance.now();
    await lab.partition([m], others);
    const promoted = await promotion(cluster, m).catch(() => undefined);
    await sleep(4000);
    log(
      await v.judge(`N2 ${m} cut off from registries and slaves (clients still reach it)`, {
        from,
        to: performance.now(),
        heal,
        problems: promoted ? [] : ["no node was promoted"],
        notes: [`${promoted} promoted`],
      }),
    );
  }

  log(await pausedMaster(cluster, writers, v, "N3 master paused past the timeout, then resumed"));

  {
    const m = await v.master();
    const [a, b] = NODES.filter((n) => n !== m);
    const from = performance.now();
    // r1 hears only the master, r2 only the slaves: each registry sees a different half.
    await lab.cut("r1", a);
    await lab.cut("r1", b);
    await lab.cut("r2", m);
    await sleep(8000);
    log(
      await v.judge(`N4 r1 reaches only ${m}, r2 only ${a} and ${b}`, {
        from,
        to: performance.now(),
        heal,
      }),
    );
  }

  {
    const m = await v.master();
    const slaves = NODES.filter((n) => n !== m);
    const from = performance.now();
    for (const s of slaves) cluster.signal(s, "SIGSTOP");
    await cluster.kill(m);
    // Its disk is lost (the promise in its state_file is kept): it comes back holding nothing.
    cluster.wipeData(m);
    await cluster.startNode(m);
    await sleep(3000);
    log(
      await v.judge(`N5 ${m} kill -9 and restart (data lost) while the slaves are paused`, {
        from,
        to: performance.now(),
      }),
    );
  }

  log(await randomFaults(lab, cluster, v, seed, randomMs));
  return v.results;
}

/** A seeded random mix of kills, pauses, partitions and heals, then everything healed. */
async function randomFaults(
  lab: NetLab,
  cluster: NemesisCluster,
  v: Verdicts,
  seed: number,
  durationMs: number,
): Promise<ScenarioResult> {
  const rng = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rng() * xs.length)];
  const hosts = ["r1", "r2", ...NODES];
  const actions: string[] = [];
  const from = performance.now();
  while (performance.now() - from < durationMs) {
    const r = rng();
    const node = pick(NODES);
    if (r < 0.2) {
      if (cluster.running(node)) {
        await cluster.kill(node);
        actions.push(`kill ${node}`);
      } else {
        await cluster.startNode(node).catch(() => {});
        actions.push(`start ${node}`);
      }
    } else if (r < 0.4) {
      if (!cluster.running(node)) continue;
      const paused = cluster.paused.includes(node);
      cluster.signal(node, paused ? "SIGCONT" : "SIGSTOP");
      actions.push(`${paused ? "resume" : "pause"} ${node}`);
    } else if (r < 0.7) {
      const a = pick(hosts);
      const b = pick(hosts.filter((h) => h !== a));
      await lab.cut(a, b);
      actions.push(`cut ${a}-${b}`);
    } else if (r < 0.85) {
      const shuffled = [...hosts].sort(() => rng() - 0.5);
      const k = 1 + Math.floor(rng() * 2);
      await lab.partition(shuffled.slice(0, k), shuffled.slice(k));
      actions.push(`partition {${shuffled.slice(0, k)}}`);
    } else {
      await lab.healAll();
      cluster.resumeAll();
      actions.push("heal");
    }
    await sleep(1000 + rng() * 3000);
  }
  report(`random faults (seed ${seed}): ${actions.join(", ")}`);
  return await v.judge(`N6 ${Math.round(durationMs / 1000)} s of random faults (seed ${seed})`, {
    from,
    to: performance.now(),
    heal: () => lab.healAll(),
    notes: [`${actions.length} actions`],
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seed: { type: "string" },
      "random-seconds": { type: "string", default: "60" },
      only: { type: "string" },
    },
  });
  const seed = Number(values.seed ?? Math.floor(Math.random() * 1e9));
  const randomMs = Number(values["random-seconds"]) * 1000;
  const results: ScenarioResult[] = [];
  if (values.only !== "nemesis") results.push(...await loopback());
  if (values.only !== "loopback") {
    const why = await NetLab.unavailable();
    if (why === undefined) results.push(...await nemesis(seed, randomMs));
    else if (Deno.env.get("GAMESERVER_TEST_NETNS") === "required") {
      results.push({
        name: "nemesis",
        ok: false,
        detail: `GAMESERVER_TEST_NETNS=required but ${why}`,
        acknowledged: 0,
        failed: 0,
        unknown: 0,
        noWritesMs: 0,
        timings: {},
      });
    } else report(`\n*** NEMESIS SKIPPED: ${why} (run as root on Linux for partitions) ***\n`);
  }
  console.log("");
  console.log("| scenario | result | acked / failed / unknown | longest without acks | detail |");
  console.log("|---|---|---|---|---|");
  for (const r of results) {
    console.log(
      `| ${r.name} | ${
        r.ok ? "PASS" : "FAIL"
      } | ${r.acknowledged} / ${r.failed} / ${r.unknown} | ${r.noWritesMs} ms | ${r.detail} |`,
    );
  }
  const passed = results.filter((r) => r.ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  console.log(JSON.stringify({ cluster_test: results, seed }));
  return passed === results.length ? 0 : 1;
}

if (import.meta.main) {
  const watchdog = setTimeout(() => {
    console.error("cluster-test: overall time limit (12 min) reached");
    Deno.exit(1);
  }, 720_000);
  const code = await main();
  clearTimeout(watchdog);
  Deno.exit(code);
}
