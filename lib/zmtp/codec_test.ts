import assert from "node:assert/strict";
import {
  checkGreeting,
  commandFrame,
  concat,
  frame,
  greeting,
  messageFrames,
  readyCommand,
  readyProperties,
  type ZmtpEvent,
  ZmtpParser,
  ZmtpProtocolError,
} from "./codec.ts";

const bytes = (n: number, seed = 1) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

function parseAll(chunks: Uint8Array[], maxFrameSize = 1 << 20): ZmtpEvent[] {
  const events: ZmtpEvent[] = [];
  const parser = new ZmtpParser(maxFrameSize, (e) => events.push(e));
  for (const c of chunks) parser.push(c);
  return events;
}

Deno.test("our greeting is ZMTP 3.1 with the NULL mechanism, and checks as such", () => {
  const g = greeting();
  assert.equal(g.length, 64);
  assert.deepEqual(checkGreeting(g), { major: 3, minor: 1 });
});

Deno.test("greetings that are not ZMTP 3 with NULL are refused with the reason", () => {
  const notZmtp = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n".padEnd(64, " "));
  assert.throws(() => checkGreeting(notZmtp), /does not speak ZMTP/);
  const v2 = greeting();
  v2[10] = 2;
  assert.throws(() => checkGreeting(v2), /ZMTP 2, not 3/);
  const curve = greeting();
  curve.set(new TextEncoder().encode("CURVE"), 12);
  assert.throws(() => checkGreeting(curve), /CURVE mechanism/);
});

Deno.test("short and long frames, commands and multi-frame messages parse back, however the bytes are cut", () => {
  const small = bytes(10);
  const big = bytes(70_000, 7);
  const empty = new Uint8Array();
  const stream = concat([
    greeting(),
    readyCommand({ "Socket-Type": "ROUTER", Identity: "" }),
    frame(small),
    messageFrames([empty, big, small]),
    commandFrame("PING", Uint8Array.of(0, 10, 1, 2, 3)),
    frame(bytes(255, 3)),
    frame(bytes(256, 4)),
  ]);
  const expected = parseAll([stream]);
  assert.deepEqual(expected.map((e) => e.type), [
    "greeting",
    "command",
    "message",
    "message",
    "command",
    "message",
    "message",
  ]);
  const ready = expected[1] as { name: string; data: Uint8Array };
  assert.equal(ready.name, "READY");
  assert.deepEqual(readyProperties(ready.data), { "Socket-Type": "ROUTER", Identity: "" });
  assert.deepEqual((expected[2] as { frames: Uint8Array[] }).frames, [small]);
  assert.deepEqual((expected[3] as { frames: Uint8Array[] }).frames, [empty, big, small]);
  assert.deepEqual((expected[4] as { data: Uint8Array }).data, Uint8Array.of(0, 10, 1, 2, 3));
  assert.equal((expected[5] as { frames: Uint8Array[] }).frames[0].length, 255);
  assert.equal((expected[6] as { frames: Uint8Array[] }).frames[0].length, 256);
  // Byte by byte, and in uneven chunks: the same events.
  assert.deepEqual(parseAll([...stream].map((b) => Uint8Array.of(b))), expected);
  for (const size of [3, 63, 64, 65, 1000, 4096]) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += size) chunks.push(stream.slice(at, at + size));
    assert.deepEqual(parseAll(chunks), expected, `chunks of ${size}`);
  }
});

Deno.test("a frame over the limit, bad flags and a nameless command are protocol errors", () => {
  const g = greeting();
  assert.throws(() => parseAll([g, frame(bytes(2000))], 1000), ZmtpProtocolError);
  // The size alone is enough to refuse: the body never has to arrive.
  const header = frame(bytes(2000)).subarray(0, 9);
  assert.throws(() => parseAll([g, header], 1000), /a frame of 2000 bytes/);
  assert.throws(() => parseAll([g, Uint8Array.of(0x40, 0)]), /bad frame flags/);
  assert.throws(() => parseAll([g, Uint8Array.of(0x04, 0)]), /without its name/);
  assert.throws(() => readyProperties(Uint8Array.of(5, 65)), /malformed READY/);
});
