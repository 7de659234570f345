import assert from "node:assert/strict";
import { type Command, COMMAND_HELP, needsLogin, parseCommand, velocityOf } from "./commands.ts";

function words(line: string): string[] {
  return line.split(" ").filter((w) => w !== "");
}

Deno.test("parseCommand() parses every command", async (t) => {
  const cases: [string, Command][] = [
    ["login", { name: "login" }],
    ["logout", { name: "logout" }],
    ["whoami", { name: "whoami" }],
    ["status", { name: "status" }],
    ["ping", { name: "ping" }],
    ["help", { name: "help" }],
    ["quit", { name: "quit" }],
    ["exit", { name: "quit" }],
    ["velocity 1 -2 5.5", { name: "velocity", dx: 1, dy: -2, speed: 5.5 }],
    ["velocity 0 0 0", { name: "velocity", dx: 0, dy: 0, speed: 0 }],
    ["query -10 20.5 30 1e3", { name: "query", x1: -10, y1: 20.5, x2: 30, y2: 1000 }],
    ["query --circle 1 2 50", { name: "query_circle", x: 1, y: 2, radius: 50 }],
    ["aoe 50 -7", { name: "aoe", radius: 50, amount: -7 }],
  ];
  for (const [line, expected] of cases) {
    await t.step(line, () => assert.deepEqual(parseCommand(words(line)), expected));
  }
});

Deno.test("parseCommand() explains bad input with an error message", async (t) => {
  const cases: [string[], string][] = [
    [[], "empty command"],
    [["fly"], `unknown command "fly" (try help)`],
    [["LOGIN"], `unknown command "LOGIN" (try help)`],
    [["login", "now"], "login takes no arguments"],
    [["status", "-v"], "status takes no arguments"],
    [["velocity", "1", "2"], "usage: velocity <dx> <dy> <speed>"],
    [["velocity", "1", "2", "3", "4"], "usage: velocity <dx> <dy> <speed>"],
    [
      ["velocity", "1", "north", "3"],
      `"north" is not a number (usage: velocity <dx> <dy> <speed>)`,
    ],
    [["velocity", "1", "2", "-1"], "speed must be 0 or more"],
    [
      ["velocity", "1", "2", "Infinity"],
      `"Infinity" is not a number (usage: velocity <dx> <dy> <speed>)`,
    ],
    [["velocity", "NaN", "2", "3"], `"NaN" is not a number (usage: velocity <dx> <dy> <speed>)`],
    [["velocity", "", "2", "3"], `"" is not a number (usage: velocity <dx> <dy> <speed>)`],
    [["velocity", " ", "2", "3"], `" " is not a number (usage: velocity <dx> <dy> <speed>)`],
    [["query", "1", "2", "3"], "usage: query <x1> <y1> <x2> <y2>"],
    [
      ["query", "1", "2", "3", "1e999"],
      `"1e999" is not a number (usage: query <x1> <y1> <x2> <y2>)`,
    ],
    [["query", "--circle", "1", "2"], "usage: query --circle <x> <y> <r>"],
    [
      ["query", "--circle", "1", "2", "r"],
      `"r" is not a number (usage: query --circle <x> <y> <r>)`,
    ],
    [
      ["query", "--box", "1", "2", "3"],
      `"--box" is not a number (usage: query <x1> <y1> <x2> <y2>)`,
    ],
    [["aoe", "50"], "usage: aoe <radius> <amount>"],
    [["aoe", "fifty", "1"], `"fifty" is not a number (usage: aoe <radius> <amount>)`],
  ];
  for (const [input, error] of cases) {
    await t.step(JSON.stringify(input), () => assert.deepEqual(parseCommand(input), { error }));
  }
});

Deno.test("parseCommand() does not change the words it is given", () => {
  const input = ["query", "--circle", "1", "2", "3"];
  parseCommand(input);
  assert.deepEqual(input, ["query", "--circle", "1", "2", "3"]);
});

Deno.test("velocityOf() scales the direction (dx, dy) to the speed", async (t) => {
  await t.step("axis and diagonal directions", () => {
    assert.deepEqual(velocityOf(1, 0, 5), { vx: 5, vy: 0 });
    assert.deepEqual(velocityOf(0, -10, 2), { vx: 0, vy: -2 });
    assert.deepEqual(velocityOf(3, 4, 10), { vx: 6, vy: 8 });
    assert.deepEqual(velocityOf(-30, 40, 5), { vx: -3, vy: 4 });
  });
  await t.step("the magnitude equals the speed whatever the length of (dx, dy)", () => {
    for (const [dx, dy, speed] of [[1e-9, 2e-9, 7], [1e6, -3e6, 0.5], [-1, -1, 50]]) {
      const { vx, vy } = velocityOf(dx, dy, speed);
      assert.ok(Math.abs(Math.hypot(vx, vy) - speed) < 1e-9 * speed, `${dx} ${dy} ${speed}`);
      assert.equal(Math.sign(vx), Math.sign(dx));
      assert.equal(Math.sign(vy), Math.sign(dy));
    }
  });
  await t.step("speed 0 or no direction stops", () => {
    assert.deepEqual(velocityOf(3, 4, 0), { vx: 0, vy: 0 });
    assert.deepEqual(velocityOf(0, 0, 5), { vx: 0, vy: 0 });
  });
});

Deno.test("needsLogin() is true for the commands that act as a user", () => {
  const all = [
    "login",
    "logout",
    "velocity 1 1 1",
    "query 0 0 1 1",
    "query --circle 0 0 1",
    "aoe 1 1",
    "whoami",
    "status",
    "ping",
    "help",
    "quit",
  ].map((line) => parseCommand(words(line)) as Command);
  assert.deepEqual(all.filter(needsLogin).map((c) => c.name), ["logout", "velocity", "aoe"]);
});

Deno.test("COMMAND_HELP has a line for every command", () => {
  for (
    const name of [
      "login",
      "logout",
      "velocity",
      "query",
      "query --circle",
      "aoe",
      "whoami",
      "status",
      "ping",
      "help",
      "quit",
    ]
  ) {
    assert.match(COMMAND_HELP, new RegExp(`^${name} `, "m"), name);
  }
});
