import {
  type MetricsRegistry,
  newMetricsRegistry,
  registerCollected,
  type Sample,
} from "../metrics/mod.ts";
import type { Sentinel } from "./sentinel.ts";

/** What the registry server counts, read by its metrics when scraped. */
export interface RegistryCounters {
  /** Messages from nodes or clients that did not decode or were refused. */
  badFrames: number;
  /** Discovery requests by transport (`zmq` port, `http` /discover) and outcome. */
  discoveries: Map<string, { node: number; none: number }>;
  /** Election rounds started (prepare sent for a new epoch). */
  electionRounds: number;
  /** Nodes promoted to master (convert_to_master sent). */
  promotions: number;
  /** change_master commands sent to nodes. */
  masterChanges: number;
}

/** Fresh counters, all zero. */
export function newRegistryCounters(): RegistryCounters {
  return {
    badFrames: 0,
    discoveries: new Map(),
    electionRounds: 0,
    promotions: 0,
    masterChanges: 0,
  };
}

/**
 * The registry's Prometheus registry: its own (label `registry_id`, its `host:cluster_port`), with
 * the default process metrics and families read from the sentinel and `counters` when scraped.
 */
export function registryMetrics(
  sentinel: Sentinel,
  options: { registryId: string; counters: RegistryCounters },
): MetricsRegistry {
  const registry = newMetricsRegistry({ registry_id: options.registryId });
  const counters = options.counters;
  registerCollected(registry, {
    name: "gameserver_registry_nodes",
    type: "gauge",
    help: "Nodes the registry knows, by role and state (alive or dead)",
    read: () => {
      const counts = new Map<string, Sample>();
      for (const role of ["master", "slave"]) {
        for (const state of ["alive", "dead"]) {
          counts.set(`${role}/${state}`, { labels: { role, state }, value: 0 });
        }
      }
      for (const n of sentinel.snapshot().nodes) {
        counts.get(`${n.role}/${n.alive ? "alive" : "dead"}`)!.value++;
      }
      return counts.values();
    },
  });
  registerCollected(registry, {
    name: "gameserver_registry_epoch",
    type: "gauge",
    help: "The cluster epoch as the registry knows it",
    read: () => sentinel.epoch,
  });
  registerCollected(registry, {
    name: "gameserver_registry_has_master",
    type: "gauge",
    help: "1 while the registry knows a live master, else 0",
    read: () => sentinel.masterId === null ? 0 : 1,
  });
  registerCollected(registry, {
    name: "gameserver_registry_recovering",
    type: "gauge",
    help: "1 during the recovery grace after a start, else 0",
    read: () => sentinel.snapshot().recovering ? 1 : 0,
  });
  registerCollected(registry, {
    name: "gameserver_registry_election_rounds_total",
    type: "counter",
    help: "Election rounds this registry started",
    read: () => counters.electionRounds,
  });
  registerCollected(registry, {
    name: "gameserver_registry_promotions_total",
    type: "counter",
    help: "Nodes this registry promoted to master (elections won)",
    read: () => counters.promotions,
  });
  registerCollected(registry, {
    name: "gameserver_registry_master_changes_total",
    type: "counter",
    help: "change_master commands sent to nodes",
    read: () => counters.masterChanges,
  });
  registerCollected(registry, {
    name: "gameserver_registry_discovery_requests_total",
    type: "counter",
    help: "Discovery requests by transport (zmq port, http /discover) and result (node or none)",
    read: function* () {
      for (const [transport, c] of counters.discoveries) {
        yield { labels: { transport, result: "node" }, value: c.node };
        yield { labels: { transport, result: "none" }, value: c.none };
      }
    },
  });
  registerCollected(registry, {
    name: "gameserver_registry_bad_frames_total",
    type: "counter",
    help: "Messages from nodes or clients that did not decode or were refused",
    read: () => counters.badFrames,
  });
  return registry;
}
