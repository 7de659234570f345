/**
 * Writes the config reference (Markdown tables generated from the schemas) into README.md between
 * its `config-reference` markers: `deno task docs:config`. A test checks the README holds the
 * current tables.
 *
 * @module
 */
import {
  CLIENT_SCHEMA,
  describe,
  NODE_SCHEMA,
  REGISTRY_SCHEMA,
  type Schema,
} from "../lib/config/mod.ts";

/** The README's config reference section body. */
export function configReference(): string {
  const table = (title: string, schema: Schema) =>
    [`#### ${title}`, "", "| field | default | meaning |", "|---|---|---|", ...describe(schema), ""]
      .join("\n");
  return [
    table("Game node (`main.ts`, `./gameserver`)", NODE_SCHEMA),
    table("Registry (`registry.ts`, `./registry`)", REGISTRY_SCHEMA),
    table("Client (`client.ts`, `./client`)", CLIENT_SCHEMA),
  ].join("\n");
}

const START = "<!-- config-reference:start -->";
const END = "<!-- config-reference:end -->";

/** README text with the config reference replaced by the current one. */
export function withConfigReference(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error("README.md lacks the config-reference markers");
  return `${readme.slice(0, start + START.length)}\n\n${configReference()}\n${readme.slice(end)}`;
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  const readme = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, withConfigReference(readme));
  console.log("README.md config reference updated");
}
