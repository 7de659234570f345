/**
 * The failure tests' cluster: registries and game nodes as real processes, either all on loopback
 * (distinct free ports) or each in its own host of a {@linkcode NetLab} (one address per host, so
 * links can be cut one by one), plus the writers process that records every write's outcome.
 *
 * @module
 */
import { generateCurveKeyPair } from "../../lib/transport/mod.ts";
import { freePorts, Proc, TempDir } from "../_harness.ts";
import type { NetLab } from "./netlab.ts";

/** Where a host's processes listen. */
interface Placement {
  address: string;
  netns?: string;
  ports: { client: number; cluster: number; publish: number; discovery: number };
}

/** Options of {@linkcode NemesisCluster}. */
export interface NemesisClusterOptions {
  /** Registry names (each one host). */
  registries: string[];
  /** Node names, the cluster's members; the first is the configured master. */
  nodes: string[];
  /** Run every host in this lab (else all on loopback). */
  lab?: NetLab;
  /** Merged into every node config's `cluster` group. */
  cluster?: Record<string, unknown>;
}

/** Registries and nodes of one cluster, started, stopped, killed and paused by name. */
export class NemesisCluster implements AsyncDisposable {
  readonly dir = new TempDir();
  readonly registries: string[];
  readonly nodes: string[];
  readonly #placements = new Map<string, Placement>();
  readonly #procs = new Map<string, Proc>();
  readonly #paused = new Set<string>();
  readonly #keys = generateCurveKeyPair();
  readonly #options: NemesisClusterOptions;

  constructor(options: NemesisClusterOptions) {
    this.#options = options;
    this.registries = options.registries;
    this.nodes = options.nodes;
    for (const host of [...options.registries, ...options.nodes]) {
      if (options.lab) {
        this.#placements.set(host, {
          address: options.lab.address(host),
          netns: options.lab.netns(host),
          ports: { client: 7000, cluster: 7001, publish: 7002, discovery: 7101 },
        });
      } else {
        const [client, cluster, publish, discovery] = freePorts(4);
        this.#placements.set(host, {
          address: "127.0.0.1",
          ports: { client, cluster, publish, discovery },
        });
      }
    }
  }

  /** A node's client endpoint. */
  endpoint(node: string): string {
    const p = this.#place(node);
    return `tcp://${p.address}:${p.ports.client}`;
  }

  /** The registries' discovery endpoints (for clients), in order. */
  get discovery(): string[] {
    return this.registries.map((r) => {
      const p = this.#place(r);
      return `tcp://${p.address}:${p.ports.discovery}`;
    });
  }

  /** A running (or exited) process by name. */
  proc(name: string): Proc {
    const proc = this.#procs.get(name);
    if (!proc) throw new Error(`${name} was never started`);
    return proc;
  }

  /** True while the process runs (paused ones included). */
  running(name: string): boolean {
    const proc = this.#procs.get(name);
    return proc !== undefined && !proc.exited;
  }

  /** Names of paused processes. */
  get paused(): string[] {
    return [...this.#paused];
  }

  /** Starts a registry (waits until it listens). */
  async startRegistry(name: string): Promise<Proc> {
    const p = this.#place(name);
    const path = this.dir.writeJson(`${name}.json`, {
      host: p.address,
      bind: p.address,
      cluster_port: p.ports.cluster,
      discovery_port: p.ports.discovery,
      http_port: 0,
      node_timeout_ms: 1000,
      recovery_grace_ms: 3000,
      election_timeout_ms: 1500,
      log_level: "debug",
      curve: { public_key: this.#keys.publicKey, secret_key: this.#keys.secretKey },
    });
    const proc = new Proc(name, "registry.ts", [`--config=${path}`], { netns: p.netns });
    this.#procs.set(name, proc);
    await proc.waitFor(/Registry listening/);
    return proc;
  }

  /** Starts a node process (restarting it keeps its state file); waits until it registered. */
  async startNode(name: string): Promise<Proc> {
    const p = this.#place(name);
    const path = this.dir.writeJson(`${name}.json`, {
      mode: "cluster",
      node_id: name,
      role: name === this.nodes[0] ? "master" : "slave",
      host: p.address,
      bind: p.address,
      client_port: p.ports.client,
      cluster_port: p.ports.cluster,
      publish_port: p.ports.publish,
      http_port: 0,
      registry: this.registries.map((r) => {
        const rp = this.#place(r);
        return `tcp://${rp.address}:${rp.ports.cluster}`;
      }),
      log_level: "debug",
      state_file: `${this.dir.path}/${name}.state.json`,
      data_dir: `${this.dir.path}/${name}.data`,
      curve: { public_key: this.#keys.publicKey, secret_key: this.#keys.secretKey },
      world: { width: 1000, height: 1000 },
      cluster: {
        members: this.nodes,
        register_timeout_ms: 15_000,
        report_interval_ms: 100,
        registry_timeout_ms: 800,
        ...this.#options.cluster,
      },
    });
    const proc = new Proc(name, "main.ts", [`--config=${path}`], { netns: p.netns });
    this.#procs.set(name, proc);
    this.#paused.delete(name);
    await proc.waitFor(/Registered with registry/, 20_000);
    return proc;
  }

  /** Sends a signal; SIGSTOP/SIGCONT are remembered, so `resumeAll()` can undo pauses. */
  signal(name: string, signal: Deno.Signal): void {
    this.proc(name).kill(signal);
    if (signal === "SIGSTOP") this.#paused.add(name);
    if (signal === "SIGCONT") this.#paused.delete(name);
  }

  /** kill -9, and waits for the exit. */
  async kill(name: string): Promise<void> {
    const proc = this.proc(name);
    proc.kill("SIGKILL");
    this.#paused.delete(name);
    await proc.status;
  }

  /** Removes a stopped node's data_dir (a lost disk; its state_file stays). */
  wipeData(name: string): void {
    if (this.running(name)) throw new Error(`${name} is running`);
    Deno.removeSync(`${this.dir.path}/${name}.data`, { recursive: true });
  }

  /** Resumes every paused process. */
  resumeAll(): void {
    for (const name of [...this.#paused]) this.signal(name, "SIGCONT");
  }

  /** Starts again every node and registry that is not running. */
  async restartDead(): Promise<void> {
    for (const r of this.registries) if (!this.running(r)) await this.startRegistry(r);
    for (const n of this.nodes) if (!this.running(n)) await this.startNode(n);
  }

  #place(host: string): Placement {
    const p = this.#placements.get(host);
    if (!p) throw new Error(`No host ${host}`);
    return p;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.resumeAll();
    await Promise.all([...this.#procs.values()].map((p) => p.stop(3000)));
    await this.dir[Symbol.asyncDispose]();
  }
}

/** One node's status as the writers process reads it. */
export interface NodeStatus {
  endpoint: string;
  ok: boolean;
  nodeId?: string;
  role?: string;
  epoch?: number;
  masterId?: string;
  lastSeq?: number;
  checksum?: number;
}

/** Totals the writers process reports. */
export interface WriteStats {
  counts: { acknowledged: number; failed: number; unknown: number };
  /** Epoch → masters that acknowledged writes in it. */
  ackedBy: Record<string, string[]>;
  /** Epoch ms of every acknowledgement. */
  ackTimes: number[];
}

/** The writers process: start it, then drive it with commands. */
export class Writers implements AsyncDisposable {
  readonly proc: Proc;
  #read = 0;

  private constructor(proc: Proc) {
    this.proc = proc;
  }

  /** Starts `count` writers discovering through `registries`; waits until all logged in. */
  static async start(registries: string[], count: number, netns?: string): Promise<Writers> {
    const proc = new Proc(
      "writers",
      "tests/support/nemesis_writers.ts",
      [`--registry=${registries.join(",")}`, `--writers=${count}`],
      { netns, stdin: true },
    );
    const writers = new Writers(proc);
    await writers.#next("ready", 60_000);
    return writers;
  }

  /** Stops writing; resolves with the totals once no write is in flight. */
  async pause(): Promise<WriteStats> {
    await this.proc.send("pause");
    return (await this.#next("paused", 30_000)) as WriteStats;
  }

  /** Writes again. */
  async resume(): Promise<void> {
    await this.proc.send("resume");
    await this.#next("resumed", 10_000);
  }

  /** Checks every writer's user on the node at `endpoint` against its record. */
  async check(endpoint: string): Promise<{ ok: boolean; problems: string[] } & WriteStats> {
    await this.proc.send(`check ${endpoint}`);
    return (await this.#next("check", 30_000)) as { ok: boolean; problems: string[] } & WriteStats;
  }

  /** Every node's status. */
  async status(endpoints: string[]): Promise<NodeStatus[]> {
    await this.proc.send(`status ${endpoints.join(",")}`);
    return (await this.#next("status", 30_000)) as NodeStatus[];
  }

  /** Adds a writer connected to `endpoint` alone, with timeouts that outlast a paused node. */
  async patient(endpoint: string): Promise<number> {
    await this.proc.send(`patient ${endpoint}`);
    return (await this.#next("patient", 30_000)) as number;
  }

  /** The patient writer starts one write (its outcome comes with `patientWait()`). */
  async patientSend(): Promise<void> {
    await this.proc.send("patient-send");
    await this.#next("patient_sent", 10_000);
  }

  /** The outcome of the patient writer's write. */
  async patientWait(): Promise<
    { ok: boolean; code?: string; epoch?: number; masterId?: string }
  > {
    await this.proc.send("patient-wait");
    return (await this.#next("patient_done", 60_000)) as { ok: boolean };
  }

  /** Sets every writer's velocity to 0; returns the users it could not stop. */
  async stopMoving(): Promise<number[]> {
    await this.proc.send("stop-moving");
    return ((await this.#next("stopped", 120_000)) as { moving: number[] }).moving;
  }

  /** The next JSON line on stdout that has `key`, its value. */
  async #next(key: string, timeoutMs: number): Promise<unknown> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      while (this.#read < this.proc.stdout.length) {
        const line = this.proc.stdout[this.#read++];
        try {
          const value = JSON.parse(line);
          if (value && typeof value === "object" && key in value) return value[key];
        } catch { /* a log line */ }
      }
      if (this.proc.exited) {
        throw new Error(`writers exited; last lines:\n${this.proc.lines.slice(-10).join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`writers: no ${key} within ${timeoutMs} ms`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.proc.send("stop").catch(() => {});
    await this.proc.stop(5000);
  }
}
