import assert from "node:assert/strict";
import { NetLab } from "./support/netlab.ts";
import { Proc } from "./_harness.ts";

const why = await NetLab.unavailable();
const required = Deno.env.get("GAMESERVER_TEST_NETNS") === "required";

async function reach(lab: NetLab, from: string, to: string): Promise<string> {
  const probe = new Proc(`probe-${from}`, "tests/support/tcp_probe.ts", [
    "connect",
    lab.address(to),
    "7999",
    "1500",
  ], { netns: lab.netns(from) });
  await probe.status;
  return probe.stdout.join("");
}

Deno.test({
  name: "NetLab cuts and heals single links between hosts, and leaves nothing behind",
  ignore: why !== undefined && !required,
  async fn(t) {
    if (why) throw new Error(`GAMESERVER_TEST_NETNS=required but ${why}`);
    let namespaces: string[] = [];
    {
      await using lab = await NetLab.create(["a", "b", "c"]);
      namespaces = ["a", "b", "c"].map((h) => lab.netns(h));
      await using server = new Proc("server", "tests/support/tcp_probe.ts", ["listen", "7999"], {
        netns: lab.netns("a"),
      });
      await server.waitFor(/listening/);
      await t.step("every host reaches every other", async () => {
        assert.equal(await reach(lab, "b", "a"), "connected");
        assert.equal(await reach(lab, "c", "a"), "connected");
      });
      await t.step("a cut link is cut both ways; the others stay", async () => {
        await lab.cut("a", "b");
        assert.equal(await reach(lab, "b", "a"), "failed");
        assert.equal(await reach(lab, "c", "a"), "connected");
      });
      await t.step("healed, it carries traffic again", async () => {
        await lab.healAll();
        assert.equal(await reach(lab, "b", "a"), "connected");
      });
    }
    const left = new TextDecoder().decode(
      (await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output()).stdout,
    );
    for (const ns of namespaces) assert.ok(!left.includes(ns), `${ns} was removed`);
  },
});

if (why && !required) console.error(`netlab_test: SKIPPED loudly: ${why}`);
