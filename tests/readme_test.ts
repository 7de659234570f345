import assert from "node:assert/strict";
import { withConfigReference } from "../scripts/config_docs.ts";

/** Markdown tables as `deno fmt` aligns them compare equal to the generated ones. */
function normalise(text: string): string {
  return text.split("\n").map((line) =>
    line.startsWith("|") ? line.replace(/\s+/g, "").replace(/-+/g, "-") : line.trimEnd()
  ).filter((line) => line !== "").join("\n");
}

Deno.test("README.md holds the current config reference", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.equal(
    normalise(readme),
    normalise(withConfigReference(readme)),
    "run `deno task docs:config`",
  );
});

Deno.test("README.md starts with the two commands: run a node, run the tests", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const head = readme.split("\n").slice(0, 10).join("\n");
  assert.match(head, /deno task start/);
  assert.match(head, /deno task test/);
  const ci = await Deno.readTextFile(new URL("../.ci/run", import.meta.url));
  assert.match(ci, /deno task test/);
});
