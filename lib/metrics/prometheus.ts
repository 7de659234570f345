import client from "prom-client";
import { DELAY_EDGES_MS, type DelayHistogram } from "./delay_histogram.ts";

/** A prom-client registry: one per process plane (node or registry), never the global one. */
export type MetricsRegistry = client.Registry;

/** Label names to values of one sample. */
export type Labels = Record<string, string>;

/** One value of a counter or gauge family, with its labels. */
export interface Sample {
  /** Labels of this series (the registry's default labels are added). */
  labels?: Labels;
  /** The value (counters: the total since the process started). */
  value: number;
}

/** One series of a histogram family: its labels and the cumulative counts it reads. */
export interface HistogramSeries {
  /** Labels of this series (the registry's default labels are added). */
  labels?: Labels;
  /** Counts in ms buckets; exposed in seconds. */
  histogram: DelayHistogram;
}

/** What a counter or gauge family reads at scrape time. */
export interface CollectedFamily {
  /** Family name, in base units (`_seconds`, `_bytes`; counters end in `_total`). */
  name: string;
  /** One line for `# HELP`. */
  help: string;
  /** Prometheus type. */
  type: "counter" | "gauge";
  /** The samples now: one number for a family without labels. */
  read: () => number | Iterable<Sample>;
}

/** What a histogram family reads at scrape time. */
export interface CollectedHistogram {
  /** Family name, in seconds (`_seconds`). */
  name: string;
  /** One line for `# HELP`. */
  help: string;
  /** The series now. */
  read: () => Iterable<HistogramSeries>;
}

/** The upper bucket edges of every histogram, in seconds (the `le` labels). */
export const BUCKET_EDGES_SECONDS: readonly string[] = DELAY_EDGES_MS.map((ms) =>
  String(ms / 1000)
);

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * A registry of its own for one process (`labels` on every sample, e.g. `{ node_id }`), with
 * prom-client's default process metrics (CPU, memory, file descriptors, event-loop lag, GC).
 */
export function newMetricsRegistry(labels: Labels): MetricsRegistry {
  const registry = new client.Registry();
  registry.setDefaultLabels(labels);
  client.collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Registers a counter or gauge whose value is read when scraped. The node already keeps the totals
 * it reports (plain numbers bumped on its hot path); prom-client's `Counter` only takes increments,
 * so the family reads them at scrape time instead of being told about each one.
 */
export function registerCollected(registry: MetricsRegistry, family: CollectedFamily): void {
  checkName(family.name);
  if (family.type === "counter" && !family.name.endsWith("_total")) {
    throw new Error(`Counter ${family.name} must end in _total`);
  }
  registry.registerMetric(collector(family.name, family.help, family.type, () => {
    const read = family.read();
    const samples = typeof read === "number" ? [{ value: read }] : read;
    return Array.from(samples, (s) => ({ value: s.value, labels: s.labels ?? {} }));
  }));
}

/**
 * Registers a histogram read from {@linkcode DelayHistogram}s when scraped: their fixed ms buckets
 * become cumulative `_bucket{le}` lines in seconds, with `_sum` and `_count`. Recording stays the
 * histogram's short scan with no allocation on the hot path; prom-client's `Histogram.observe()`
 * would hash the labels on every call.
 */
export function registerHistogram(registry: MetricsRegistry, family: CollectedHistogram): void {
  checkName(family.name);
  registry.registerMetric(collector(family.name, family.help, "histogram", () => {
    const values: CollectorValue[] = [];
    for (const series of family.read()) {
      const labels = series.labels ?? {};
      const counts = series.histogram.counts();
      let cumulative = 0;
      for (let i = 0; i < counts.length; i++) {
        cumulative += counts[i];
        const le = i < BUCKET_EDGES_SECONDS.length ? BUCKET_EDGES_SECONDS[i] : "+Inf";
        values.push({
          metricName: `${family.name}_bucket`,
          labels: { le, ...labels },
          value: cumulative,
        });
      }
      values.push({
        metricName: `${family.name}_sum`,
        labels,
        value: series.histogram.sum / 1000,
      });
      values.push({ metricName: `${family.name}_count`, labels, value: cumulative });
    }
    return values;
  }));
}

/** `/metrics`: the registry in Prometheus text format. */
export async function metricsResponse(registry: MetricsRegistry): Promise<Response> {
  return new Response(await registry.metrics(), {
    headers: { "content-type": registry.contentType },
  });
}

interface CollectorValue {
  metricName?: string;
  labels: Labels;
  value: number;
}

/**
 * A metric as prom-client's registry reads one (`name`, `help`, `type`, `get()`): what its own
 * classes hand it at scrape time, here built from values the process already holds.
 */
function collector(
  name: string,
  help: string,
  type: "counter" | "gauge" | "histogram",
  values: () => CollectorValue[],
): client.Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: "sum",
    get: () => Promise.resolve({ name, help, type, aggregator: "sum", values: values() }),
  };
  return metric as unknown as client.Metric;
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`Bad metric name ${name}`);
}
