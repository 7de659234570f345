/**
 * The writers of the failure tests, as a process of its own (so it can run in a network namespace
 * of the lab): clients that find nodes through the registries, log in, and write all the time,
 * recording every write's outcome. Controlled by lines on stdin, answering with JSON lines on
 * stdout:
 *
 * - `pause`: stop writing; answers `{"paused":…}` once no write is in flight.
 * - `resume`: write again; answers `{"resumed":true}`.
 * - `check ENDPOINT`: reads every user from the node at ENDPOINT and checks each writer's user
 *   against its record (see {@linkcode checkUsers}); answers `{"check":{…}}`.
 * - `status E1,E2,…`: asks each node for its status; answers `{"status":[…]}` (role, epoch,
 *   master, checksum; `ok:false` for a node that did not answer).
 * - `stop-moving`: sets every writer's velocity to 0 (so worlds stand still for checksums), retrying
 *   each for 5 s; answers `{"stopped":{"moving":[userIds it could not stop]}}`.
 * - `patient ENDPOINT`: one more writer, connected to that node alone with timeouts long enough to
 *   outlast a paused node (it never reconnects elsewhere); answers `{"patient":userId}`.
 * - `patient-send`: the patient writer starts one write and does not wait; `{"patient_sent":k}`.
 * - `patient-wait`: waits for that write's outcome; `{"patient_done":{ok,code,epoch,masterId}}`.
 * - `stop` (or end of stdin): closes everything and exits.
 *
 * Each writer sets its user's vx to k/1000 for k = 1, 2, 3, … (never repeated): the value a user
 * holds names the write that put it there. The world negates velocity at its edges, so |vx| counts.
 *
 * Usage: `deno run -A tests/support/nemesis_writers.ts --registry=tcp://A:P[,tcp://B:P] --writers=N`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Pump } from "../../lib/transport/mod.ts";
import { ClientSession, Connection, type Outcome } from "../../lib/client/mod.ts";
import type { UserState } from "../../lib/protocol/mod.ts";
import { openTestClient, type TestClient, testClientConfig } from "../_clients.ts";

/** What one writer did. */
export interface WriterRecord {
  userId: number;
  /** The k of the last acknowledged write (0: none, or the user was stopped). */
  acked: number;
  /** Every k attempted after `acked` whose outcome was not an acknowledgement. */
  unacked: number[];
  counts: { acknowledged: number; failed: number; unknown: number };
}

/**
 * The oracle: every user holds its last acknowledged value or one attempted after it. Returns one
 * line per problem (a lost acknowledged write, a missing user, a value never written).
 */
export function checkUsers(records: WriterRecord[], users: UserState[]): string[] {
  const byId = new Map(users.map((u) => [u.id ?? 0, u]));
  const problems: string[] = [];
  for (const r of records) {
    if (r.userId === 0) continue;
    const u = byId.get(r.userId);
    if (!u) {
      problems.push(`user ${r.userId} missing (last acknowledged k=${r.acked})`);
      continue;
    }
    const k = Math.round(Math.abs(u.vx ?? 0) * 1000);
    if (k === r.acked || r.unacked.includes(k)) continue;
    problems.push(
      `user ${r.userId}: holds k=${k}, but the last acknowledged write set k=${r.acked}` +
        (r.unacked.length ? ` (attempted after it: ${r.unacked.slice(-5).join(", ")})` : "") +
        " — an acknowledged write is lost",
    );
  }
  return problems;
}

class Writer {
  readonly client: TestClient;
  readonly record: WriterRecord;
  /** Epoch → ids of masters that acknowledged this writer's writes in it. */
  readonly ackedBy = new Map<number, Set<string>>();
  /** performance.now() of every acknowledgement. */
  readonly ackTimes: number[] = [];
  #k = 0;
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(client: TestClient) {
    this.client = client;
    this.record = {
      userId: client.session.userId,
      acked: 0,
      unacked: [],
      counts: { acknowledged: 0, failed: 0, unknown: 0 },
    };
  }

  get session(): ClientSession {
    return this.client.session;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async pause(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const out = await this.writeOnce();
      await new Promise((r) => setTimeout(r, out.ok ? 20 : 100));
    }
  }

  /** One write of the next k, recorded. */
  writeOnce(): Promise<Outcome<unknown>> {
    return this.write(++this.#k);
  }

  /** Writes vx = k/1000 and records the outcome (k = 0 stops the user). */
  async write(k: number): Promise<Outcome<unknown>> {
    const out = await this.session.setVelocity(k / 1000, 0);
    this.#note(k, out);
    return out;
  }

  #note(k: number, out: Outcome<unknown>): void {
    const r = this.record;
    if (out.ok) {
      r.acked = k;
      r.unacked = [];
      r.counts.acknowledged++;
      this.ackTimes.push(performance.now());
      const ack = out.writeAck;
      if (ack) {
        const epoch = Number(ack.epoch ?? 0);
        if (!this.ackedBy.has(epoch)) this.ackedBy.set(epoch, new Set());
        this.ackedBy.get(epoch)!.add(ack.masterId ?? "");
      }
      return;
    }
    r.unacked.push(k);
    // TIMEOUT and UNAVAILABLE "may or may not have been applied"; other codes were refused.
    const code = out.error.code;
    if (code === "TIMEOUT" || code === "UNAVAILABLE") r.counts.unknown++;
    else r.counts.failed++;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { registry: { type: "string" }, writers: { type: "string", default: "6" } },
  });
  const registries = (values.registry ?? "").split(",").filter(Boolean);
  if (registries.length === 0) throw new Error("--registry=tcp://HOST:PORT is required");
  await using pump = new Pump();
  const writers: Writer[] = [];
  const patients: Writer[] = [];
  for (let i = 0; i < Number(values.writers); i++) {
    // A third ask for the master, the rest for the least-loaded node: every node has writers.
    const config = { ...testClientConfig({ registry: registries }), want_master: i % 3 === 0 };
    const client = await openTestClient(pump, config);
    for (let attempt = 0;; attempt++) {
      const login = await client.session.login();
      if (login.ok) break;
      if (attempt > 50) throw new Error(`login failed: ${login.error.message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    writers.push(new Writer(client));
  }
  for (const w of writers) w.start();
  say({ ready: writers.length, users: writers.map((w) => w.record.userId) });

  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === "stop") return close([...writers, ...patients]);
      await command(line, { writers, patients }, pump);
    }
  }
  await close([...writers, ...patients]);
}

let patientWrite: Promise<Outcome<unknown>> | undefined;

async function command(
  line: string,
  all: { writers: Writer[]; patients: Writer[] },
  pump: Pump,
): Promise<void> {
  const { writers: roaming, patients } = all;
  const writers = [...roaming, ...patients];
  const [verb, arg] = line.split(/\s+/);
  switch (verb) {
    case "patient": {
      const config = {
        ...testClientConfig({ node: arg }),
        server_timeout_ms: 60_000,
        request_timeout_ms: 30_000,
      };
      const client = await openTestClient(pump, config);
      const login = await client.session.login();
      if (!login.ok) {
        say({ error: `patient login failed: ${login.error.message}` });
        return;
      }
      const writer = new Writer(client);
      patients.push(writer);
      say({ patient: writer.record.userId });
      return;
    }
    case "patient-send": {
      const writer = patients.at(-1);
      if (!writer) return say({ error: "no patient writer" });
      patientWrite = writer.writeOnce();
      say({ patient_sent: true });
      return;
    }
    case "patient-wait": {
      const out = await patientWrite;
      say({
        patient_done: out?.ok
          ? { ok: true, epoch: Number(out.writeAck?.epoch ?? 0), masterId: out.writeAck?.masterId }
          : { ok: false, code: out?.error.code, message: out?.error.message },
      });
      return;
    }
    case "pause":
      await Promise.all(roaming.map((w) => w.pause()));
      say({ paused: stats(writers) });
      return;
    case "resume":
      for (const w of roaming) w.start();
      say({ resumed: true });
      return;
    case "check": {
      const reader = await openTestClient(pump, testClientConfig({ node: arg }));
      try {
        const out = await reader.session.queryRect(-1e9, -1e9, 1e9, 1e9);
        if (!out.ok) {
          say({ check: { ok: false, problems: [`read failed: ${out.error.message}`] } });
          return;
        }
        const problems = checkUsers(writers.map((w) => w.record), out.value.users ?? []);
        say({ check: { ok: problems.length === 0, problems, ...stats(writers) } });
      } finally {
        reader.connection.close();
      }
      return;
    }
    case "status": {
      const endpoints = (arg ?? "").split(",").filter(Boolean);
      const statuses = await Promise.all(endpoints.map((e) => statusOf(pump, e)));
      say({ status: statuses });
      return;
    }
    case "stop-moving": {
      // Stops every user so replicas' worlds stand still and their checksums can be compared. A stop
      // that fails (a node still settling) is retried: one user left moving makes every two
      // replicas that answer at different updates differ.
      const moving: number[] = [];
      for (const w of writers) {
        let out = await w.write(0);
        for (let attempt = 0; !out.ok && attempt < 20; attempt++) {
          await new Promise((r) => setTimeout(r, 250));
          out = await w.write(0);
        }
        if (!out.ok) moving.push(w.record.userId);
      }
      say({ stopped: { moving } });
      return;
    }
    default:
      say({ error: `unknown command ${line}` });
  }
}

async function statusOf(pump: Pump, endpoint: string) {
  const config = { ...testClientConfig({ node: endpoint }), request_timeout_ms: 1000 };
  const connection = new Connection({ pump, config, clientId: crypto.randomUUID() });
  try {
    connection.start();
    await connection.ready(1500);
    const out = await new ClientSession(connection).status(true);
    if (!out.ok) return { endpoint, ok: false, error: out.error.message };
    const v = out.value;
    return {
      endpoint,
      ok: true,
      nodeId: v.nodeId,
      role: v.role,
      epoch: Number(v.epoch ?? 0),
      masterId: v.masterId,
      lastSeq: Number(v.load?.lastSeq ?? 0),
      checksum: v.checksum,
    };
  } catch (err) {
    return { endpoint, ok: false, error: String(err) };
  } finally {
    connection.close();
  }
}

function stats(writers: Writer[]) {
  const counts = { acknowledged: 0, failed: 0, unknown: 0 };
  const ackedBy: Record<string, string[]> = {};
  for (const w of writers) {
    counts.acknowledged += w.record.counts.acknowledged;
    counts.failed += w.record.counts.failed;
    counts.unknown += w.record.counts.unknown;
    for (const [epoch, masters] of w.ackedBy) {
      ackedBy[epoch] = [...new Set([...(ackedBy[epoch] ?? []), ...masters])].sort();
    }
  }
  const times = writers.flatMap((w) => w.ackTimes).sort((a, b) => a - b);
  // Absolute times (ms since the time origin) let the runner find the gaps inside a fault.
  return { counts, ackedBy, ackTimes: times.map((t) => Math.round(performance.timeOrigin + t)) };
}

async function close(writers: Writer[]): Promise<void> {
  await Promise.all(writers.map((w) => w.pause()));
  for (const w of writers) w.client.connection.close();
}

function say(value: unknown): void {
  console.log(JSON.stringify(value));
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
