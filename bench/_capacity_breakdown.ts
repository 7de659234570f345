/**
 * The capacity bench's in-process breakdown: the node's per-request cost without the transport.
 *
 * @module
 */

/**
 * The node's request handling without sockets: GameNode.handleFrame on pre-encoded frames in the
 * bench's mix (query, AOE, velocity 10:10:2), for `clients` users; µs per request.
 */
export async function measureBreakdown(
  clients: number,
  quick: boolean,
): Promise<Record<string, number>> {
  const { GameNode } = await import("../lib/node/mod.ts");
  const { defaults, NODE_SCHEMA } = await import("../lib/config/mod.ts");
  const { decodeEnvelope, encodeEnvelope } = await import("../lib/protocol/mod.ts");
  const { setupLogging } = await import("../lib/log/mod.ts");
  setupLogging({ level: "error" });
  const config = defaults(NODE_SCHEMA);
  config.data_dir = "";
  config.http_port = 0;
  config.clients.max_clients = Math.max(100_000, clients * 2);
  config.world.max_users = Math.max(200_000, clients * 2);
  let replyBytes = 0;
  let replies = 0;
  const node = new GameNode({
    config,
    send: (_peer, frame) => {
      replyBytes += frame.length;
      replies++;
      return true;
    },
  }, performance.now());
  const peers = Array.from({ length: 40 }, (_, i) => new Uint8Array([0, 0, 0x80, i, 1]));
  const ids = Array.from({ length: clients }, () => crypto.randomUUID());
  let rid = 1;
  for (let i = 0; i < clients; i++) {
    node.handleFrame(peers[i % 40], [
      encodeEnvelope({ clientId: ids[i], requestId: rid++, login: {} }),
    ], 0);
  }
  const count = quick ? 20_000 : 200_000;
  const frames: Uint8Array[] = [];
  const owners: Uint8Array[] = [];
  for (let r = 0; r < count; r++) {
    const i = (r * 7919) % clients;
    const kind = r % 11 === 10 ? 2 : r % 2;
    const body = kind === 0
      ? { queryCircle: { x: Math.random() * 10_000, y: Math.random() * 10_000, radius: 50 } }
      : kind === 1
      ? { aoe: { radius: 50, amount: 1 } }
      : { setVelocity: { vx: 6, vy: 8 } };
    frames.push(encodeEnvelope({ clientId: ids[i], requestId: rid++, ...body }));
    owners.push(peers[i % 40]);
  }
  const timeIt = (fn: () => void, n: number): number => {
    fn(); // warm up
    const t = performance.now();
    fn();
    return round3(((performance.now() - t) / n) * 1000);
  };
  replies = replyBytes = 0;
  const handle = timeIt(() => {
    const now = performance.now();
    for (let r = 0; r < count; r++) node.handleFrame(owners[r], [frames[r]], now);
  }, count);
  const decode = timeIt(() => {
    for (let r = 0; r < count; r++) decodeEnvelope(frames[r]);
  }, count);
  const sample = {
    clientId: ids[0],
    requestId: 1,
    queryReply: { users: [{ id: 1, x: 1.5, y: 2.5, vx: 0, vy: 0, money: 1000 }], total: 1 },
  };
  const encode = timeIt(() => {
    for (let r = 0; r < count; r++) encodeEnvelope(sample);
  }, count);
  const ticks = quick ? 50 : 500;
  const tick = timeIt(() => {
    for (let t = 0; t < ticks; t++) node.tick(performance.now());
  }, ticks);
  return {
    users: clients,
    "handleFrame_us_per_request": handle,
    "decodeEnvelope_us": decode,
    "encodeEnvelope_query_reply_us": encode,
    "avg_reply_bytes": Math.round(replyBytes / Math.max(1, replies)),
    "tick_us": tick,
  };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
