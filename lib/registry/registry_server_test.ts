import assert from "node:assert/strict";
import { defaults, REGISTRY_SCHEMA, type RegistryConfig } from "../config/mod.ts";
import {
  type ClusterMessage,
  decodeCluster,
  decodeEnvelope,
  detectFormat,
  encodeCluster,
  encodeEnvelope,
  type Envelope,
  type NodeLoad,
  type Role,
  type WireFormat,
} from "../protocol/mod.ts";
import { DealerSocket, type Frames, Pump } from "../transport/mod.ts";
import { RegistryServer } from "./registry_server.ts";

/** Upper bound of every wait for a message: generous, as the machine may be busy. */
const WAIT_MS = 15_000;

/** A registry on loopback ports the OS picks (port 0), no grace, no HTTP; `over` wins. */
function testConfig(over: Partial<RegistryConfig> = {}): RegistryConfig {
  return {
    ...defaults(REGISTRY_SCHEMA),
    bind: "127.0.0.1",
    cluster_port: 0,
    discovery_port: 0,
    http_port: 0,
    recovery_grace_ms: 0,
    node_timeout_ms: 60_000,
    tick_ms: 20,
    ...over,
  };
}

/** Messages as they arrive, and promises for the next one that matches. */
class Inbox<T> {
  readonly #items: T[] = [];
  #waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  /** Records `item`, handing it to the first waiter it matches instead. */
  push(item: T): void {
    const waiter = this.#waiters.find((w) => w.match(item));
    if (waiter === undefined) {
      this.#items.push(item);
      return;
    }
    this.#waiters = this.#waiters.filter((w) => w !== waiter);
    waiter.resolve(item);
  }

  /** The first recorded or future item that matches (taken out), or a rejection naming `what`. */
  next(what: string, match: (item: T) => boolean): Promise<T> {
    const i = this.#items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#items.splice(i, 1)[0]);
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
      reject(new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}`));
    }, WAIT_MS);
    const done = (item: T) => {
      clearTimeout(timer);
      resolve(item);
    };
    this.#waiters.push({ match, resolve: done });
    return promise;
  }
}

/** What a fake node is configured with. */
interface FakeNodeOptions {
  /** Its `cluster.members` (default: m1 and s1). */
  members?: string[];
  /** Its configured role (default: master for m1, else slave). */
  configuredRole?: Role;
}

/**
 * A fake node: a real DEALER on the registry's cluster port. It answers every `prepare` with a
 * promise, granted unless it already promised that epoch or a higher one.
 */
class FakeNode implements AsyncDisposable {
  readonly nodeId: string;
  readonly runId = crypto.randomUUID();
  readonly inbox = new Inbox<ClusterMessage>();
  readonly members: string[];
  readonly configuredRole: Role;
  /** The highest epoch it promised. */
  promised = 0;
  readonly #socket: DealerSocket;

  constructor(pump: Pump, server: RegistryServer, nodeId: string, options: FakeNodeOptions = {}) {
    this.nodeId = nodeId;
    this.members = options.members ?? ["m1", "s1"];
    this.configuredRole = options.configuredRole ??
      (nodeId === "m1" ? "ROLE_MASTER" : "ROLE_SLAVE");
    this.#socket = DealerSocket.connect(
      pump,
      `tcp://127.0.0.1:${server.clusterPort}`,
      (frames: Frames) => {
        const message = decodeCluster(frames[frames.length - 1]);
        if (message.msg === "prepare") this.#promise(message.epoch ?? 0);
        this.inbox.push(message);
      },
    );
  }

  /** Sends a `Register` wishing `role`, and returns the registry's reply. */
  register(
    role: Role,
    options: { epoch?: number; runId?: string; members?: string[] } = {},
  ): Promise<ClusterMessage> {
    this.send({
      epoch: options.epoch ?? 0,
      register: {
        address: {
          nodeId: this.nodeId,
          host: "127.0.0.1",
          clientPort: 7000,
          clusterPort: 7001,
          publishPort: 7002,
          httpPort: 7003,
          role,
        },
        runId: options.runId ?? this.runId,
        role,
        load: { loadFactor: 0.1 },
        members: options.members ?? this.members,
      },
    });
    return this.inbox.next(
      `${this.nodeId}'s register reply`,
      (m) => m.msg === "registerReply" || m.msg === "error",
    );
  }

  /** Sends a `Report` (its heartbeat) at epoch 1. */
  report(role: Role, options: { load?: NodeLoad; reportId?: number } = {}): void {
    const { load = { loadFactor: 0.1 }, reportId = 0 } = options;
    this.send({
      epoch: 1,
      report: { nodeId: this.nodeId, runId: this.runId, role, load, reportId },
    });
  }

  /** Sends a cluster message. */
  send(message: ClusterMessage): void {
    assert.ok(this.#socket.send(encodeCluster(message)), `${this.nodeId} could send`);
  }

  /** Answers a `prepare` as a node does: one promise per epoch, never below an earlier one. */
  #promise(epoch: number): void {
    const granted = epoch > this.promised;
    if (granted) this.promised = epoch;
    this.send({
      epoch,
      promise: {
        nodeId: this.nodeId,
        runId: this.runId,
        granted,
        epoch,
        promisedEpoch: this.promised,
        positionEpoch: 0,
        positionSeq: 0,
        load: { loadFactor: 0.1 },
        configuredRole: this.configuredRole,
      },
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    return Promise.resolve();
  }
}

/** Registers m1 (configured master) and s1, and waits until their promises made m1 master. */
async function elect(m1: FakeNode, s1: FakeNode): Promise<void> {
  assert.equal((await m1.register("ROLE_MASTER")).registerReply?.accepted, true);
  assert.equal((await s1.register("ROLE_SLAVE")).registerReply?.accepted, true);
  const convert = await m1.inbox.next("convert_to_master", (m) => m.msg === "convertToMaster");
  assert.equal(convert.epoch, 1);
  await s1.inbox.next("change_master", (m) => m.msg === "changeMaster");
}

/** A fake client: a real DEALER on the registry's discovery port. */
class FakeClient implements AsyncDisposable {
  readonly #inbox = new Inbox<{ envelope: Envelope; format: WireFormat }>();
  readonly #socket: DealerSocket;
  #requestId = 0;

  constructor(pump: Pump, server: RegistryServer) {
    this.#socket = DealerSocket.connect(
      pump,
      `tcp://127.0.0.1:${server.discoveryPort}`,
      (frames: Frames) => {
        const frame = frames[frames.length - 1];
        const format = detectFormat(frame);
        this.#inbox.push({ envelope: decodeEnvelope(frame, format), format });
      },
    );
  }

  /** Sends `request` in `format` and returns the reply to it. */
  ask(
    request: Envelope,
    format: WireFormat = "binary",
  ): Promise<{ envelope: Envelope; format: WireFormat }> {
    const requestId = ++this.#requestId;
    const frame = encodeEnvelope({ clientId: crypto.randomUUID(), requestId, ...request }, format);
    assert.ok(this.#socket.send(frame), "the client could send");
    return this.#inbox.next(`reply ${requestId}`, (r) => r.envelope.requestId === requestId);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    return Promise.resolve();
  }
}

Deno.test("RegistryServer elects the configured master once a majority promised, and refuses a second master, a malformed registration and other members", async (t) => {
  await using pump = new Pump();
  await using server = await RegistryServer.start(testConfig(), { pump });
  const members = ["m1", "s1", "m2"];
  await using m1 = new FakeNode(pump, server, "m1", { members });
  await using s1 = new FakeNode(pump, server, "s1", { members });
  await using m2 = new FakeNode(pump, server, "m2", { members, configuredRole: "ROLE_MASTER" });

  await t.step(
    "the configured master alone is accepted as a slave: 1 of 3 is no majority",
    async () => {
      const reply = await m1.register("ROLE_MASTER");
      assert.equal(reply.msg, "registerReply");
      assert.equal(reply.epoch ?? 0, 0);
      assert.equal(reply.registerReply?.accepted, true);
      assert.equal(reply.registerReply?.role, "ROLE_SLAVE");
      assert.equal(reply.registerReply?.master?.nodeId ?? "", "");
      assert.equal(server.sentinel.masterId, null);
      assert.deepEqual(server.sentinel.snapshot().members, members);
    },
  );

  await t.step(
    "a second member: both are asked to promise epoch 1, the configured master wins",
    async () => {
      assert.equal((await s1.register("ROLE_SLAVE")).registerReply?.accepted, true);
      const prepare = await m1.inbox.next("prepare", (m) => m.msg === "prepare");
      assert.equal(prepare.epoch, 1);
      assert.match(prepare.prepare?.registryId ?? "", /:/, "host:port names the registry");
      assert.equal((await s1.inbox.next("prepare", (m) => m.msg === "prepare")).epoch, 1);
      const convert = await m1.inbox.next("convert_to_master", (m) => m.msg === "convertToMaster");
      assert.equal(convert.epoch, 1);
      assert.equal(convert.convertToMaster?.nodeId, "m1");
      const change = await s1.inbox.next("change_master", (m) => m.msg === "changeMaster");
      assert.equal(change.epoch, 1);
      assert.equal(change.changeMaster?.master?.nodeId, "m1");
      assert.equal(change.changeMaster?.master?.role, "ROLE_MASTER");
      assert.equal(server.sentinel.masterId, "m1");
    },
  );

  await t.step("a brand-new second master is refused with a reason", async () => {
    const reply = await m2.register("ROLE_MASTER");
    assert.equal(reply.registerReply?.accepted, false);
    assert.match(reply.registerReply?.reason ?? "", /master/);
    assert.deepEqual(server.sentinel.nodes().map((n) => n.nodeId), ["m1", "s1"]);
  });

  await t.step("a registration without a run id gets an INVALID_ARGUMENT error", async () => {
    const reply = await m2.register("ROLE_SLAVE", { runId: "" });
    assert.equal(reply.msg, "error");
    assert.equal(reply.error?.code, "INVALID_ARGUMENT");
    assert.deepEqual(server.sentinel.nodes().map((n) => n.nodeId), ["m1", "s1"]);
  });

  await t.step("a node listing other members is refused, naming both lists", async () => {
    const reply = await m2.register("ROLE_SLAVE", { members: ["m1", "m2"] });
    assert.equal(reply.registerReply?.accepted, false);
    assert.match(
      reply.registerReply?.reason ?? "",
      /\[m1, m2\] differ from the cluster's \[m1, s1, m2\]/,
    );
  });

  await t.step("a slave of the live master is accepted and told who the master is", async () => {
    const reply = await m2.register("ROLE_SLAVE");
    assert.equal(reply.registerReply?.accepted, true);
    assert.equal(reply.registerReply?.role, "ROLE_SLAVE");
    assert.equal(reply.registerReply?.master?.nodeId, "m1");
    assert.equal(reply.epoch, 1);
  });
});

Deno.test("RegistryServer applies a report to the directory and acks it with its report id", async (t) => {
  await using pump = new Pump();
  await using server = await RegistryServer.start(testConfig(), { pump });
  await using m1 = new FakeNode(pump, server, "m1");
  await using s1 = new FakeNode(pump, server, "s1");
  await elect(m1, s1);

  await t.step("a report from the registered run updates its load", async () => {
    const load = { connections: 3, users: 42, loadFactor: 0.25, lastSeq: 7 };
    m1.report("ROLE_MASTER", { load, reportId: 5 });
    const ack = await m1.inbox.next("report ack 5", (m) => m.reportAck?.reportId === 5);
    assert.equal(ack.reportAck?.known, true);
    assert.equal(ack.reportAck?.master?.nodeId, "m1");
    const view = server.sentinel.nodes().find((n) => n.nodeId === "m1");
    assert.equal(view?.load.users, 42);
    assert.equal(view?.load.connections, 3);
    assert.equal(view?.load.loadFactor, 0.25);
    assert.equal(view?.load.lastSeq, 7);
  });

  await t.step("a report from an unknown node is acked known=false", async () => {
    await using stranger = new FakeNode(pump, server, "x9");
    stranger.report("ROLE_SLAVE", { reportId: 6 });
    const ack = await stranger.inbox.next("report ack 6", (m) => m.reportAck?.reportId === 6);
    assert.equal(ack.reportAck?.known, false);
    assert.equal(server.sentinel.nodes().some((n) => n.nodeId === "x9"), false);
  });
});

Deno.test("RegistryServer answers discovery with the master or the least-loaded node, in the request's format", async (t) => {
  await using pump = new Pump();
  await using server = await RegistryServer.start(testConfig(), { pump });
  await using client = new FakeClient(pump, server);

  await t.step("with no node it answers NO_NODE_AVAILABLE", async () => {
    const { envelope } = await client.ask({ discover: { wantMaster: true } });
    assert.equal(envelope.error?.code, "NO_NODE_AVAILABLE");
    assert.equal(envelope.error?.message, "no master");
  });

  await using m1 = new FakeNode(pump, server, "m1");
  await using s1 = new FakeNode(pump, server, "s1");
  await elect(m1, s1);

  await t.step("it names the master, with its ports", async () => {
    const { envelope, format } = await client.ask({ discover: { wantMaster: true } });
    assert.equal(format, "binary");
    assert.equal(envelope.discoverReply?.node?.nodeId, "m1");
    assert.equal(envelope.discoverReply?.node?.clientPort, 7000);
    assert.equal(envelope.discoverReply?.node?.role, "ROLE_MASTER");
  });

  await t.step("a JSON request gets a JSON reply", async () => {
    const { envelope, format } = await client.ask({ discover: {} }, "json");
    assert.equal(format, "json");
    assert.equal(envelope.discoverReply?.node?.nodeId, "m1");
  });

  await t.step("ping is answered as the registry; other operations are refused", async () => {
    const pong = await client.ask({ ping: { clientTimeMs: 12 } });
    assert.equal(pong.envelope.pong?.nodeId, "registry");
    assert.equal(pong.envelope.pong?.clientTimeMs, 12);
    const refused = await client.ask({ status: {} });
    assert.equal(refused.envelope.error?.code, "UNKNOWN_OPERATION");
  });
});

Deno.test("RegistryServer removes a node that goes silent and tells the master", async () => {
  await using pump = new Pump();
  // A short node timeout; the live master reports every 100 ms, well within it.
  await using server = await RegistryServer.start(testConfig({ node_timeout_ms: 1000 }), { pump });
  await using m1 = new FakeNode(pump, server, "m1");
  await using s1 = new FakeNode(pump, server, "s1");
  await elect(m1, s1);

  const heartbeat = setInterval(() => m1.report("ROLE_MASTER"), 100);
  try {
    // s1 says nothing more.
    const removed = await m1.inbox.next("slave_removed", (m) => m.msg === "slaveRemoved");
    assert.equal(removed.slaveRemoved?.nodeId, "s1");
    assert.match(removed.slaveRemoved?.reason ?? "", /silent/);
    assert.equal(removed.epoch, 1);
    const views = server.sentinel.nodes();
    assert.equal(views.find((n) => n.nodeId === "s1")?.alive, false);
    assert.equal(views.find((n) => n.nodeId === "m1")?.alive, true);
    assert.equal(server.sentinel.masterId, "m1");
  } finally {
    clearInterval(heartbeat);
  }
});
