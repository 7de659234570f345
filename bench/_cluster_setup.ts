/**
 * A three-node cluster for the cluster benchmark: a registry and three game nodes as real processes
 * on free loopback ports (through `tests/_cluster.ts`), started together, then watched through the
 * nodes' own status until one of them is master and both others replicate from it — the bench
 * never assumes that the node configured as master is the master.
 *
 * @module
 */
import { Connection } from "../lib/client/mod.ts";
import { defaults, NODE_SCHEMA } from "../lib/config/mod.ts";
import type { StatusReply } from "../lib/protocol/mod.ts";
import { Pump } from "../lib/transport/mod.ts";
import { testClientConfig } from "../tests/_clients.ts";
import { TestCluster } from "../tests/_cluster.ts";

/** The node ids, in start order; the first is configured as master. */
export const NODE_IDS = ["n1", "n2", "n3"];

/** A running cluster whose master is known and whose slaves replicate. */
export interface RunningCluster extends AsyncDisposable {
  cluster: TestCluster;
  /** The node that is master now. */
  master: string;
  /** The other two. */
  slaves: string[];
  /** Each node's process id. */
  pids: Record<string, number>;
}

/**
 * The `cluster` config fields every node gets: `members` (all node ids, the same in every config)
 * once the node config knows that field; today's schema rejects unknown fields.
 */
function clusterFields(): Record<string, unknown> {
  const known = defaults(NODE_SCHEMA).cluster as Record<string, unknown>;
  return "members" in known ? { members: [...NODE_IDS] } : {};
}

/** Starts a registry and three nodes and waits (≤ `timeoutMs`) for a master with two live slaves. */
export async function startCluster(timeoutMs = 30_000): Promise<RunningCluster> {
  const cluster = new TestCluster({
    registry: { log_level: "info" },
    world: { width: 10_000, height: 10_000 },
    cluster: clusterFields(),
  });
  try {
    await cluster.startRegistry();
    // The configured master first, until the registry has it (or 3 s): a registry may refuse
    // slaves before any master registered, and one that elects a master only once a majority of
    // members registered may not answer the first node alone. Who becomes master is the cluster's
    // decision either way (see waitForRoles).
    const first = cluster.spawnNode(NODE_IDS[0], "master", { log_level: "info" });
    await Promise.race([
      first.waitFor(/Registered with registry/, timeoutMs).catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, 3000)),
    ]);
    for (const id of NODE_IDS.slice(1)) cluster.spawnNode(id, "slave", { log_level: "info" });
    const roles = await waitForRoles(cluster, timeoutMs);
    const pids = Object.fromEntries(NODE_IDS.map((id) => [id, cluster.proc(id).pid]));
    return { cluster, ...roles, pids, [Symbol.asyncDispose]: () => cluster[Symbol.asyncDispose]() };
  } catch (err) {
    await cluster[Symbol.asyncDispose]();
    throw err;
  }
}

/**
 * Polls every node's status until exactly one says master and the two others say slave of it, at
 * its epoch, having applied updates from it (their last seq moved past the snapshot's).
 */
async function waitForRoles(
  cluster: TestCluster,
  timeoutMs: number,
): Promise<{ master: string; slaves: string[] }> {
  await using pump = new Pump();
  const connections = new Map(NODE_IDS.map((id) => {
    const clientId = crypto.randomUUID();
    const connection = new Connection({
      pump,
      config: testClientConfig({ node: cluster.clientEndpoint(id) }),
      clientId,
    });
    connection.start();
    return [id, { connection, clientId }];
  }));
  const firstSeq = new Map<string, number>();
  const poll = async (): Promise<{ master: string; slaves: string[] } | undefined> => {
    const status = new Map<string, StatusReply>();
    for (const [id, { connection, clientId }] of connections) {
      if (!connection.connected) return undefined;
      const reply = await connection.request(clientId, { status: {} }, 2000).catch(() => undefined);
      if (!reply?.statusReply) return undefined;
      status.set(id, reply.statusReply);
    }
    const masters = NODE_IDS.filter((id) => status.get(id)?.role === "ROLE_MASTER");
    if (masters.length !== 1) return undefined;
    const master = masters[0];
    const epoch = status.get(master)?.epoch ?? 0;
    const slaves = NODE_IDS.filter((id) => id !== master);
    for (const id of slaves) {
      const s = status.get(id)!;
      const seq = s.load?.lastSeq ?? 0;
      if (s.role !== "ROLE_SLAVE" || s.masterId !== master || s.epoch !== epoch) return undefined;
      if (!firstSeq.has(id)) firstSeq.set(id, seq);
      if (seq <= firstSeq.get(id)! || seq === 0) return undefined;
    }
    return { master, slaves };
  };
  const deadline = performance.now() + timeoutMs;
  try {
    while (performance.now() < deadline) {
      for (const id of NODE_IDS) {
        const proc = cluster.procs.get(id);
        if (proc?.exited) throw new Error(`${id} exited: ${proc.lines.slice(-5).join(" | ")}`);
      }
      const roles = await poll();
      if (roles) return roles;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`No master with two replicating slaves within ${timeoutMs} ms`);
  } finally {
    for (const { connection } of connections.values()) connection.close();
  }
}
