/**
 * A bare WebSocket client for tests of a node's `/ws` port: sends exactly the messages a test
 * builds (text or binary), keeps every message in order and tells how the socket closed.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  type WireFormat,
} from "../../lib/protocol/mod.ts";

/** A message from the node: text (JSON) or binary (protobuf). */
export type WsMessage = string | Uint8Array;

/** An open WebSocket to a node, its messages read one by one. */
export class RawWebSocket implements AsyncDisposable {
  /** Resolves with the close code and reason once the socket closed (either side). */
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #socket: WebSocket;
  readonly #inbox: WsMessage[] = [];
  #waiter: (() => void) | undefined;
  #requestId = 0;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      const data = event.data;
      this.#inbox.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
      this.#wake();
    };
    this.closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        resolve({ code: event.code, reason: event.reason });
        this.#wake();
      };
    });
  }

  /** Opens a WebSocket to `url` and waits until it is open. */
  static async open(url: string, timeoutMs = 10_000): Promise<RawWebSocket> {
    const socket = new WebSocket(url);
    const ws = new RawWebSocket(socket);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(() => reject(new Error(`${url} did not open`)), timeoutMs);
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error(`${url} failed to open`));
    try {
      await promise;
    } finally {
      clearTimeout(timer);
    }
    socket.onerror = () => {};
    return ws;
  }

  /** True while the socket is open. */
  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Sends one message as is (a string goes as text, bytes as binary). */
  send(data: WsMessage): void {
    this.#socket.send(data);
  }

  /** The next message, or an error after `timeoutMs` or once the socket closed. */
  async next(timeoutMs = 10_000): Promise<WsMessage> {
    const deadline = performance.now() + timeoutMs;
    while (this.#inbox.length === 0) {
      if (this.#socket.readyState === WebSocket.CLOSED) throw new Error("The socket closed");
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`No message within ${timeoutMs} ms`);
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiter = resolve;
      const timer = setTimeout(resolve, left);
      await promise;
      clearTimeout(timer);
    }
    return this.#inbox.shift()!;
  }

  /** The next message, decoded; asserts it came in `format`'s kind (JSON as text). */
  async reply(format: WireFormat, timeoutMs = 10_000): Promise<Envelope> {
    const message = await this.next(timeoutMs);
    assert.equal(
      typeof message === "string" ? "json" : "binary",
      format,
      "a reply comes in its request's kind",
    );
    return decodeEnvelope(
      typeof message === "string" ? new TextEncoder().encode(message) : message,
      format,
    );
  }

  /**
   * Sends `body` as `clientId` in `format` (JSON as a text message) and returns the reply with its
   * request id; notices in between are skipped.
   */
  async request(clientId: string, body: Envelope, format: WireFormat): Promise<Envelope> {
    const requestId = ++this.#requestId;
    const frame = encodeEnvelope({ ...body, clientId, requestId }, format);
    this.send(format === "json" ? new TextDecoder().decode(frame) : frame);
    while (true) {
      const reply = await this.reply(format);
      if (reply.requestId === requestId) {
        assert.equal(reply.clientId, clientId, "the reply names the client id");
        return reply;
      }
    }
  }

  /** Closes the socket and waits until it is closed. */
  async close(): Promise<void> {
    if (this.#socket.readyState < WebSocket.CLOSING) this.#socket.close();
    await this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
