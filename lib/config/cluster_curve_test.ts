import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { DEMO_PUBLIC_KEY, isLoopback, startupClusterCurve } from "./cluster_curve.ts";

const DEMO = {
  public_key: DEMO_PUBLIC_KEY,
  secret_key: "wiS}0an0bL6J2{[RK!BatY5nNXNSo^d+14$I4s0U",
};

Deno.test("isLoopback() knows the addresses that never leave the machine", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.equal(isLoopback(host), true, host);
  }
  for (const host of ["0.0.0.0", "*", "10.0.0.1", "example.com", "::", "127.0.0.1.evil.com"]) {
    assert.equal(isLoopback(host), false, host);
  }
});

Deno.test("startupClusterCurve() refuses the configs' demo keypair unless every address is loopback", async (t) => {
  await t.step("loopback only: allowed", () => {
    const curve = startupClusterCurve(DEMO, ["127.0.0.1", "localhost", "tcp://127.0.0.1:7100"]);
    assert.equal(curve?.server.publicKey, DEMO_PUBLIC_KEY);
  });
  await t.step("any other address: a ConfigError that names deno task keys", () => {
    for (const reach of [["0.0.0.0"], ["127.0.0.1", "*"], ["tcp://10.1.2.3:7100"]]) {
      assert.throws(
        () => startupClusterCurve(DEMO, reach),
        (err: Error) =>
          err instanceof ConfigError && /demo keypair/.test(err.message) &&
          /deno task keys/.test(err.message),
      );
    }
  });
  await t.step("another keypair anywhere: allowed", () => {
    const own = {
      public_key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
      secret_key: "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
    };
    assert.ok(startupClusterCurve(own, ["0.0.0.0", "tcp://10.1.2.3:7100"]));
  });
});
