/**
 * The test harness of the game node tests: a node with a fake transport, client ids, peers and
 * reply assertions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { GameNode } from "./game_node.ts";
import type { ForwardedWrite, WritePath } from "./write_path.ts";
import { defaults, NODE_SCHEMA, type NodeConfig } from "../config/mod.ts";
import {
  decodeEnvelope,
  detectFormat,
  encodeEnvelope,
  type Envelope,
  type ErrorCode,
  type WireFormat,
} from "../protocol/mod.ts";
import { mulberry32 } from "../random/mod.ts";

/** A client id. */
export const A = "0f8fad5b-d9cb-469f-a165-70867728950e";
/** Another client id. */
export const B = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
/** A third client id. */
export const C = "16fd2706-8baf-433b-82eb-8c7fada847da";
/** A connection (peer routing id). */
export const PEER_1 = new Uint8Array([0, 0, 0, 1]);
/** Another connection. */
export const PEER_2 = new Uint8Array([0, 0, 0, 2]);
/** A third connection. */
export const PEER_3 = new Uint8Array([0, 0, 0, 3]);

/** A frame the node sent, and to whom. */
export interface Sent {
  peer: Uint8Array;
  frame: Uint8Array;
}

/** A node with a fake transport that collects every frame it sends. */
export class Harness {
  /** The node under test. */
  readonly node: GameNode;
  /** The config the node was built with. */
  readonly config: NodeConfig;
  /** Every frame the node sent, in order. */
  readonly sent: Sent[] = [];
  #requestId = 0;

  /** A node with the test defaults (a 1000 × 1000 world) changed by `patch`. */
  constructor(
    patch: (config: NodeConfig) => void = () => {},
    options: {
      accept?: boolean;
      writePath?: WritePath;
      backlogBytes?: (peer: Uint8Array) => number;
    } = {},
  ) {
    this.config = defaults(NODE_SCHEMA);
    this.config.world.width = 1000;
    this.config.world.height = 1000;
    patch(this.config);
    this.node = new GameNode({
      config: this.config,
      send: (peer, frame) => {
        this.sent.push({ peer, frame });
        return options.accept ?? true;
      },
      random: mulberry32(1),
      writePath: options.writePath,
      backlogBytes: options.backlogBytes,
    }, 0);
  }

  /** Feeds raw frames to the node and returns the replies it sent, decoded. */
  frames(peer: Uint8Array, frames: Uint8Array[], now: number): Envelope[] {
    const start = this.sent.length;
    this.node.handleFrame(peer, frames, now);
    return this.sent.slice(start).map((s) => {
      assert.deepEqual(s.peer, peer, "a reply goes back to the peer that asked");
      return decodeEnvelope(s.frame);
    });
  }

  /** Sends one request from `clientId` on `peer` and returns its single reply. */
  call(
    clientId: string,
    peer: Uint8Array,
    body: Envelope,
    now: number,
    format: WireFormat = "binary",
  ): Envelope {
    const requestId = ++this.#requestId;
    const frame = encodeEnvelope({ clientId, requestId, ...body }, format);
    const replies = this.frames(peer, [frame], now);
    assert.equal(replies.length, 1, "one reply per request");
    assert.equal(detectFormat(this.sent[this.sent.length - 1].frame), format, "reply format");
    assert.equal(replies[0].clientId, clientId);
    assert.equal(replies[0].requestId, requestId);
    return replies[0];
  }

  /** Logs `clientId` in on `peer` and returns the login reply (asserting it is one). */
  login(clientId: string, peer: Uint8Array, now: number) {
    const reply = this.call(clientId, peer, { login: {} }, now);
    assert.equal(reply.msg, "loginReply", JSON.stringify(reply.error));
    return reply.loginReply!;
  }
}

/** Asserts that `reply` is an error with `code`, its message matching `pattern` when given. */
export function assertError(reply: Envelope, code: ErrorCode, pattern?: RegExp): void {
  assert.equal(reply.msg, "error", `expected ${code}, got ${reply.msg}`);
  assert.equal(reply.error?.code, code, reply.error?.message ?? "");
  if (pattern) assert.match(reply.error?.message ?? "", pattern);
}

/** A slave whose forwarded writes wait until the test answers them (as the master would). */
export function slaveHarness(patch: (config: NodeConfig) => void = () => {}) {
  const forwarded: ForwardedWrite[] = [];
  const h = new Harness((c) => {
    c.mode = "cluster";
    c.role = "slave";
    patch(c);
  }, {
    writePath: {
      forward: (write) => {
        forwarded.push(write);
        return true;
      },
    },
  });
  h.node.becomeSlave("master", 1);
  return { h, forwarded };
}

/** The master's answer to a forwarded login. */
export function loginDone(write: ForwardedWrite, userId: number, generation = 0): void {
  write.done({
    clientId: write.clientId,
    requestId: write.requestId,
    loginReply: { userId, sessionToken: "ab".repeat(16) },
  }, generation);
}
