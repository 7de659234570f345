/**
 * Helpers for the transport's tests: the socket and wait modes to cover, bounded waits for events
 * (never a bare sleep), bytes and text.
 *
 * @module
 */
import {
  Pump,
  type PumpOptions,
  type PumpSocketMode,
  type PumpWaitMode,
} from "../../../lib/transport/mod.ts";

/**
 * The ways plain sockets can reach libzmq here: "ffi" (where Linux, FFI and zeromq.js's addon
 * allow) and "zeromq.js". Tests run over each.
 */
export async function socketModes(): Promise<PumpSocketMode[]> {
  return await ffiWorks({ sockets: "ffi" }, "FFI sockets unavailable here: testing zeromq.js only")
    ? ["ffi", "zeromq.js"]
    : ["zeromq.js"];
}

/** The ways the pump can wait here: "epoll" (where Linux and FFI allow) and "timer". */
export async function waitModes(): Promise<Exclude<PumpWaitMode, "auto">[]> {
  return await ffiWorks({ wait: "epoll" }, "epoll unavailable here: testing timer waits only")
    ? ["epoll", "timer"]
    : ["timer"];
}

/**
 * Whether a pump with `options` (which need FFI) can be made here. If not, says `unavailable` and
 * answers false, or throws where CI sets `GAMESERVER_TEST_FFI=required`, so that FFI coverage
 * cannot vanish unnoticed.
 */
async function ffiWorks(options: PumpOptions, unavailable: string): Promise<boolean> {
  try {
    await using _ = new Pump(options);
    return true;
  } catch (error) {
    if (Deno.env.get("GAMESERVER_TEST_FFI") === "required") throw error;
    console.log(`${unavailable}: ${(error as Error).message}`);
    return false;
  }
}

/** Resolves with `promise`, or rejects naming `what` if it takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `condition()` holds (checked every few ms), or rejects after `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A counter that resolves `reached` once it has been incremented `target` times. */
export function countdown(
  target: number,
): { tick(): void; reached: Promise<void>; count(): number } {
  let n = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  if (target <= 0) resolve();
  return {
    tick() {
      if (++n === target) resolve();
    },
    reached: promise,
    count: () => n,
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Text of UTF-8 `data`. */
export function text(data: Uint8Array): string {
  return decoder.decode(data);
}
