/**
 * A tiny TCP peer for network-lab tests: `listen PORT` accepts and closes connections (printing
 * "listening" once bound); `connect HOST PORT MS` prints "connected" or "failed" and exits.
 *
 * @module
 */
const [verb, a, b, c] = Deno.args;
if (verb === "listen") {
  const listener = Deno.listen({ hostname: "0.0.0.0", port: Number(a) });
  console.log("listening");
  for await (const conn of listener) conn.close();
} else if (verb === "connect") {
  const timeout = setTimeout(() => {
    console.log("failed");
    Deno.exit(0);
  }, Number(c));
  try {
    const conn = await Deno.connect({ hostname: a, port: Number(b) });
    conn.close();
    console.log("connected");
  } catch {
    console.log("failed");
  }
  clearTimeout(timeout);
} else {
  console.error("usage: tcp_probe.ts listen PORT | connect HOST PORT MS");
  Deno.exit(2);
}
