import assert from "node:assert/strict";
import { describeProbe, probeNativeReceive } from "./support/transport/native_probe.ts";

// Canary: passes either way, but prints (and records in the test output) whether zeromq's own
// async receive works in this Deno. The day it says WORKS, the pump can be reconsidered.
Deno.test("canary: does zeromq's native async receive work in this Deno?", async () => {
  const result = await probeNativeReceive({
    mode: "native",
    count: 3_000,
    stallMs: 1_500,
    deadlineMs: 15_000,
  });
  console.log(describeProbe(result));
  assert.equal(result.requested, 3_000);
  assert.ok(result.completed <= 3_000);
  assert.equal(result.works, result.completed === 3_000 && result.detail === "");
});
