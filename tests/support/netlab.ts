/**
 * A private network for failure tests: each host is a Linux network namespace with one veth link to
 * a bridge that lives in a namespace of its own, so nothing is added to the machine's own network.
 * Addresses are in 10.231.X.0/24, X random per lab, and exist only inside the lab's namespaces.
 * A link between two hosts is cut with a blackhole route on each side and healed by deleting them.
 * Everything is removed on dispose, and on SIGINT/SIGTERM of the test process.
 *
 * @module
 */

/** Runs `ip` with `args`; throws with its stderr when it fails. */
async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** A set of hosts on one private bridge. */
export class NetLab implements AsyncDisposable {
  readonly #prefix: string;
  readonly #subnet: string;
  readonly #hosts = new Map<string, { ns: string; address: string }>();
  readonly #cut = new Set<string>();
  #disposed = false;
  readonly #onSignal = () => {
    // Best effort, synchronous: the process is about to end.
    for (const ns of this.#namespaces()) {
      new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).outputSync();
    }
    Deno.exit(130);
  };

  private constructor(prefix: string, subnet: string) {
    this.#prefix = prefix;
    this.#subnet = subnet;
  }

  /**
   * Why a lab cannot be made here (not root, no `ip netns`), or undefined when it can. Tries a
   * namespace for real, and removes it.
   */
  static async unavailable(): Promise<string | undefined> {
    if (Deno.build.os !== "linux") return `network namespaces need Linux, not ${Deno.build.os}`;
    if (Deno.uid() !== 0) return "network namespaces need root";
    const probe = `gsprobe${Deno.pid}`;
    try {
      await ip("netns", "add", probe);
      await ip("netns", "del", probe);
      return undefined;
    } catch (err) {
      return `ip netns does not work: ${(err as Error).message}`;
    }
  }

  /** Creates the bridge and one namespace per host, each with an address and its loopback up. */
  static async create(hosts: string[]): Promise<NetLab> {
    const id = (Deno.pid % 46656).toString(36).padStart(3, "0");
    const lab = new NetLab(`gs${id}`, `10.231.${Math.floor(Math.random() * 250) + 1}`);
    Deno.addSignalListener("SIGINT", lab.#onSignal);
    Deno.addSignalListener("SIGTERM", lab.#onSignal);
    try {
      const bridge = `${lab.#prefix}-br`;
      await ip("netns", "add", bridge);
      lab.#hosts.set("", { ns: bridge, address: "" });
      await ip("-n", bridge, "link", "add", "br0", "type", "bridge");
      await ip("-n", bridge, "link", "set", "br0", "up");
      for (const [i, host] of hosts.entries()) {
        const ns = `${lab.#prefix}-${host}`;
        const address = `${lab.#subnet}.${i + 1}`;
        await ip("netns", "add", ns);
        lab.#hosts.set(host, { ns, address });
        // veth names: at most 15 characters, unique on the machine while they are created.
        const inner = `${lab.#prefix}v${i}a`;
        const outer = `${lab.#prefix}v${i}b`;
        await ip("link", "add", inner, "type", "veth", "peer", "name", outer);
        await ip("link", "set", inner, "netns", ns);
        await ip("link", "set", outer, "netns", bridge);
        await ip("-n", bridge, "link", "set", outer, "master", "br0");
        await ip("-n", bridge, "link", "set", outer, "up");
        await ip("-n", ns, "link", "set", inner, "name", "eth0");
        await ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
        await ip("-n", ns, "link", "set", "eth0", "up");
        await ip("-n", ns, "link", "set", "lo", "up");
      }
    } catch (err) {
      await lab[Symbol.asyncDispose]();
      throw err;
    }
    return lab;
  }

  /** The namespace a host's processes run in. */
  netns(host: string): string {
    return this.#host(host).ns;
  }

  /** A host's address (reachable from the lab's other hosts only). */
  address(host: string): string {
    return this.#host(host).address;
  }

  /** The host names. */
  get hosts(): string[] {
    return [...this.#hosts.keys()].filter((h) => h !== "");
  }

  /** Cuts the link between two hosts, both ways (idempotent). */
  async cut(a: string, b: string): Promise<void> {
    const key = [a, b].sort().join("|");
    if (this.#cut.has(key)) return;
    await ip("-n", this.netns(a), "route", "add", "blackhole", `${this.address(b)}/32`);
    await ip("-n", this.netns(b), "route", "add", "blackhole", `${this.address(a)}/32`);
    this.#cut.add(key);
  }

  /** Heals the link between two hosts (idempotent). */
  async heal(a: string, b: string): Promise<void> {
    const key = [a, b].sort().join("|");
    if (!this.#cut.has(key)) return;
    await ip("-n", this.netns(a), "route", "del", "blackhole", `${this.address(b)}/32`);
    await ip("-n", this.netns(b), "route", "del", "blackhole", `${this.address(a)}/32`);
    this.#cut.delete(key);
  }

  /** Cuts every link between the two groups (a partition). */
  async partition(left: string[], right: string[]): Promise<void> {
    for (const a of left) for (const b of right) await this.cut(a, b);
  }

  /** Heals every cut link. */
  async healAll(): Promise<void> {
    for (const key of [...this.#cut]) {
      const [a, b] = key.split("|");
      await this.heal(a, b);
    }
  }

  /** The links cut now, as "a|b". */
  get cutLinks(): string[] {
    return [...this.#cut];
  }

  #host(host: string): { ns: string; address: string } {
    const h = this.#hosts.get(host);
    if (!h || host === "") throw new Error(`No host ${host} in this lab`);
    return h;
  }

  #namespaces(): string[] {
    return [...this.#hosts.values()].map((h) => h.ns);
  }

  /** Deletes every namespace (their veth links go with them). Idempotent. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    Deno.removeSignalListener("SIGINT", this.#onSignal);
    Deno.removeSignalListener("SIGTERM", this.#onSignal);
    for (const ns of this.#namespaces()) await ip("netns", "del", ns).catch(() => {});
    this.#hosts.clear();
    this.#cut.clear();
  }
}
