import { RegistrationError } from "./errors.ts";
import type { RegistryLink } from "./registry_link.ts";

/**
 * Registers with every registry at once; resolves once one accepts (the others keep trying in the
 * background). Rejects as soon as one refuses the node, or when none accepted in `timeoutMs`.
 */
export function registerWithAny(links: RegistryLink[], timeoutMs: number): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  let failures = 0;
  const errors: string[] = [];
  for (const link of links) {
    link.register(timeoutMs).then(resolve, (err: Error) => {
      if (err instanceof RegistrationError && /rejected the node/.test(err.message)) {
        reject(err);
        return;
      }
      errors.push(err.message);
      if (++failures === links.length) {
        reject(new RegistrationError(errors.join("; "), { cause: err }));
      }
    });
  }
  return promise;
}
