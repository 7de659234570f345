import type { Role } from "./_gen/gameserver_proto.ts";

/** A role as people read it in logs and config files: `single`, `master`, `slave` (or `unknown`). */
export type RoleName = "single" | "master" | "slave" | "unknown";

const NAMES: Record<Role, RoleName> = {
  ROLE_UNSPECIFIED: "unknown",
  ROLE_SINGLE: "single",
  ROLE_MASTER: "master",
  ROLE_SLAVE: "slave",
};

/** The readable name of a wire role; anything not a role is `unknown`. */
export function roleName(role: Role | string | undefined | null): RoleName {
  return role && Object.hasOwn(NAMES, role) ? NAMES[role as Role] : "unknown";
}
