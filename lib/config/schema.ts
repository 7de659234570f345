import { ConfigError } from "./errors.ts";

/** An integer field. */
export interface IntSpec {
  kind: "int";
  default: number;
  min: number;
  max: number;
  doc: string;
}
/** A number field. */
export interface NumberSpec {
  kind: "number";
  default: number;
  min: number;
  max: number;
  doc: string;
}
/** A string field. */
export interface StringSpec {
  kind: "string";
  default: string;
  pattern?: RegExp;
  hint?: string;
  doc: string;
}
/** A field that takes one of a few strings. */
export interface EnumSpec<T extends string = string> {
  kind: "enum";
  default: T;
  values: readonly T[];
  doc: string;
}
/** A boolean field. */
export interface BoolSpec {
  kind: "bool";
  default: boolean;
  doc: string;
}
/** A list of strings (accepts a comma-separated string from flags). */
export interface ListSpec {
  kind: "list";
  default: string[];
  pattern?: RegExp;
  hint?: string;
  doc: string;
}
/** A nested object of fields. */
export interface GroupSpec<S extends Schema = Schema> {
  kind: "group";
  fields: S;
  doc: string;
}
/** Any field spec. */
export type FieldSpec =
  | IntSpec
  | NumberSpec
  | StringSpec
  | EnumSpec
  | BoolSpec
  | ListSpec
  | GroupSpec;
/** A set of named fields. */
export type Schema = { [name: string]: FieldSpec };

/** The config type a schema describes. */
export type ConfigOf<S extends Schema> = {
  -readonly [K in keyof S]: S[K] extends GroupSpec<infer G> ? ConfigOf<G>
    : S[K] extends EnumSpec<infer T> ? T
    : S[K] extends BoolSpec ? boolean
    : S[K] extends ListSpec ? string[]
    : S[K] extends StringSpec ? string
    : number;
};

/** Declares an integer field. */
export function int(def: number, min: number, max: number, doc: string): IntSpec {
  return { kind: "int", default: def, min, max, doc };
}
/** Declares a number field. */
export function num(def: number, min: number, max: number, doc: string): NumberSpec {
  return { kind: "number", default: def, min, max, doc };
}
/** Declares a string field. */
export function str(
  def: string,
  doc: string,
  options: { pattern?: RegExp; hint?: string } = {},
): StringSpec {
  return { kind: "string", default: def, doc, ...options };
}
/** Declares a field that takes one of `values`. */
export function oneOf<T extends string>(def: T, values: readonly T[], doc: string): EnumSpec<T> {
  return { kind: "enum", default: def, values, doc };
}
/** Declares a boolean field. */
export function bool(def: boolean, doc: string): BoolSpec {
  return { kind: "bool", default: def, doc };
}
/** Declares a list-of-strings field. */
export function list(
  def: string[],
  doc: string,
  options: { pattern?: RegExp; hint?: string } = {},
): ListSpec {
  return { kind: "list", default: def, doc, ...options };
}
/** Declares a nested group of fields. */
export function group<S extends Schema>(fields: S, doc: string): GroupSpec<S> {
  return { kind: "group", fields, doc };
}

/** The defaults of a schema. */
export function defaults<S extends Schema>(schema: S): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    out[name] = spec.kind === "group"
      ? defaults(spec.fields)
      : spec.kind === "list"
      ? [...spec.default]
      : spec.default;
  }
  return out as ConfigOf<S>;
}

/**
 * Checks `value` (parsed JSON) against `schema` and merges it over `base`. Unknown fields, wrong types
 * and out-of-range values throw {@linkcode ConfigError} naming `source` and the dotted field path.
 */
export function applyObject<S extends Schema>(
  schema: S,
  base: ConfigOf<S>,
  value: unknown,
  source: string,
  path = "",
): ConfigOf<S> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${source}: ${path || "the top level"} must be a JSON object`);
  }
  const out = { ...base } as Record<string, unknown>;
  for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
    const where = path ? `${path}.${name}` : name;
    // Own fields only: "constructor" or "toString" must not find Object.prototype members.
    const spec = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!spec) {
      const known = Object.keys(schema).join(", ");
      throw new ConfigError(`${source}: unknown field "${where}" (known here: ${known})`);
    }
    if (spec.kind === "group") {
      out[name] = applyObject(
        spec.fields,
        (base as Record<string, unknown>)[name] as ConfigOf<Schema>,
        raw,
        source,
        where,
      );
    } else {
      out[name] = checkValue(spec, raw, source, where);
    }
  }
  return out as ConfigOf<S>;
}

/**
 * Sets one field from a command-line string (`world.tick_time=0.05`): the text is converted to the
 * field's type and checked like a file value.
 */
export function applyFlag<S extends Schema>(
  schema: S,
  config: ConfigOf<S>,
  path: string,
  text: string,
  source = `flag --set ${path}`,
): void {
  const parts = path.split(".");
  let spec: FieldSpec | undefined;
  let fields: Schema = schema;
  let target = config as Record<string, unknown>;
  for (let i = 0; i < parts.length; i++) {
    spec = Object.hasOwn(fields, parts[i]) ? fields[parts[i]] : undefined;
    if (!spec) {
      throw new ConfigError(`${source}: unknown field "${parts.slice(0, i + 1).join(".")}"`);
    }
    if (i < parts.length - 1) {
      if (spec.kind !== "group") throw new ConfigError(`${source}: "${parts[i]}" is not a group`);
      fields = spec.fields;
      target = target[parts[i]] as Record<string, unknown>;
    }
  }
  if (!spec || spec.kind === "group") throw new ConfigError(`${source}: "${path}" is a group`);
  target[parts[parts.length - 1]] = checkValue(spec, fromText(spec, text), source, path);
}

function fromText(spec: FieldSpec, text: string): unknown {
  switch (spec.kind) {
    case "int":
    case "number":
      return text.trim() === "" ? NaN : Number(text);
    case "bool":
      return text === "true" ? true : text === "false" ? false : text;
    case "list":
      return text === "" ? [] : text.split(",").map((s) => s.trim());
    default:
      return text;
  }
}

function checkValue(spec: FieldSpec, raw: unknown, source: string, where: string): unknown {
  const fail = (problem: string): never => {
    throw new ConfigError(`${source}: field "${where}" ${problem}`);
  };
  switch (spec.kind) {
    case "int":
      if (typeof raw !== "number" || !Number.isInteger(raw)) fail(`must be an integer`);
      if ((raw as number) < spec.min || (raw as number) > spec.max) {
        fail(`must be between ${spec.min} and ${spec.max}, got ${raw}`);
      }
      return raw;
    case "number":
      if (typeof raw !== "number" || !Number.isFinite(raw)) fail(`must be a finite number`);
      if ((raw as number) < spec.min || (raw as number) > spec.max) {
        fail(`must be between ${spec.min} and ${spec.max}, got ${raw}`);
      }
      return raw;
    case "string":
      if (typeof raw !== "string") fail(`must be a string`);
      if (spec.pattern && !spec.pattern.test(raw as string)) {
        fail(`must be ${spec.hint ?? `a string matching ${spec.pattern}`}, got "${raw}"`);
      }
      return raw;
    case "enum":
      if (typeof raw !== "string" || !spec.values.includes(raw)) {
        fail(
          `must be one of ${spec.values.map((v) => `"${v}"`).join(", ")}, got ${
            JSON.stringify(raw)
          }`,
        );
      }
      return raw;
    case "bool":
      if (typeof raw !== "boolean") fail(`must be true or false`);
      return raw;
    case "list":
      if (!Array.isArray(raw) || raw.some((s) => typeof s !== "string")) {
        fail(`must be a list of strings`);
      }
      for (const item of raw as string[]) {
        if (spec.pattern && !spec.pattern.test(item)) {
          fail(`entries must be ${spec.hint ?? `strings matching ${spec.pattern}`}, got "${item}"`);
        }
      }
      return [...(raw as string[])];
    case "group":
      return fail("is a group");
  }
}

/** Renders a schema as a Markdown table (for the README's config reference and `--help`). */
export function describe(schema: Schema, prefix = ""): string[] {
  const rows: string[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    const key = prefix + name;
    if (spec.kind === "group") {
      rows.push(...describe(spec.fields, `${key}.`));
      continue;
    }
    let range = "";
    if (spec.kind === "int" || spec.kind === "number") range = ` (${spec.min} to ${spec.max})`;
    if (spec.kind === "enum") range = ` (${spec.values.join(" \\| ")})`;
    rows.push(`| \`${key}\` | \`${JSON.stringify(spec.default)}\`${range} | ${spec.doc} |`);
  }
  return rows;
}

/**
 * Loads a config: defaults, then the JSON file (if any), then `--set path=value` overrides.
 * Errors name the file or flag, the field and the problem.
 */
export async function loadConfig<S extends Schema>(
  schema: S,
  options: { file?: string; sets?: string[] } = {},
): Promise<ConfigOf<S>> {
  let config = defaults(schema);
  if (options.file) {
    let text: string;
    try {
      text = await Deno.readTextFile(options.file);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "file not found" : String(err);
      throw new ConfigError(`${options.file}: cannot read config (${why})`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${options.file}: not valid JSON (${(err as Error).message})`, {
        cause: err,
      });
    }
    config = applyObject(schema, config, value, options.file);
  }
  for (const set of options.sets ?? []) {
    const eq = set.indexOf("=");
    if (eq <= 0) throw new ConfigError(`flag --set "${set}": expected path=value`);
    applyFlag(schema, config, set.slice(0, eq), set.slice(eq + 1));
  }
  return config;
}
