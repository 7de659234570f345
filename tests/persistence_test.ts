/**
 * A single-mode node with a `data_dir`, as a real process: every acknowledged write survives
 * `kill -9` and a restart, and a node whose files were cut or corrupted starts, says what it
 * discarded, and serves only a state that passed its checks.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Pump } from "../lib/transport/mod.ts";
import type { Outcome } from "../lib/client/mod.ts";
import { eventually, freePort, Proc, TempDir } from "./_harness.ts";
import { openTestClient, type TestClient, testClientConfig } from "./_clients.ts";
import { checkUsers, type WriterRecord } from "./support/nemesis_writers.ts";

/** A client writing vx = k/1000 for k = 1, 2, … and recording each outcome (the oracle's input). */
class Writer {
  readonly record: WriterRecord;
  #k = 0;
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(readonly client: TestClient) {
    this.record = {
      userId: client.session.userId,
      acked: 0,
      unacked: [],
      counts: { acknowledged: 0, failed: 0, unknown: 0 },
    };
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const out = await this.write(++this.#k);
        await new Promise((r) => setTimeout(r, out.ok ? 5 : 50));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async write(k: number): Promise<Outcome<unknown>> {
    const out = await this.client.session.setVelocity(k / 1000, 0);
    const r = this.record;
    if (out.ok) {
      r.acked = k;
      r.unacked = [];
      r.counts.acknowledged++;
    } else {
      r.unacked.push(k);
      r.counts.unknown++;
    }
    return out;
  }
}

function newest(dir: string, kind: "snapshot" | "log"): string {
  const re = kind === "snapshot" ? /^snapshot-\d{12}\.snap$/ : /^log-\d{12}\.wal$/;
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => re.test(n)).sort();
  assert.ok(names.length > 0, `no ${kind} in ${dir}`);
  return `${dir}/${names[names.length - 1]}`;
}

Deno.test("a single node keeps every acknowledged write across kill -9, cut and corrupt files", async (t) => {
  await using dir = new TempDir();
  const port = freePort();
  const endpoint = `tcp://127.0.0.1:${port}`;
  const data = `${dir.path}/data`;
  const start = async (snapshotEveryS: number) => {
    const proc = new Proc("node", "main.ts", [
      `--port=${port}`,
      "--http-port=0",
      `--data-dir=${data}`,
      "--log-level=debug",
      "--set",
      `persistence.snapshot_interval_s=${snapshotEveryS}`,
    ]);
    await proc.waitFor(/listening for clients/);
    return proc;
  };
  await using pump = new Pump();
  let node = await start(1);
  const writers: Writer[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const client = await openTestClient(pump, testClientConfig({ node: endpoint }));
      const login = await client.session.login();
      assert.ok(login.ok);
      writers.push(new Writer(client));
    }

    const read = async () => {
      const reader = await openTestClient(pump, testClientConfig({ node: endpoint }));
      try {
        const users = await reader.session.queryRect(-1e9, -1e9, 1e9, 1e9);
        assert.ok(users.ok);
        const status = await reader.session.status(true);
        assert.ok(status.ok);
        return { users: users.value.users ?? [], checksum: status.value.checksum };
      } finally {
        reader.connection.close();
      }
    };
    const restart = async (snapshotEveryS: number, mutate?: () => void) => {
      node.kill("SIGKILL");
      await node.status;
      mutate?.();
      node = await start(snapshotEveryS);
      return node;
    };

    await t.step(
      "kill -9 while writing: every acknowledged write is there after a restart",
      async () => {
        for (const w of writers) w.start();
        // Snapshots every second: recovery goes through a snapshot and the log after it.
        await node.waitFor(/Snapshot \d+ on disk/, 15_000);
        await new Promise((r) => setTimeout(r, 1200));
        node.kill("SIGKILL");
        await node.status;
        await Promise.all(writers.map((w) => w.stop()));
        const acked = writers.reduce((n, w) => n + w.record.counts.acknowledged, 0);
        assert.ok(acked > 100, `only ${acked} writes acknowledged`);
        node = await start(3600);
        assert.ok(
          node.lines.some((l) => /Recovered 6 users .* \(snapshot \d+, \d+ updates/.test(l)),
        );
        const { users } = await read();
        assert.deepEqual(checkUsers(writers.map((w) => w.record), users), []);
      },
    );

    await t.step("sessions resume with their tokens after the restart", async () => {
      // Each client reconnected and resumed its user with its session token: its writes go on.
      for (const w of writers) {
        const out = await eventually(
          "a write after the resume",
          async () => {
            const o = await w.write(0);
            return o.ok ? o : undefined;
          },
          10_000,
          100,
        );
        assert.ok(out.ok);
      }
    });

    // From here on nobody writes (a resume is a write too) and the world stands still, so its
    // checksum names the state whatever idle tick a crash loses.
    for (const w of writers) w.client.connection.close();
    await new Promise((r) => setTimeout(r, 200));
    const still = await read();

    await t.step(
      "a log cut mid-record: the node starts, says what it cut, same state",
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        await restart(3600, () => {
          const path = newest(data, "log");
          const size = Deno.statSync(path).size;
          assert.ok(size > 36 + 24, "the log holds records");
          Deno.truncateSync(path, size - 5);
        });
        assert.ok(node.lines.some((l) => /Recovery: log \d+: cut 1 record .*torn record/.test(l)));
        const after = await read();
        assert.equal(after.checksum, still.checksum);
        assert.deepEqual(checkUsers(writers.map((w) => w.record), after.users), []);
      },
    );

    await t.step(
      "a byte flipped in the newest snapshot: the one before it, and the log",
      async () => {
        await restart(3600, () => {
          const path = newest(data, "snapshot");
          const bytes = Deno.readFileSync(path);
          bytes[bytes.length >> 1] ^= 0x20;
          Deno.writeFileSync(path, bytes);
        });
        assert.ok(node.lines.some((l) => /snapshot \d+ is unusable/.test(l)));
        assert.ok(node.lines.some((l) => /Recovered 6 users/.test(l)));
        const after = await read();
        assert.equal(after.checksum, still.checksum);
        assert.ok([...Deno.readDirSync(data)].some((e) => e.name.endsWith(".snap.corrupt")));
      },
    );

    await t.step(
      "a byte flipped inside the log: cut there, the rest counted, a valid state",
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        await restart(3600, () => {
          const path = newest(data, "log");
          const bytes = Deno.readFileSync(path);
          bytes[bytes.length - 30] ^= 0x01;
          Deno.writeFileSync(path, bytes);
        });
        const cut = node.lines.find((l) => /Recovery: log \d+: cut \d+ records? /.test(l));
        assert.ok(cut, node.lines.slice(-20).join("\n"));
        assert.match(cut, /checksum mismatch|torn|does not follow/);
        assert.ok(node.lines.some((l) => /Recovery discarded \d+ log record/.test(l)));
        const after = await read();
        assert.equal(after.users.length, 6);
      },
    );

    await t.step("SIGTERM: an orderly stop, then a restart loses nothing", async () => {
      const before = await read();
      node.kill("SIGTERM");
      assert.equal((await node.status).code, 0);
      node = await start(3600);
      assert.ok(!node.lines.some((l) => /Recovery: /.test(l)), "nothing to cut after a clean stop");
      assert.equal((await read()).checksum, before.checksum);
    });

    await t.step("a second process on the same data_dir is refused with exit code 2", async () => {
      const other = new Proc("other", "main.ts", [
        `--port=${freePort()}`,
        "--http-port=0",
        `--data-dir=${data}`,
      ]);
      assert.equal((await other.status).code, 2);
      assert.ok(other.lines.some((l) => /is in use by another process/.test(l)));
    });
  } finally {
    for (const w of writers) w.client.connection.close();
    await node.stop();
  }
});
