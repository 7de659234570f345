import assert from "node:assert/strict";
import { checkMembers, majorityOf, sameMembers } from "./membership.ts";
import { ConfigError } from "./errors.ts";

Deno.test("majorityOf() is ⌊n/2⌋ + 1", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 7].map(majorityOf), [1, 2, 2, 3, 3, 4]);
});

Deno.test("checkMembers() wants a non-empty list of distinct ids that includes the node", () => {
  assert.deepEqual(checkMembers("b", ["a", "b", "c"]), ["a", "b", "c"]);
  assert.throws(() => checkMembers("a", []), ConfigError);
  assert.throws(() => checkMembers("a", ["a", "a", "b"]), /listed twice/);
  assert.throws(() => checkMembers("d", ["a", "b", "c"]), /node_id d is not in the list/);
});

Deno.test("sameMembers() ignores order, not content", () => {
  assert.ok(sameMembers(["a", "b", "c"], ["c", "a", "b"]));
  assert.ok(!sameMembers(["a", "b"], ["a", "b", "c"]));
  assert.ok(!sameMembers(["a", "a"], ["a", "b"]));
  assert.ok(!sameMembers(["a", "b"], ["a", "a"]));
});
