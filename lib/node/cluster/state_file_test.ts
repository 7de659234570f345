import assert from "node:assert/strict";
import { readStateFile, writeStateFile } from "./state_file.ts";
import { StateFileError } from "./errors.ts";
import { TempDir } from "../../../tests/_harness.ts";

Deno.test("writeStateFile() and readStateFile() keep a node's promise across restarts", async (t) => {
  await using dir = new TempDir();
  const path = `${dir.path}/sub/n1.state.json`;
  await t.step("no file: a new node", () => {
    assert.equal(readStateFile(path, "n1"), undefined);
    assert.equal(readStateFile("", "n1"), undefined);
    assert.equal(writeStateFile("", { nodeId: "n1", epoch: 1, role: "ROLE_SLAVE" }), false);
  });
  await t.step("written (its folder created), read back whole", () => {
    assert.equal(writeStateFile(path, { nodeId: "n1", epoch: 7, role: "ROLE_MASTER" }), true);
    assert.deepEqual(readStateFile(path, "n1"), { nodeId: "n1", epoch: 7, role: "ROLE_MASTER" });
    assert.throws(() => Deno.statSync(`${path}.tmp`), Deno.errors.NotFound);
  });
  await t.step("files from before one role vocabulary still read", () => {
    Deno.writeTextFileSync(path, JSON.stringify({ nodeId: "n1", epoch: 3, role: "slave" }));
    assert.deepEqual(readStateFile(path, "n1"), { nodeId: "n1", epoch: 3, role: "ROLE_SLAVE" });
  });
  await t.step("another node's, corrupt or out-of-range files stop the node", () => {
    Deno.writeTextFileSync(path, JSON.stringify({ nodeId: "n2", epoch: 3, role: "slave" }));
    assert.throws(() => readStateFile(path, "n1"), /belongs to node n2/);
    for (
      const text of [
        "{",
        "null",
        JSON.stringify({ nodeId: "n1", epoch: -1, role: "slave" }),
        JSON.stringify({ nodeId: "n1", epoch: 1, role: "toString" }),
        JSON.stringify({ nodeId: "n1", epoch: 1.5, role: "slave" }),
      ]
    ) {
      Deno.writeTextFileSync(path, text);
      assert.throws(() => readStateFile(path, "n1"), StateFileError, text);
    }
  });
  await t.step("a state that cannot be made durable throws", () => {
    Deno.writeTextFileSync(`${dir.path}/file`, "");
    assert.throws(
      () =>
        writeStateFile(`${dir.path}/file/x.json`, { nodeId: "n1", epoch: 1, role: "ROLE_SLAVE" }),
      StateFileError,
    );
  });
});
