/**
 * `deno task cluster-test`: the high-availability scenarios of a local cluster (registry, master, two
 * slaves, clients writing and reading all the time), one after another, each with pass/fail and
 * timings; a table, then one JSON line. Exits 1 on any failure.
 *
 * @module
 */
import { Pump } from "../lib/transport/mod.ts";
import type { ClientSession } from "../lib/client/mod.ts";
import { TestCluster } from "./_cluster.ts";
import { openTestClient, type TestClient, testClientConfig } from "./_clients.ts";
import { eventually, type Proc } from "./_harness.ts";

interface ScenarioResult {
  name: string;
  ok: boolean;
  detail: string;
  timings: Record<string, number>;
}

/** A client that writes all the time and remembers what the cluster acknowledged. */
class Writer {
  readonly client: TestClient;
  /** Highest velocity counter acknowledged (vx = counter / 1000). */
  acked = 0;
  attempted = 0;
  errors = 0;
  lastOkAt = 0;
  running = true;
  readonly done: Promise<void>;

  constructor(client: TestClient) {
    this.client = client;
    this.done = this.#loop();
  }

  get session(): ClientSession {
    return this.client.session;
  }

  async #loop(): Promise<void> {
    while (this.running) {
      const k = ++this.attempted;
      const out = await this.session.setVelocity(k / 1000, 0);
      if (out.ok) {
        this.acked = Math.max(this.acked, k);
        this.lastOkAt = performance.now();
      } else this.errors++;
      // Reads go on too (they never need the master).
      await this.session.queryCircle(500, 500, 50);
      await new Promise((r) => setTimeout(r, out.ok ? 20 : 50));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

async function status(pump: Pump, endpoint: string) {
  const c = await openTestClient(pump, testClientConfig({ node: endpoint }));
  try {
    const out = await c.session.status(true);
    if (!out.ok) throw new Error(out.error.message);
    return out.value;
  } finally {
    c.connection.close();
  }
}

/** Every acknowledged write is on `endpoint`: each writer's user exists with vx >= its last ack. */
async function checkAcknowledged(
  pump: Pump,
  endpoint: string,
  writers: Writer[],
): Promise<string[]> {
  const c = await openTestClient(pump, testClientConfig({ node: endpoint }));
  try {
    const out = await c.session.queryRect(-1, -1, 1e6, 1e6);
    if (!out.ok) return [`query failed: ${out.error.message}`];
    const users = new Map(out.value.users!.map((u) => [u.id, u]));
    const problems: string[] = [];
    for (const w of writers) {
      const u = users.get(w.session.userId);
      if (!u) problems.push(`user ${w.session.userId} missing`);
      else if (Math.round((u.vx ?? 0) * 1000) < w.acked) {
        problems.push(`user ${u.id}: vx ${u.vx} < acknowledged ${w.acked / 1000}`);
      }
    }
    return problems;
  } finally {
    c.connection.close();
  }
}

async function waitPromotion(candidates: Proc[], from: number[], timeoutMs: number) {
  return await Promise.any(
    candidates.map((p, i) => p.waitFor(/Now MASTER at epoch/, timeoutMs, from[i]).then(() => p)),
  );
}

async function main(): Promise<number> {
  const results: ScenarioResult[] = [];
  await using cluster = new TestCluster({ world: { width: 1000, height: 1000 } });
  await using pump = new Pump();
  let registry = await cluster.startRegistry();
  await cluster.startNode("master", "master");
  await cluster.startNode("slave1", "slave");
  await cluster.startNode("slave2", "slave");
  const writers: Writer[] = [];
  for (let i = 0; i < 9; i++) {
    // A third of the clients ask for the master, the rest for the least-loaded node: every node
    // has clients when something fails.
    const config = {
      ...testClientConfig({ registry: [cluster.discovery] }),
      want_master: i % 3 === 0,
    };
    const client = await openTestClient(pump, config);
    const login = await client.session.login();
    if (!login.ok) throw new Error(`login failed: ${login.error.message}`);
    writers.push(new Writer(client));
  }
  const nodeOf = (w: Writer) => w.client.connection.nodeId;
  let master = "master";
  const live = new Set(["master", "slave1", "slave2"]);
  const run = async (name: string, body: () => Promise<Omit<ScenarioResult, "name">>) => {
    const started = performance.now();
    try {
      const r = await body();
      results.push({
        name,
        ...r,
        timings: { ...r.timings, total_ms: Math.round(performance.now() - started) },
      });
    } catch (err) {
      results.push({
        name,
        ok: false,
        detail: String((err as Error).message ?? err).split("\n")[0],
        timings: {},
      });
    }
    console.error(
      `scenario ${name}: ${results.at(-1)!.ok ? "PASS" : "FAIL"} ${results.at(-1)!.detail}`,
    );
  };
  await new Promise((r) => setTimeout(r, 1000));

  await run("1 kill -9 master under write load", async () => {
    const others = [...live].filter((n) => n !== master).map((n) => cluster.proc(n));
    const marks = others.map((p) => p.mark());
    const onMaster = writers.filter((w) => nodeOf(w) === master);
    const killedAt = performance.now();
    cluster.proc(master).kill("SIGKILL");
    live.delete(master);
    const promoted = await waitPromotion(others, marks, 10_000);
    const promotedMs = performance.now() - killedAt;
    const newMaster = promoted.name;
    const regLine = registry.lines.findLast((l) => l.includes(`${newMaster} is master at epoch`)) ??
      "";
    const candidates = /"candidates":(\[.*?\])/.exec(regLine)?.[1];
    let mostUpToDate = true;
    if (candidates) {
      const list = JSON.parse(candidates) as { nodeId: string; lastSeq: number }[];
      const best = Math.max(...list.map((c) => c.lastSeq));
      mostUpToDate = list.find((c) => c.nodeId === newMaster)?.lastSeq === best;
    }
    master = newMaster;
    // Clients of the dead master reconnect and write again.
    await eventually(
      "clients of the dead master writing again",
      () => onMaster.every((w) => w.lastOkAt > killedAt) ? true : undefined,
      15_000,
    );
    const reconnectMs = Math.max(0, ...onMaster.map((w) => w.lastOkAt - killedAt));
    const problems = await checkAcknowledged(pump, cluster.clientEndpoint(master), writers);
    const ok = promotedMs <= 2000 && reconnectMs <= 3000 && mostUpToDate && problems.length === 0 &&
      onMaster.length > 0;
    return {
      ok,
      detail:
        `new master ${newMaster} (most up to date: ${mostUpToDate}); ${onMaster.length} clients moved; ${
          problems.length ? problems.join("; ") : "every acknowledged write present"
        }`,
      timings: {
        promotion_ms: Math.round(promotedMs),
        clients_reconnected_ms: Math.round(reconnectMs),
      },
    };
  });

  await run("2 kill -9 slave", async () => {
    const slave = [...live].find((n) => n !== master)!;
    const onSlave = writers.filter((w) => nodeOf(w) === slave);
    const masterProc = cluster.proc(master);
    const mark = masterProc.mark();
    const killedAt = performance.now();
    cluster.proc(slave).kill("SIGKILL");
    live.delete(slave);
    await masterProc.waitFor(new RegExp(`Slave ${slave} removed from the cluster`), 10_000, mark);
    const removedMs = performance.now() - killedAt;
    await eventually(
      "clients of the dead slave writing again",
      () => onSlave.every((w) => w.lastOkAt > killedAt) ? true : undefined,
      15_000,
    );
    const movedMs = Math.max(0, ...onSlave.map((w) => w.lastOkAt - killedAt));
    return {
      ok: true,
      detail: `${slave} removed, master logged it, ${onSlave.length} clients moved`,
      timings: { removed_ms: Math.round(removedMs), clients_moved_ms: Math.round(movedMs) },
    };
  });

  await run("3 registry down 10 s, restarted", async () => {
    const epochBefore = (await status(pump, cluster.clientEndpoint(master))).epoch ?? 0;
    registry.kill("SIGKILL");
    await registry.status;
    const okBefore = writers.reduce((n, w) => n + w.acked, 0);
    await new Promise((r) => setTimeout(r, 10_000));
    const okDuring = writers.reduce((n, w) => n + w.acked, 0) - okBefore;
    const marks = [...live].map((n) => cluster.proc(n).mark());
    const restartedAt = performance.now();
    registry = await cluster.startRegistry("registry-restarted");
    await Promise.all(
      [...live].map((n, i) =>
        cluster.proc(n).waitFor(/Re-registered with registry/, 10_000, marks[i])
      ),
    );
    const reregisteredMs = performance.now() - restartedAt;
    await new Promise((r) => setTimeout(r, 4000)); // past the recovery grace
    const exited = [...live].filter((n) => cluster.proc(n).exited);
    const promoted = registry.lines.some((l) => /Promoting/.test(l));
    const after = await status(pump, cluster.clientEndpoint(master));
    const ok = exited.length === 0 && !promoted && after.role === "ROLE_MASTER" &&
      (after.epoch ?? 0) === epochBefore && okDuring > 0;
    return {
      ok,
      detail:
        `${okDuring} writes acknowledged while the registry was down; exited: [${exited}]; failover: ${promoted}; ${master} still master at epoch ${after.epoch}`,
      timings: { reregistered_ms: Math.round(reregisteredMs) },
    };
  });

  await run("4 old master restarted rejoins as slave", async () => {
    const old = "master";
    const proc = cluster.spawnNode(old, "master");
    await proc.waitFor(/Registered with registry .* as slave/, 15_000);
    await proc.waitFor(/Snapshot applied/, 15_000);
    live.add(old);
    return {
      ok: true,
      detail: `${old} came back as a slave of ${master} and took a snapshot`,
      timings: {},
    };
  });

  await run("5 master frozen (SIGSTOP) past the timeout, then resumed", async () => {
    const frozen = master;
    const frozenProc = cluster.proc(frozen);
    const others = [...live].filter((n) => n !== frozen).map((n) => cluster.proc(n));
    const marks = others.map((p) => p.mark());
    const frozenMark = frozenProc.mark();
    const stoppedAt = performance.now();
    frozenProc.kill("SIGSTOP");
    const promoted = await waitPromotion(others, marks, 10_000);
    const promotedMs = performance.now() - stoppedAt;
    master = promoted.name;
    frozenProc.kill("SIGCONT");
    await frozenProc.waitFor(/Stepping down|Fenced/, 10_000, frozenMark);
    await frozenProc.waitFor(/Snapshot applied/, 15_000, frozenMark);
    await eventually(
      "every client writing again",
      () => writers.every((w) => w.lastOkAt > stoppedAt + promotedMs) ? true : undefined,
      15_000,
    );
    const problems = await checkAcknowledged(pump, cluster.clientEndpoint(master), writers);
    return {
      ok: problems.length === 0,
      detail: `${promoted.name} promoted; ${frozen} resumed, stepped down and resynced; ${
        problems.length ? problems.join("; ") : "every acknowledged write present"
      }`,
      timings: { promotion_ms: Math.round(promotedMs) },
    };
  });

  await run("6 all live nodes hold identical worlds", async () => {
    await Promise.all(writers.map((w) => w.stop()));
    const problems = await checkAcknowledged(pump, cluster.clientEndpoint(master), writers);
    // Stop every user so the worlds stand still and can be compared.
    for (const w of writers) await w.session.setVelocity(0, 0);
    const endpoints = [...live].map((n) => cluster.clientEndpoint(n));
    const sums = await eventually(
      "identical checksums",
      async () => {
        const s = await Promise.all(endpoints.map(async (e) => (await status(pump, e)).checksum));
        return s.every((x) => x === s[0]) ? s : undefined;
      },
      20_000,
      200,
    ).catch(() => undefined);
    // The replicas' own drift checks (a part of the users per checksum) never fired in the run.
    const drifts = [...live].flatMap((n) =>
      cluster.proc(n).lines.filter((l) => l.includes("Replica drifted")).map(() => n)
    );
    if (drifts.length > 0) problems.push(`drift detected on ${[...new Set(drifts)].join(", ")}`);
    return {
      ok: sums !== undefined && problems.length === 0,
      detail: (sums ? `checksum ${sums[0]} on ${[...live].join(", ")}` : "worlds differ") +
        (problems.length
          ? `; ${problems.join("; ")}`
          : "; every acknowledged write present; no drift logged"),
      timings: {},
    };
  });

  for (const w of writers) w.client.connection.close();
  console.log("");
  console.log("| scenario | result | timings | detail |");
  console.log("|---|---|---|---|");
  for (const r of results) {
    const t = Object.entries(r.timings).map(([k, v]) => `${k}=${v}`).join(" ");
    console.log(`| ${r.name} | ${r.ok ? "PASS" : "FAIL"} | ${t} | ${r.detail} |`);
  }
  const passed = results.filter((r) => r.ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  console.log(JSON.stringify({ cluster_test: results }));
  return passed === results.length ? 0 : 1;
}

if (import.meta.main) {
  const watchdog = setTimeout(() => {
    console.error("cluster-test: overall time limit (5 min) reached");
    Deno.exit(1);
  }, 300_000);
  const code = await main();
  clearTimeout(watchdog);
  Deno.exit(code);
}
