/**
 * A registry whose decisions a test makes: a real ROUTER socket speaking the cluster protocol, which
 * accepts every registration with the role the test assigned, acknowledges reports naming the master
 * the test chose, and sends commands when told. The sentinel's own logic is tested on its own; this is
 * for testing how a node reacts to a given sequence of registry messages.
 *
 * @module
 */
import { type Pump, RouterSocket } from "../../lib/transport/mod.ts";
import {
  type ClusterMessage,
  decodeCluster,
  encodeCluster,
  type NodeAddress,
  type Role,
} from "../../lib/protocol/mod.ts";

/** One node as the scripted registry knows it. */
export interface ScriptedNode {
  address: NodeAddress;
  peer: Uint8Array;
  reports: number;
  lastRole: Role;
}

/** A scripted registry on a free loopback port. */
export class ScriptedRegistry implements AsyncDisposable {
  readonly #socket: RouterSocket;
  readonly nodes = new Map<string, ScriptedNode>();
  /** Messages received, in order (for assertions). */
  readonly received: ClusterMessage[] = [];
  /** The node id named master in registration replies and report acks ("" = none). */
  masterId = "";
  /** The epoch sent with every message. */
  epoch = 1;
  /** False: messages are recorded but never answered (a registry that hangs or is cut off). */
  answering = true;

  private constructor(socket: RouterSocket) {
    this.#socket = socket;
  }

  /** Binds on a free loopback port. */
  static async start(pump: Pump): Promise<ScriptedRegistry> {
    const ref: { registry?: ScriptedRegistry } = {};
    const socket = await RouterSocket.bind(
      pump,
      "tcp://127.0.0.1:0",
      (peer, frames) => ref.registry?.onMessage(peer, frames),
    );
    ref.registry = new ScriptedRegistry(socket);
    return ref.registry;
  }

  /** The endpoint nodes register at. */
  get endpoint(): string {
    return `tcp://127.0.0.1:${this.#socket.port}`;
  }

  /** The address a node registered with. */
  address(nodeId: string): NodeAddress {
    const node = this.nodes.get(nodeId);
    if (!node) throw new Error(`${nodeId} has not registered`);
    return node.address;
  }

  /** Sends a command to a registered node, with the registry's epoch unless given. */
  send(nodeId: string, message: ClusterMessage): void {
    const node = this.nodes.get(nodeId);
    if (!node) throw new Error(`${nodeId} has not registered`);
    this.#socket.send(node.peer, encodeCluster({ epoch: this.epoch, ...message }));
  }

  #master(): NodeAddress | undefined {
    return this.masterId ? this.nodes.get(this.masterId)?.address : undefined;
  }

  /** Handles one message from a node (the socket's callback). */
  onMessage(peer: Uint8Array, frames: Uint8Array[]): void {
    const message = decodeCluster(frames[frames.length - 1]);
    this.received.push(message);
    if (!this.answering) return;
    if (message.register) {
      const address = message.register.address ?? {};
      const nodeId = address.nodeId ?? "";
      this.nodes.set(nodeId, {
        address,
        peer,
        reports: 0,
        lastRole: message.register.role ?? "ROLE_UNSPECIFIED",
      });
      this.#socket.send(
        peer,
        encodeCluster({
          epoch: this.epoch,
          registerReply: {
            accepted: true,
            role: nodeId === this.masterId ? "ROLE_MASTER" : "ROLE_SLAVE",
            master: this.#master() ?? {},
          },
        }),
      );
    } else if (message.report) {
      const node = this.nodes.get(message.report.nodeId ?? "");
      if (node) {
        node.reports++;
        node.lastRole = message.report.role ?? "ROLE_UNSPECIFIED";
      }
      this.#socket.send(
        peer,
        encodeCluster({
          epoch: this.epoch,
          reportAck: {
            known: node !== undefined,
            master: this.#master() ?? {},
            reportId: message.report.reportId,
          },
        }),
      );
    }
  }

  /** Closes the socket. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    return Promise.resolve();
  }
}
