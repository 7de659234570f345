import assert from "node:assert/strict";
import { loadCommandArgs, parseLoadArgs } from "./load_command.ts";

Deno.test("parseLoadArgs() reads load and client flags and rejects bad ones", async () => {
  const parsed = await parseLoadArgs([
    "--node=tcp://127.0.0.1:7123",
    "--clients=5000",
    "--connections=10",
    "--duration=30",
    "--warmup=5",
    "--rate-scale=2",
    "--set",
    "load.aoe_amount=-3",
  ]);
  assert.ok(!parsed.help);
  if (parsed.help) return;
  assert.equal(parsed.config.node, "tcp://127.0.0.1:7123");
  assert.equal(parsed.config.load.clients, 5000);
  assert.equal(parsed.config.load.connections, 10);
  assert.equal(parsed.config.load.duration_s, 30);
  assert.equal(parsed.config.load.rate_scale, 2);
  assert.equal(parsed.config.load.aoe_amount, -3);
  assert.equal((await parseLoadArgs(["--help"])).help, true);
  await assert.rejects(parseLoadArgs(["--clients=0"]), /load\.clients/);
  await assert.rejects(parseLoadArgs(["--bogus=1"]), /bogus/);
  await assert.rejects(parseLoadArgs(["--duration=5", "--warmup=5"]), /shorter/);
  await assert.rejects(parseLoadArgs(["extra"]), /Unexpected argument/);
});

Deno.test("loadCommandArgs() finds the load command after any client flags", async (t) => {
  const valueFlags = ["node", "registry", "format", "log-level"];
  await t.step("the word first, or after --flag=value: every other argument, in order", () => {
    assert.deepEqual(loadCommandArgs(["load", "--clients=5"], valueFlags), ["--clients=5"]);
    assert.deepEqual(
      loadCommandArgs(["--node=tcp://h:1", "load", "--duration=3"], valueFlags),
      ["--node=tcp://h:1", "--duration=3"],
    );
  });
  await t.step("after flags whose value is the next argument", () => {
    assert.deepEqual(
      loadCommandArgs(["--node", "tcp://h:1", "--set", "load.radius=5", "load"], valueFlags),
      ["--node", "tcp://h:1", "--set", "load.radius=5"],
    );
    assert.deepEqual(loadCommandArgs(["--help", "load"], valueFlags), ["--help"]);
  });
  await t.step("not for other commands, nor for load as a flag's value or a later word", () => {
    assert.equal(loadCommandArgs([], valueFlags), undefined);
    assert.equal(loadCommandArgs(["--node=tcp://h:1"], valueFlags), undefined);
    assert.equal(loadCommandArgs(["query", "load"], valueFlags), undefined);
    assert.equal(loadCommandArgs(["--node", "load"], valueFlags), undefined);
  });
});
