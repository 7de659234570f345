/**
 * `deno task compile`: builds the three standalone executables into `dist/` — `dist/gameserver`
 * (main.ts), `dist/registry` (registry.ts) and `dist/client` (client.ts).
 *
 * `deno compile` downloads its runtime base binary (denort) for the target unless `DENORT_BIN` points
 * to one already on disk; set it on machines without internet access. `--target=TRIPLE` cross-builds.
 *
 * @module
 */
import { parseArgs } from "node:util";

const ENTRYPOINTS = [
  { name: "gameserver", entry: "main.ts" },
  { name: "registry", entry: "registry.ts" },
  { name: "client", entry: "client.ts" },
];

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { target: { type: "string" }, out: { type: "string", default: "dist" } },
  });
  const denort = Deno.env.get("DENORT_BIN");
  console.error(
    denort
      ? `Using the offline base binary DENORT_BIN=${denort}`
      : "DENORT_BIN is not set: deno compile downloads its base binary (needs internet access)",
  );
  await Deno.mkdir(values.out!, { recursive: true });
  for (const { name, entry } of ENTRYPOINTS) {
    const output = `${values.out}/${name}`;
    const args = [
      "compile",
      "--allow-all",
      // The zeromq native addon is loaded from node_modules at run time.
      "--include",
      "node_modules/zeromq",
      // The web console's pages, read at start by the HTTP plane (lib/web).
      "--include",
      "web",
      // The reader workers' entry (clients.read_workers): a Worker module is not in the static graph.
      "--include",
      "lib/node/read_worker.ts",
      ...(values.target ? ["--target", values.target] : []),
      "--output",
      output,
      entry,
    ];
    console.error(`deno ${args.join(" ")}`);
    const { code } = await new Deno.Command(Deno.execPath(), {
      args,
      stdout: "inherit",
      stderr: "inherit",
    })
      .output();
    if (code !== 0) {
      console.error(`compile: building ${output} failed (exit ${code})`);
      Deno.exit(code);
    }
  }
  console.error(`Built ${ENTRYPOINTS.map((e) => `${values.out}/${e.name}`).join(", ")}`);
}
