import assert from "node:assert/strict";
import { Pump } from "../../transport/mod.ts";
import { type RegistryCommand, RegistryLink } from "./registry_link.ts";
import { RegistrationError } from "./errors.ts";
import { ScriptedRegistry } from "../../../tests/support/scripted_registry.ts";
import { eventually } from "../../../tests/_harness.ts";

function link(pump: Pump, endpoints: string[], commands: RegistryCommand[] = []): RegistryLink {
  return new RegistryLink({
    pump,
    endpoints,
    identity: {
      address: { nodeId: "n1", host: "127.0.0.1", clientPort: 1, clusterPort: 2, publishPort: 3 },
      runId: "run-1",
      role: () => "ROLE_SLAVE",
      epoch: () => 1,
      masterId: () => "",
      load: () => ({ connections: 0, users: 0 }),
      members: ["n1"],
    },
    reportIntervalMs: 30,
    registryTimeoutMs: 300,
    retryMaxMs: 200,
    onCommand: (command) => commands.push(command),
  });
}

Deno.test("RegistryLink.register() rejects with RegistrationError (exit code 3) when no registry answers", async () => {
  await using pump = new Pump();
  await using mute = await ScriptedRegistry.start(pump);
  mute.answering = false;
  await using l = link(pump, [mute.endpoint]);
  const error = await l.register(400).then(() => undefined, (err) => err);
  assert.ok(error instanceof RegistrationError, String(error));
  assert.equal(error.exitCode, 3);
  assert.match(error.message, new RegExp(`no registry answered at ${mute.endpoint}`));
  assert.ok(mute.received.some((m) => m.register), "it did try");
});

Deno.test("RegistryLink fails over between registry endpoints and back, in both directions", async (t) => {
  await using pump = new Pump();
  await using a = await ScriptedRegistry.start(pump);
  await using b = await ScriptedRegistry.start(pump);
  a.answering = false;
  const commands: RegistryCommand[] = [];
  await using l = link(pump, [a.endpoint, b.endpoint], commands);

  await t.step("registration moves on from a silent first endpoint", async () => {
    await l.register(5000);
    assert.equal(l.endpoint, b.endpoint);
    assert.ok(l.healthy);
    assert.ok(b.nodes.has("n1"), "registered with the second registry");
    assert.equal(commands[0]?.type, "master_info", "the registration reply is handed to the node");
  });

  await t.step(
    "the answering registry goes silent: the link marks it down and returns to the first",
    async () => {
      b.answering = false;
      a.answering = true;
      await eventually(
        "registered with the first registry",
        () => a.nodes.has("n1") || undefined,
        5000,
      );
      await eventually("healthy again", () => l.healthy || undefined, 5000);
      assert.equal(l.endpoint, a.endpoint);
      const reportsBefore = a.nodes.get("n1")!.reports;
      await eventually(
        "reports to the first registry",
        () => a.nodes.get("n1")!.reports > reportsBefore + 2 || undefined,
      );
    },
  );

  await t.step(
    "a registry that does not know the node (restarted) gets a new registration",
    async () => {
      a.nodes.delete("n1");
      await eventually("registered again", () => a.nodes.has("n1") || undefined, 5000);
      assert.ok(l.healthy);
    },
  );
});
