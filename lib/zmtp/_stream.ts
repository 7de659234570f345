/**
 * One raw ZMTP connection on the process's {@linkcode Reactor}: reads parsed as they arrive, writes
 * queued and sent once per burst, and closing. What the kernel does not take waits (bounded by the
 * owner) until epoll says the socket is writable again: a peer that stops reading costs nothing
 * until it reads. Both ends use it: the ROUTER's peers and the DEALER.
 *
 * @module
 */
import { EAGAIN, EINTR, EPOLLOUT, type Reactor, type Ready } from "./_reactor.ts";
import { concat, type ZmtpEvent, ZmtpParser, ZmtpProtocolError } from "./codec.ts";

const ENOTCONN = 107;
/** Reads per readiness, so one busy peer cannot hold the loop. */
const MAX_READS = 16;
const buffer = new Uint8Array(65_536);

/** Streams with queued bytes, written after the current burst. */
let dirty: RawStream[] = [];
let flushScheduled = false;

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  queueMicrotask(flushAll);
}

function flushAll(): void {
  flushScheduled = false;
  const list = dirty;
  dirty = [];
  for (const s of list) {
    s.dirty = false;
    s.flush();
  }
}

/** A raw connection: parser in, queue out. */
export class RawStream implements Ready {
  readonly fd: number;
  readonly #reactor: Reactor;
  readonly #parser: ZmtpParser;
  readonly #onClose: (error: Error | undefined) => void;
  #slot = 0;
  closed = false;
  dirty = false;
  /** Messages queued since the kernel last took everything, and the bytes it has not taken. */
  queuedMessages = 0;
  queuedBytes = 0;
  #queue: Uint8Array[] = [];
  /** True while the kernel's buffer was full and epoll is asked to say when it is not. */
  #awaitingWritable = false;

  /**
   * Watches `fd` (connected or connecting). `onEvent` gets what the peer sends (what it throws
   * closes the stream); `onClose` is told once when the stream ends, with the reason if it failed.
   */
  constructor(
    reactor: Reactor,
    fd: number,
    maxFrameSize: number,
    onEvent: (event: ZmtpEvent) => void,
    onClose: (error: Error | undefined) => void,
  ) {
    this.fd = fd;
    this.#reactor = reactor;
    this.#parser = new ZmtpParser(maxFrameSize, onEvent);
    this.#onClose = onClose;
    const slot = reactor.add(fd, this);
    if (slot === undefined) {
      this.closed = true;
      reactor.close(fd, 0);
      queueMicrotask(() => onClose(new Error("the socket could not be watched")));
    } else this.#slot = slot;
  }

  /** Queues bytes to write after the current burst (or once the socket is writable again). */
  write(bytes: Uint8Array): void {
    if (this.closed) return;
    this.#queue.push(bytes);
    this.queuedMessages++;
    this.queuedBytes += bytes.length;
    if (!this.dirty && !this.#awaitingWritable) {
      this.dirty = true;
      dirty.push(this);
      scheduleFlush();
    }
  }

  /** Writes what the kernel takes; what it leaves is written when epoll says it is writable. */
  flush(): void {
    if (this.#awaitingWritable || this.#write()) return;
    this.#awaitingWritable = true;
    this.#reactor.watchWritable(this.fd, this.#slot, true);
  }

  /** Writes the queue; true when nothing is left. */
  #write(): boolean {
    if (this.closed || this.#queue.length === 0) return true;
    const batch = this.#queue.length === 1 ? this.#queue[0] : concat(this.#queue);
    const n = this.#reactor.send(this.fd, batch);
    if (n < 0 && n !== -EAGAIN && n !== -EINTR && n !== -ENOTCONN) {
      this.close(new Error(`write failed: errno ${-n}`));
      return true;
    }
    const written = Math.max(0, n);
    // The same array either way: a long-lived stream points to no new object between bursts.
    this.#queue.length = 0;
    if (written === batch.length) {
      this.queuedMessages = 0;
      this.queuedBytes = 0;
      return true;
    }
    // The messages of a batch the kernel took part of all still count as queued, so a peer that
    // stops reading reaches its owner's message bound (sendHwm) and then its byte bound.
    this.#queue.push(written === 0 ? batch : batch.subarray(written));
    this.queuedBytes -= written;
    return false;
  }

  /** Writes what waited for room, then reads what is there (the reactor calls this when ready). */
  onReady(events: number): void {
    if (events & EPOLLOUT && this.#awaitingWritable && this.#write()) {
      this.#awaitingWritable = false;
      this.#reactor.watchWritable(this.fd, this.#slot, false);
    }
    if ((events & ~EPOLLOUT) === 0) return;
    for (let reads = 0; reads < MAX_READS && !this.closed; reads++) {
      const n = this.#reactor.recv(this.fd, buffer);
      if (n === 0) return this.close(new Error("the peer closed the connection"));
      if (n < 0) {
        if (n === -EAGAIN || n === -EINTR) return;
        return this.close(new Error(`read failed: errno ${-n}`));
      }
      try {
        this.#parser.push(buffer.subarray(0, n));
      } catch (error) {
        return this.close(error instanceof Error ? error : new ZmtpProtocolError(String(error)));
      }
      if (n < buffer.length) return;
    }
    // Queued sends (replies to what was just read) go out with the burst.
    if (this.dirty) scheduleFlush();
  }

  /** Closes the connection; `onClose` hears `error` (undefined: closed by its owner). */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue.length = 0;
    this.queuedMessages = 0;
    this.queuedBytes = 0;
    this.#reactor.close(this.fd, this.#slot);
    this.#onClose(error);
  }
}
