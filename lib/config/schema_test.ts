import assert from "node:assert/strict";
import {
  applyFlag,
  applyObject,
  bool,
  type ConfigOf,
  defaults,
  describe,
  group,
  int,
  list,
  loadConfig,
  num,
  oneOf,
  str,
} from "./schema.ts";
import { CLIENT_SCHEMA, NODE_SCHEMA, REGISTRY_SCHEMA } from "./schemas.ts";
import { ConfigError } from "./errors.ts";
import { clusterCurve } from "./cluster_curve.ts";
import { bindEndpoint, connectEndpoint } from "./endpoint.ts";

/** A small schema with one field of every kind. */
const SCHEMA = {
  name: str("node-1", "Name", { pattern: /^[a-z0-9-]+$/, hint: "lowercase words" }),
  port: int(7000, 0, 65535, "Port"),
  ratio: num(0.5, -1, 1, "Ratio"),
  mode: oneOf("single", ["single", "cluster"] as const, "Mode"),
  pretty: bool(true, "Pretty"),
  peers: list(["tcp://a:1"], "Peers", { pattern: /^tcp:\/\//, hint: "tcp://HOST:PORT" }),
  world: group({
    width: num(100, 1, 1000, "Width"),
    limits: group({ users: int(10, 1, 100, "Users") }, "Limits"),
  }, "World"),
};
type Config = ConfigOf<typeof SCHEMA>;

/** Asserts that `fn` throws a ConfigError whose message matches `pattern`. */
function assertConfigError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.equal(err.name, "ConfigError");
    assert.match(err.message, pattern);
    return true;
  });
}

async function assertRejectsConfig(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("defaults() returns every field's default, nested groups included", () => {
  assert.deepEqual(defaults(SCHEMA), {
    name: "node-1",
    port: 7000,
    ratio: 0.5,
    mode: "single",
    pretty: true,
    peers: ["tcp://a:1"],
    world: { width: 100, limits: { users: 10 } },
  });
});

Deno.test("defaults() hands out fresh objects and lists each time", () => {
  const a = defaults(SCHEMA);
  a.peers.push("tcp://b:2");
  a.world.limits.users = 99;
  const b = defaults(SCHEMA);
  assert.deepEqual(b.peers, ["tcp://a:1"]);
  assert.equal(b.world.limits.users, 10);
  assert.deepEqual(SCHEMA.peers.default, ["tcp://a:1"]);
});

Deno.test("defaults() of the shipped schemas pass their own checks", () => {
  for (const schema of [NODE_SCHEMA, REGISTRY_SCHEMA, CLIENT_SCHEMA]) {
    const config = defaults(schema);
    // Feeding the defaults back as a file value must be accepted unchanged.
    assert.deepEqual(
      applyObject(schema, defaults(schema), structuredClone(config), "d.json"),
      config,
    );
  }
  const node = defaults(NODE_SCHEMA);
  assert.equal(node.mode, "single");
  assert.equal(node.world.tick_time, 0.02);
  assert.equal(node.clients.session_linger_ms, 30_000);
  assert.equal(node.cluster.min_replicas_to_ack, -1);
  assert.deepEqual(node.curve, { public_key: "", secret_key: "" });
});

Deno.test("applyObject() merges a nested value over the base without changing the base", () => {
  const base = defaults(SCHEMA);
  const before = structuredClone(base);
  const merged = applyObject(SCHEMA, base, {
    port: 0,
    peers: [],
    world: { limits: { users: 100 } },
  }, "a.json");
  assert.deepEqual(merged, {
    ...before,
    port: 0,
    peers: [],
    world: { width: 100, limits: { users: 100 } },
  });
  assert.deepEqual(base, before);
  assert.deepEqual(applyObject(SCHEMA, base, {}, "a.json"), before);
});

Deno.test("applyObject() copies lists, so the config does not share them with the value", () => {
  const peers = ["tcp://x:1"];
  const merged = applyObject(SCHEMA, defaults(SCHEMA), { peers }, "a.json");
  peers.push("tcp://y:2");
  assert.deepEqual(merged.peers, ["tcp://x:1"]);
});

Deno.test("applyObject() rejects unknown fields, naming the file and the dotted path", async (t) => {
  const cases: [unknown, RegExp][] = [
    [
      { prot: 1 },
      /^a\.json: unknown field "prot" \(known here: name, port, ratio, mode, pretty, peers, world\)$/,
    ],
    [
      { world: { height: 5 } },
      /^a\.json: unknown field "world\.height" \(known here: width, limits\)$/,
    ],
    [{ world: { limits: { Users: 5 } } }, /unknown field "world\.limits\.Users"/],
    // Names of Object.prototype are no fields either.
    [{ constructor: 1 }, /^a\.json: unknown field "constructor"/],
    [{ toString: "x" }, /unknown field "toString"/],
    [{ world: { hasOwnProperty: 1 } }, /unknown field "world\.hasOwnProperty"/],
    [JSON.parse(`{"__proto__": {"port": 1}}`), /unknown field "__proto__"/],
  ];
  for (const [value, pattern] of cases) {
    await t.step(JSON.stringify(value), () => {
      assertConfigError(() => applyObject(SCHEMA, defaults(SCHEMA), value, "a.json"), pattern);
    });
  }
});

Deno.test("applyObject() rejects values of the wrong type", async (t) => {
  const cases: [unknown, RegExp][] = [
    [null, /^a\.json: the top level must be a JSON object$/],
    [[], /the top level must be a JSON object/],
    ["port=1", /the top level must be a JSON object/],
    [{ world: 5 }, /^a\.json: world must be a JSON object$/],
    [{ world: { limits: [] } }, /world\.limits must be a JSON object/],
    [{ port: "7000" }, /^a\.json: field "port" must be an integer$/],
    [{ port: 7000.5 }, /field "port" must be an integer/],
    [{ port: null }, /field "port" must be an integer/],
    [{ ratio: "0.5" }, /field "ratio" must be a finite number/],
    [{ ratio: true }, /field "ratio" must be a finite number/],
    [{ name: 5 }, /field "name" must be a string/],
    [{ name: "Node 1" }, /field "name" must be lowercase words, got "Node 1"/],
    [{ mode: "master" }, /field "mode" must be one of "single", "cluster", got "master"/],
    [{ mode: 1 }, /field "mode" must be one of .*, got 1/],
    [{ pretty: "true" }, /field "pretty" must be true or false/],
    [{ pretty: 1 }, /field "pretty" must be true or false/],
    [{ peers: "tcp://a:1" }, /field "peers" must be a list of strings/],
    [{ peers: ["tcp://a:1", 2] }, /field "peers" must be a list of strings/],
    [
      { peers: ["udp://a:1"] },
      /field "peers" entries must be tcp:\/\/HOST:PORT, got "udp:\/\/a:1"/,
    ],
    [{ world: { width: "wide" } }, /field "world\.width" must be a finite number/],
  ];
  for (const [value, pattern] of cases) {
    await t.step(JSON.stringify(value), () => {
      assertConfigError(() => applyObject(SCHEMA, defaults(SCHEMA), value, "a.json"), pattern);
    });
  }
});

Deno.test("applyObject() checks ranges, inclusive at both ends", async (t) => {
  const cases: [Partial<Config> | Record<string, unknown>, boolean][] = [
    [{ port: 0 }, true],
    [{ port: 65535 }, true],
    [{ port: -1 }, false],
    [{ port: 65536 }, false],
    [{ ratio: -1 }, true],
    [{ ratio: 1 }, true],
    [{ ratio: 1.0000001 }, false],
    [{ world: { width: 1 } }, true],
    [{ world: { width: 0.5 } }, false],
    [{ world: { limits: { users: 101 } } }, false],
  ];
  for (const [value, ok] of cases) {
    await t.step(`${JSON.stringify(value)} ${ok ? "passes" : "fails"}`, () => {
      const apply = () => applyObject(SCHEMA, defaults(SCHEMA), value, "a.json");
      if (ok) apply();
      else assertConfigError(apply, /must be between .* and .*, got /);
    });
  }
  await t.step("the message names the range and the value", () => {
    assertConfigError(
      () =>
        applyObject(
          NODE_SCHEMA,
          defaults(NODE_SCHEMA),
          { clients: { max_frame_bytes: 10 } },
          "n.json",
        ),
      /^n\.json: field "clients\.max_frame_bytes" must be between 64 and 16777216, got 10$/,
    );
  });
});

Deno.test("applyFlag() converts the text to the field's type", async (t) => {
  const config = defaults(SCHEMA);
  const cases: [string, string, unknown, (c: Config) => unknown][] = [
    ["port", "8080", 8080, (c) => c.port],
    ["port", " 9 ", 9, (c) => c.port],
    ["ratio", "-0.25", -0.25, (c) => c.ratio],
    ["ratio", "1e-3", 0.001, (c) => c.ratio],
    ["pretty", "false", false, (c) => c.pretty],
    ["pretty", "true", true, (c) => c.pretty],
    ["mode", "cluster", "cluster", (c) => c.mode],
    ["name", "n-2", "n-2", (c) => c.name],
    ["peers", "tcp://a:1, tcp://b:2", ["tcp://a:1", "tcp://b:2"], (c) => c.peers],
    ["peers", "", [], (c) => c.peers],
    ["world.width", "250", 250, (c) => c.world.width],
    ["world.limits.users", "42", 42, (c) => c.world.limits.users],
  ];
  for (const [path, text, expected, read] of cases) {
    await t.step(`${path}=${text}`, () => {
      applyFlag(SCHEMA, config, path, text);
      assert.deepEqual(read(config), expected);
    });
  }
});

Deno.test("applyFlag() rejects bad text and bad paths, naming the flag", async (t) => {
  const cases: [string, string, RegExp, string?][] = [
    ["port", "abc", /^flag --set port: field "port" must be an integer$/],
    ["port", "", /field "port" must be an integer/],
    ["port", "1.5", /field "port" must be an integer/],
    ["port", "70000", /must be between 0 and 65535, got 70000/],
    ["ratio", "Infinity", /field "ratio" must be a finite number/],
    ["ratio", " ", /field "ratio" must be a finite number/],
    ["pretty", "yes", /field "pretty" must be true or false/],
    ["pretty", "TRUE", /field "pretty" must be true or false/],
    ["mode", "master", /field "mode" must be one of "single", "cluster", got "master"/],
    ["name", "UPPER", /field "name" must be lowercase words/],
    ["peers", "tcp://a:1,udp://b:2", /entries must be tcp:\/\/HOST:PORT, got "udp:\/\/b:2"/],
    ["prot", "1", /^flag --set prot: unknown field "prot"$/],
    ["world.height", "1", /unknown field "world\.height"/],
    ["world.limits.users.max", "1", /"users" is not a group/],
    ["port.x", "1", /^flag --set port\.x: "port" is not a group$/],
    ["world", "1", /^flag --set world: "world" is a group$/],
    ["world.limits", "1", /"world\.limits" is a group/],
    ["", "1", /unknown field ""/],
    ["constructor", "1", /unknown field "constructor"/],
    ["world.hasOwnProperty", "1", /unknown field "world\.hasOwnProperty"/],
    ["port", "x", /^flag --port: field "port" must be an integer$/, "flag --port"],
  ];
  for (const [path, text, pattern, source] of cases) {
    await t.step(`${path}=${text}`, () => {
      const config = defaults(SCHEMA);
      const before = structuredClone(config);
      assertConfigError(() => applyFlag(SCHEMA, config, path, text, source), pattern);
      assert.deepEqual(config, before);
    });
  }
});

Deno.test("loadConfig() layers defaults, then the file, then --set flags", async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(
      file,
      JSON.stringify({ port: 7100, mode: "cluster", world: { width: 300 } }),
    );
    const config = await loadConfig(SCHEMA, {
      file,
      sets: ["port=7200", "world.limits.users=5", "name=x"],
    });
    assert.deepEqual(config, {
      ...defaults(SCHEMA),
      name: "x",
      port: 7200,
      mode: "cluster",
      world: { width: 300, limits: { users: 5 } },
    });
    // The last --set of a field wins; "=" after the first belongs to the value.
    const again = await loadConfig(SCHEMA, { sets: ["port=1", "port=2", "peers=tcp://h:1?a=b"] });
    assert.equal(again.port, 2);
    assert.deepEqual(again.peers, ["tcp://h:1?a=b"]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("loadConfig() without a file or flags returns the defaults", async () => {
  assert.deepEqual(await loadConfig(SCHEMA), defaults(SCHEMA));
  assert.deepEqual(await loadConfig(NODE_SCHEMA, {}), defaults(NODE_SCHEMA));
});

Deno.test("loadConfig() reports an unusable file or flag by name", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("a missing file", async () => {
      const missing = `${dir}/missing.json`;
      await assertRejectsConfig(
        () => loadConfig(SCHEMA, { file: missing }),
        new RegExp(`^${escape(missing)}: cannot read config \\(file not found\\)$`),
      );
    });
    await t.step("a directory instead of a file", async () => {
      await assertRejectsConfig(
        () => loadConfig(SCHEMA, { file: dir }),
        new RegExp(`^${escape(dir)}: cannot read config`),
      );
    });
    await t.step("a file that is not JSON", async () => {
      const bad = `${dir}/bad.json`;
      await Deno.writeTextFile(bad, `{"port": 7000,}`);
      await assertRejectsConfig(
        () => loadConfig(SCHEMA, { file: bad }),
        new RegExp(`^${escape(bad)}: not valid JSON \\(`),
      );
    });
    await t.step("an empty file", async () => {
      const empty = `${dir}/empty.json`;
      await Deno.writeTextFile(empty, "");
      await assertRejectsConfig(() => loadConfig(SCHEMA, { file: empty }), /not valid JSON/);
    });
    await t.step("a file with a bad field", async () => {
      const wrong = `${dir}/wrong.json`;
      await Deno.writeTextFile(wrong, `{"world": {"limits": {"users": 0}}}`);
      await assertRejectsConfig(
        () => loadConfig(SCHEMA, { file: wrong }),
        new RegExp(
          `^${escape(wrong)}: field "world\\.limits\\.users" must be between 1 and 100, got 0$`,
        ),
      );
    });
    await t.step("a --set without path=value", async () => {
      for (const set of ["port", "=5", ""]) {
        await assertRejectsConfig(
          () => loadConfig(SCHEMA, { sets: [set] }),
          new RegExp(`^flag --set "${set}": expected path=value$`),
        );
      }
    });
    await t.step("a --set with a bad value", async () => {
      await assertRejectsConfig(
        () => loadConfig(SCHEMA, { sets: ["world.width=0"] }),
        /^flag --set world\.width: field "world\.width" must be between 1 and 1000, got 0$/,
      );
    });
    await t.step("errors keep their cause", async () => {
      try {
        await loadConfig(SCHEMA, { file: `${dir}/missing.json` });
        assert.fail("expected a rejection");
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.cause instanceof Deno.errors.NotFound);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("describe() renders one Markdown row per field with its default and range", () => {
  assert.deepEqual(describe(SCHEMA), [
    '| `name` | `"node-1"` | Name |',
    "| `port` | `7000` (0 to 65535) | Port |",
    "| `ratio` | `0.5` (-1 to 1) | Ratio |",
    '| `mode` | `"single"` (single \\| cluster) | Mode |',
    "| `pretty` | `true` | Pretty |",
    '| `peers` | `["tcp://a:1"]` | Peers |',
    "| `world.width` | `100` (1 to 1000) | Width |",
    "| `world.limits.users` | `10` (1 to 100) | Users |",
  ]);
});

Deno.test("the shipped schemas accept IPv6 hosts and endpoints and reject others", () => {
  const node = applyObject(NODE_SCHEMA, defaults(NODE_SCHEMA), {
    bind: "::",
    host: "fe80::1",
    registry: ["tcp://[::1]:7100", "tcp://registry.example:7100"],
  }, "n.json");
  assert.equal(node.host, "fe80::1");
  assertConfigError(
    () => applyObject(NODE_SCHEMA, defaults(NODE_SCHEMA), { registry: ["tcp://[::1]"] }, "n.json"),
    /field "registry" entries must be tcp:\/\/HOST:PORT, got "tcp:\/\/\[::1\]"/,
  );
  assertConfigError(
    () => applyObject(NODE_SCHEMA, defaults(NODE_SCHEMA), { host: "a host" }, "n.json"),
    /field "host" must be a host name or address/,
  );
  assertConfigError(
    () =>
      applyObject(NODE_SCHEMA, defaults(NODE_SCHEMA), { curve: { public_key: "short" } }, "n.json"),
    /field "curve\.public_key" must be a 40-character Z85 key/,
  );
});

Deno.test("clusterCurve() builds both ends from the shared keypair", async (t) => {
  const publicKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  const secretKey = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
  await t.step("no keys: plain TCP", () => {
    assert.equal(clusterCurve({ public_key: "", secret_key: "" }), undefined);
  });
  await t.step("both keys", () => {
    assert.deepEqual(clusterCurve({ public_key: publicKey, secret_key: secretKey }), {
      server: { publicKey, secretKey, allowedClientKeys: [publicKey] },
      client: { serverPublicKey: publicKey, publicKey, secretKey },
    });
  });
  await t.step("one key without the other", () => {
    assertConfigError(
      () => clusterCurve({ public_key: publicKey, secret_key: "" }, "node.json"),
      /^node\.json: curve\.public_key and curve\.secret_key must be set together$/,
    );
    assertConfigError(
      () => clusterCurve({ public_key: "", secret_key: secretKey }),
      /^config: curve\.public_key and curve\.secret_key must be set together$/,
    );
  });
});

Deno.test("bindEndpoint() and connectEndpoint() format IPv4, names, wildcards and IPv6", () => {
  assert.equal(bindEndpoint("127.0.0.1", 7000), "tcp://127.0.0.1:7000");
  assert.equal(bindEndpoint("0.0.0.0", 7000), "tcp://*:7000");
  assert.equal(bindEndpoint("*", 0), "tcp://*:0");
  assert.equal(bindEndpoint("::", 7000), "tcp://[::]:7000");
  assert.equal(bindEndpoint("::1", 7000), "tcp://[::1]:7000");
  assert.equal(bindEndpoint("[::1]", 7000), "tcp://[::1]:7000");
  assert.equal(connectEndpoint("localhost", 65535), "tcp://localhost:65535");
  assert.equal(connectEndpoint("fe80::1", 7001), "tcp://[fe80::1]:7001");
  assert.equal(connectEndpoint("[2001:db8::2]", 7001), "tcp://[2001:db8::2]:7001");
  assert.equal(connectEndpoint("10.1.2.3", 1), "tcp://10.1.2.3:1");
});
