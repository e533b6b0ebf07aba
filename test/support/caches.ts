// The in-memory caches as their metrics tell them (plugins/caches.ts), read
// from the process's registry exactly as a scrape would.
import { registry } from '../../src/plugins/metrics.ts';
import type { CacheName } from '../../src/plugins/caches.ts';

export interface CacheFigures {
  hits: number;
  misses: number;
  notKept: number;
  bytes: number;
  maxBytes: number;
}

async function valuesOf(name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as { labels: Record<string, string | number>; value: number }[];
}

/** One cache's figures, summed over the apps alive in this process. */
export async function cacheFigures(cache: CacheName): Promise<CacheFigures> {
  const figures: CacheFigures = { hits: 0, misses: 0, notKept: 0, bytes: 0, maxBytes: 0 };
  for (const { labels, value } of await valuesOf('todoapp_cache_lookups_total')) {
    if (labels.cache === cache) figures[labels.result === 'hit' ? 'hits' : 'misses'] += value;
  }
  for (const { labels, value } of await valuesOf('todoapp_cache_not_kept_total'))
    if (labels.cache === cache) figures.notKept += value;
  for (const { labels, value } of await valuesOf('todoapp_cache_bytes'))
    if (labels.cache === cache) figures.bytes += value;
  for (const { labels, value } of await valuesOf('todoapp_cache_max_bytes'))
    if (labels.cache === cache) figures.maxBytes += value;
  return figures;
}
