import assert from "node:assert/strict";
import * as zmq from "zeromq";
import { Libzmq, ZMQ_DEALER, ZMQ_ROUTER } from "./_libzmq.ts";
import { bytes, text } from "../../tests/support/transport/test_util.ts";

// zeromq.js loads the addon whose libzmq the FFI path opens.
new zmq.Context();
const lib = Libzmq.open();

// Where FFI is missing the test is ignored (and .ci/run counts it), unless CI requires FFI: then it
// runs and fails, so the FFI sockets' coverage cannot vanish unnoticed.
const ffiRequired = Deno.env.get("GAMESERVER_TEST_FFI") === "required";

Deno.test({
  name: "NativeSocket keeps multi-frame messages whole while signals interrupt libzmq (EINTR)",
  ignore: lib === undefined && !ffiRequired,
  async fn() {
    // Each libzmq call polls its command pipe and fails with EINTR when a signal lands on this
    // thread. A send that gave up after the routing id left the ROUTER mid-message, so the next
    // message (routing id included) was glued onto it; a receive that gave up split a message.
    assert.ok(lib, "libzmq could not be opened through FFI, and GAMESERVER_TEST_FFI=required");
    const zmqLib = lib;
    let signals = 0;
    const listener = () => signals++;
    Deno.addSignalListener("SIGUSR2", listener);
    const router = zmqLib.socket(ZMQ_ROUTER);
    const dealer = zmqLib.socket(ZMQ_DEALER);
    let killer: Deno.ChildProcess | undefined;
    try {
      router.configure({ linger: 0, sendHwm: 1_000_000, receiveHwm: 1_000_000, router: true });
      router.bind("tcp://127.0.0.1:0");
      dealer.configure({ linger: 0, sendHwm: 1_000_000, receiveHwm: 1_000_000, routingId: "d1" });
      dealer.connect(router.lastEndpoint);
      assert.equal(dealer.send([bytes("hello")]), 0);
      let hello: Uint8Array[] | undefined;
      const deadline = performance.now() + 10_000;
      while ((hello = router.receive()) === undefined) {
        assert.ok(performance.now() < deadline, "the dealer's first message arrives");
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const peer = hello[0];
      killer = new Deno.Command("bash", {
        args: ["-c", `while kill -USR2 ${Deno.pid} 2>/dev/null; do :; done`],
        stdout: "null",
        stderr: "null",
      }).spawn();
      let sent = 0;
      let received = 0;
      const broken: string[] = [];
      const check = (frames: Uint8Array[]) => {
        received++;
        const parts = frames.map(text);
        if (parts.length !== 3 || parts[0] !== "A" || parts[1] !== "B" || parts[2] !== "C") {
          if (broken.length < 5) broken.push(JSON.stringify(parts));
          else broken.length++;
        }
      };
      const end = performance.now() + 2000;
      while (performance.now() < end) {
        for (let i = 0; i < 200; i++) {
          if (router.send([peer, bytes("A"), bytes("B"), bytes("C")]) === 0) sent++;
        }
        for (let frames; (frames = dealer.receive()) !== undefined;) check(frames);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      killer.kill("SIGKILL");
      await killer.status;
      killer = undefined;
      const settle = performance.now() + 10_000;
      while (received < sent && performance.now() < settle) {
        for (let frames; (frames = dealer.receive()) !== undefined;) check(frames);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      console.log(`${sent} messages, ${signals} signals seen`);
      assert.ok(signals > 0, "signals arrived while messages flowed");
      assert.deepEqual(broken, [], "no message glued to another or cut in two");
      assert.equal(received, sent, "every message sent arrives");
    } finally {
      try {
        killer?.kill("SIGKILL");
      } catch { /* exited */ }
      await killer?.status;
      Deno.removeSignalListener("SIGUSR2", listener);
      router.close();
      dealer.close();
      await zmqLib.terminate();
    }
  },
});
