import assert from "node:assert/strict";
import { type CommandSpec, helpText, parseCommandLine } from "./command_line.ts";
import { bool, defaults, group, int, oneOf } from "./schema.ts";
import { ConfigError } from "./errors.ts";
import { NODE_SCHEMA } from "./schemas.ts";

const SCHEMA = {
  client_port: int(7000, 0, 65535, "Port for clients"),
  log_level: oneOf("info", ["debug", "info"] as const, "Lowest level logged"),
  pretty_log: bool(true, "Human-readable log lines"),
  world: group({ max_users: int(100, 1, 1000, "Most users") }, "The world"),
};

const SPEC: CommandSpec<typeof SCHEMA> = {
  name: "gameserver",
  summary: "Runs a game node.",
  usage: ["gameserver status"],
  schema: SCHEMA,
  flags: {
    port: { field: "client_port", doc: "Client port" },
    "max-users": { field: "world.max_users", doc: "Most users" },
  },
  switches: { "gen-keys": "Print a new keypair and exit" },
};

async function assertRejectsConfig(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

async function withConfigFile<T>(value: unknown, fn: (file: string) => Promise<T>): Promise<T> {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify(value));
    return await fn(file);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("parseCommandLine() with no arguments returns the defaults", async () => {
  const line = await parseCommandLine(SPEC, []);
  assert.deepEqual(line, {
    config: defaults(SCHEMA),
    positionals: [],
    switches: new Set(),
    help: false,
    file: undefined,
  });
});

Deno.test("parseCommandLine() keeps positionals in order around flags", async () => {
  const line = await parseCommandLine(SPEC, ["status", "--port=7100", "now", "--", "--port"]);
  assert.deepEqual(line.positionals, ["status", "now", "--port"]);
  assert.equal(line.config.client_port, 7100);
});

Deno.test("parseCommandLine() layers the file, then --set, then shortcut flags", async (t) => {
  await withConfigFile({ client_port: 7100, world: { max_users: 200 } }, async (file) => {
    await t.step("the file over the defaults", async () => {
      const line = await parseCommandLine(SPEC, [`--config=${file}`]);
      assert.equal(line.file, file);
      assert.equal(line.config.client_port, 7100);
      assert.equal(line.config.world.max_users, 200);
      assert.equal(line.config.log_level, "info");
    });
    await t.step("--set over the file, repeatable, in both spellings", async () => {
      const line = await parseCommandLine(SPEC, [
        "--config",
        file,
        "--set",
        "client_port=7200",
        "--set=log_level=debug",
        "--set",
        "pretty_log=false",
      ]);
      assert.deepEqual(line.config, {
        client_port: 7200,
        log_level: "debug",
        pretty_log: false,
        world: { max_users: 200 },
      });
    });
    await t.step("a shortcut flag over --set and the file", async () => {
      const line = await parseCommandLine(SPEC, [
        `--config=${file}`,
        "--set",
        "client_port=7200",
        "--port",
        "7300",
        "--max-users=300",
      ]);
      assert.equal(line.config.client_port, 7300);
      assert.equal(line.config.world.max_users, 300);
    });
  });
});

Deno.test("parseCommandLine() reports the switches given", async () => {
  assert.deepEqual((await parseCommandLine(SPEC, ["--gen-keys"])).switches, new Set(["gen-keys"]));
  assert.deepEqual((await parseCommandLine(SPEC, [])).switches, new Set());
});

Deno.test("parseCommandLine() with --help or -h returns help without loading the config", async (t) => {
  for (const flag of ["--help", "-h"]) {
    await t.step(flag, async () => {
      // A missing config file and a bad --set would fail a normal start.
      const line = await parseCommandLine(SPEC, [
        "--config=/nonexistent/gameserver.json",
        "--set",
        "client_port=-5",
        "--gen-keys",
        "sub",
        flag,
      ]);
      assert.equal(line.help, true);
      assert.equal(line.config, undefined);
      assert.deepEqual(line.positionals, ["sub"]);
      assert.deepEqual(line.switches, new Set(["gen-keys"]));
    });
  }
});

Deno.test("parseCommandLine() turns a bad command line into a ConfigError", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /Unknown option '--bogus'.*\(see --help\)$/s],
    [["-x"], /Unknown option '-x'.*\(see --help\)$/s],
    [["--port"], /--port.*argument missing.*\(see --help\)$/s],
    [["--config"], /--config.*argument missing/s],
    [["--gen-keys=yes"], /--gen-keys.*does not take an argument.*\(see --help\)$/s],
    [["--help=1"], /--help.*does not take an argument/s],
  ];
  for (const [args, pattern] of cases) {
    await t.step(
      args.join(" "),
      () => assertRejectsConfig(() => parseCommandLine(SPEC, args), pattern),
    );
  }
  await t.step("the parser's error is the cause", async () => {
    try {
      await parseCommandLine(SPEC, ["--bogus"]);
      assert.fail("expected a rejection");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.cause instanceof Error);
    }
  });
});

Deno.test("parseCommandLine() names the flag or file of a bad value", async (t) => {
  await t.step("a shortcut flag", async () => {
    await assertRejectsConfig(
      () => parseCommandLine(SPEC, ["--port", "seven"]),
      /^flag --port: field "client_port" must be an integer$/,
    );
    await assertRejectsConfig(
      () => parseCommandLine(SPEC, ["--max-users=0"]),
      /^flag --max-users: field "world\.max_users" must be between 1 and 1000, got 0$/,
    );
  });
  await t.step("--set", async () => {
    await assertRejectsConfig(
      () => parseCommandLine(SPEC, ["--set", "log_level=trace"]),
      /^flag --set log_level: field "log_level" must be one of "debug", "info", got "trace"$/,
    );
    await assertRejectsConfig(
      () => parseCommandLine(SPEC, ["--set", "client_port"]),
      /^flag --set "client_port": expected path=value$/,
    );
    await assertRejectsConfig(
      () => parseCommandLine(SPEC, ["--set", "world.users=1"]),
      /^flag --set world\.users: unknown field "world\.users"$/,
    );
  });
  await t.step("the file", async () => {
    await withConfigFile({ client_port: 7000, colour: "blue" }, (file) =>
      assertRejectsConfig(
        () => parseCommandLine(SPEC, [`--config=${file}`]),
        new RegExp(
          `: unknown field "colour" \\(known here: client_port, log_level, pretty_log, world\\)$`,
        ),
      ));
    await assertRejectsConfig(
      () => parseCommandLine(SPEC, ["--config=/nonexistent/gameserver.json"]),
      /^\/nonexistent\/gameserver\.json: cannot read config \(file not found\)$/,
    );
  });
});

Deno.test("parseCommandLine() loads the node schema from flags like the entrypoint does", async () => {
  const line = await parseCommandLine({
    name: "main.ts",
    summary: "Game node",
    schema: NODE_SCHEMA,
    flags: { port: { field: "client_port", doc: "Client port" } },
  }, ["--port=0", "--set", "world.tick_time=0.05", "--set", "registry=tcp://[::1]:7100"]);
  assert.equal(line.config.client_port, 0);
  assert.equal(line.config.world.tick_time, 0.05);
  assert.deepEqual(line.config.registry, ["tcp://[::1]:7100"]);
  assert.equal(line.config.clients.session_linger_ms, 30_000);
});

Deno.test("helpText() lists usage, flags, switches and every config field with its default", () => {
  const text = helpText(SPEC);
  const lines = text.split("\n");
  assert.equal(lines[0], "Runs a game node.");
  assert.ok(lines.includes("  gameserver [--config=FILE] [flags]"));
  assert.ok(lines.includes("  gameserver status"));
  assert.ok(lines.some((l) => /^ {2}--port=VALUE +Client port \(sets client_port\)$/.test(l)));
  assert.ok(
    lines.some((l) => /^ {2}--max-users=VALUE +Most users \(sets world\.max_users\)$/.test(l)),
  );
  assert.ok(lines.some((l) => /^ {2}--gen-keys +Print a new keypair and exit$/.test(l)));
  assert.ok(lines.some((l) => /^ {2}-h, --help +Show this help$/.test(l)));
  assert.ok(lines.some((l) => /^ {2}client_port +7000 \(0 to 65535\) +Port for clients$/.test(l)));
  assert.ok(
    lines.some((l) => /^ {2}log_level +"info" \(debug \| info\) +Lowest level logged$/.test(l)),
  );
  assert.ok(lines.some((l) => /^ {2}world\.max_users +100 \(1 to 1000\) +Most users$/.test(l)));
  assert.match(text, /Exit codes: 0 normal stop/);
});

Deno.test("helpText() of the node schema has a row for every field", () => {
  const text = helpText({ name: "main.ts", summary: "Game node", schema: NODE_SCHEMA, flags: {} });
  for (
    const field of [
      "mode",
      "curve.public_key",
      "world.tick_time",
      "clients.session_linger_ms",
      "cluster.replica_silence_ms",
      "pretty_log",
    ]
  ) {
    assert.match(text, new RegExp(`^ {2}${field.replace(".", "\\.")} `, "m"), field);
  }
});
