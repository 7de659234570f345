import { parseArgs } from "node:util";
import { ConfigError } from "./errors.ts";
import { applyFlag, type ConfigOf, describe, loadConfig, type Schema } from "./schema.ts";

/** A command-line flag that sets one config field, e.g. `--port` → `client_port`. */
export interface FieldFlag {
  /** Dotted config path. */
  field: string;
  /** One-line description for `--help`. */
  doc: string;
}

/** What an entrypoint declares about its command line. */
export interface CommandSpec<S extends Schema> {
  /** Program name in usage lines. */
  name: string;
  /** One paragraph on what the program does. */
  summary: string;
  /** Extra usage lines (subcommands). */
  usage?: string[];
  schema: S;
  /** Shortcut flags for common fields. */
  flags: Record<string, FieldFlag>;
  /** Boolean flags the entrypoint handles itself (besides --help). */
  switches?: Record<string, string>;
}

/** The parsed command line. */
export interface CommandLine<S extends Schema> {
  config: ConfigOf<S>;
  /** Positional arguments (subcommand and its words). */
  positionals: string[];
  /** Switches that were given. */
  switches: Set<string>;
  /** `--help` was given: print {@linkcode helpText} and exit 0. */
  help: boolean;
  /** The config file, if any. */
  file?: string;
}

/**
 * Parses `--config=FILE`, `--set path=value` (repeatable), the spec's shortcut flags and switches, and
 * `--help`; loads the config (defaults, file, then flags). Throws {@linkcode ConfigError} with a
 * message fit for the user.
 */
export async function parseCommandLine<S extends Schema>(
  spec: CommandSpec<S>,
  args: string[],
): Promise<CommandLine<S>> {
  const options: Record<
    string,
    { type: "string" | "boolean"; multiple?: boolean; short?: string }
  > = {
    config: { type: "string" },
    set: { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
  };
  for (const flag of Object.keys(spec.flags)) options[flag] = { type: "string" };
  for (const flag of Object.keys(spec.switches ?? {})) options[flag] = { type: "boolean" };
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (see --help)`, { cause: err });
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const switches = new Set<string>();
  for (const flag of Object.keys(spec.switches ?? {})) {
    if (values[flag] === true) switches.add(flag);
  }
  if (values.help) {
    return {
      config: undefined as unknown as ConfigOf<S>,
      positionals: parsed.positionals,
      switches,
      help: true,
    };
  }
  const file = values.config as string | undefined;
  const config = await loadConfig(spec.schema, { file, sets: values.set as string[] | undefined });
  for (const [flag, { field }] of Object.entries(spec.flags)) {
    const value = values[flag];
    if (typeof value === "string") applyFlag(spec.schema, config, field, value, `flag --${flag}`);
  }
  return { config, positionals: parsed.positionals, switches, help: false, file };
}

/** The `--help` text of a command: usage, flags and every config field with its default. */
export function helpText<S extends Schema>(spec: CommandSpec<S>): string {
  const lines = [
    spec.summary,
    "",
    "Usage:",
    `  ${spec.name} [--config=FILE] [flags]`,
    ...(spec.usage ?? []).map((u) => `  ${u}`),
    "",
    "Flags:",
    "  --config=FILE          JSON config file (fields below; unknown fields are rejected)",
    "  --set PATH=VALUE       Set any config field, e.g. --set world.tick_time=0.05 (repeatable)",
  ];
  for (const [flag, { field, doc }] of Object.entries(spec.flags)) {
    lines.push(`  --${`${flag}=VALUE`.padEnd(20)} ${doc} (sets ${field})`);
  }
  for (const [flag, doc] of Object.entries(spec.switches ?? {})) {
    lines.push(`  --${flag.padEnd(20)} ${doc}`);
  }
  lines.push(
    "  -h, --help             Show this help",
    "",
    "Config fields (field | default | meaning):",
  );
  for (const row of describe(spec.schema)) {
    const cells = row.split(" | ").map((c) =>
      // Undo the Markdown: code spans and the escaped "|" between enum values.
      c.replace(/^\| |\|$/g, "").replaceAll("`", "").replaceAll("\\|", "|").trim()
    );
    lines.push(`  ${cells[0].padEnd(34)} ${cells[1].padEnd(26)} ${cells[2] ?? ""}`);
  }
  lines.push(
    "",
    "Exit codes: 0 normal stop (also after SIGINT/SIGTERM), 1 runtime failure,",
    "            2 bad command line or config, 3 could not register with a registry (cluster mode).",
  );
  return lines.join("\n");
}
