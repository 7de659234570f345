/**
 * A ZeroMQ DEALER spoken by hand over a plain TCP connection (ZMTP 3.1, NULL security; the framing of `lib/zmtp/`), for tests
 * of peers that misbehave the way a hand-written client in any language can: it sends frames and
 * reads what the server sends back only when asked — or never.
 *
 * @module
 */

import { frame as frameBytes, hello } from "../../../lib/zmtp/mod.ts";

/** A DEALER over plain TCP that never reads unless told to. */
export class RawDealer implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /**
   * Connects to a ROUTER on `port`: sends the greeting and READY, and reads the server's (a peer may
   * send messages only once the handshake is done both ways: libzmq drops one whose data arrives
   * before it sent its own READY). Nothing is read after that.
   */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawDealer> {
    const conn = await Deno.connect({ hostname, port });
    const dealer = new RawDealer(conn);
    try {
      // The greeting, then READY announcing a DEALER with no routing id (the ROUTER picks one).
      await dealer.#write(hello("DEALER"));
      await dealer.#readHandshake();
    } catch (error) {
      dealer.close();
      throw error;
    }
    return dealer;
  }

  /** Reads the server's 64-byte greeting and its READY command. */
  async #readHandshake(): Promise<void> {
    let got = new Uint8Array(0);
    const need = async (n: number) => {
      while (got.length < n) {
        const chunk = new Uint8Array(n - got.length);
        const read = await this.#conn.read(chunk);
        if (read === null) throw new Error("The server closed the connection in the handshake");
        const next = new Uint8Array(got.length + read);
        next.set(got);
        next.set(chunk.subarray(0, read), got.length);
        got = next;
      }
    };
    await need(66);
    const flags = got[64];
    if ((flags & 0x04) === 0) throw new Error("The server's handshake has no READY command");
    if (flags & 0x02) {
      await need(73);
      const size = Number(new DataView(got.buffer).getBigUint64(65));
      await need(73 + size);
    } else {
      await need(66 + got[65]);
    }
  }

  /** Sends one message of one frame. */
  send(frame: Uint8Array): Promise<void> {
    return this.#write(frameBytes(frame));
  }

  /** Sends raw bytes as they are (a frame of any size header, garbage, …). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    return this.#write(bytes);
  }

  /**
   * True once the server closed the connection: reads (and discards) whatever is waiting, up to
   * `timeoutMs`, and reports whether the stream ended. Reading makes this peer a reader for a while.
   */
  async closedByServer(timeoutMs: number): Promise<boolean> {
    const buffer = new Uint8Array(65536);
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), Math.max(1, deadline - performance.now()));
      });
      try {
        const n = await Promise.race([this.#conn.read(buffer), timeout]);
        if (n === null) return true;
        if (n === "timeout") return false;
      } catch {
        return true;
      } finally {
        clearTimeout(timer);
      }
    }
    return false;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
