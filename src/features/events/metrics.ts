// The live feed's metrics, read off the feeds of the process when scraped
// (as plugins/caches.ts does for the caches): todoapp_events_streams, and the
// totals todoapp_events_changes_read_total, todoapp_events_sent_total,
// todoapp_events_streams_ended_total {reason} and
// todoapp_events_reconnections_total {result}. A feed's figures count on
// after it stops (its app closed), so the totals never go down.
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../plugins/metrics.ts';

export interface FeedFigures {
  /** Streams open now. */
  streams: number;
  changesRead: number;
  eventsSent: number;
  /** Streams dropped because their client did not read. */
  dropped: number;
  /** Streams ended because their credential did (logged out, revoked, disabled). */
  ended: number;
  /** Streams that came back with a Last-Event-ID and were given what they missed. */
  replayed: number;
  /** Streams that came back too late (or with an unknown id) and were told to resync. */
  resynced: number;
}

export const noFigures = (): FeedFigures => ({
  streams: 0,
  changesRead: 0,
  eventsSent: 0,
  dropped: 0,
  ended: 0,
  replayed: 0,
  resynced: 0,
});

const live = new Set<{ readonly figures: FeedFigures }>();
const retired = noFigures();

/** Counts `feed` in the metrics from now on, and after `retire`. */
export function trackFeed(feed: { readonly figures: FeedFigures }): void {
  live.add(feed);
}

export function retireFeed(feed: { readonly figures: FeedFigures }): void {
  if (!live.delete(feed)) return;
  for (const key of Object.keys(retired) as (keyof FeedFigures)[])
    if (key !== 'streams') retired[key] += feed.figures[key];
}

function total(key: keyof FeedFigures): number {
  let sum = key === 'streams' ? 0 : retired[key];
  for (const feed of live) sum += feed.figures[key];
  return sum;
}

new Gauge({
  name: 'todoapp_events_streams',
  help: 'Event streams (GET /api/events) open now.',
  registers: [registry],
  collect() {
    this.set(total('streams'));
  },
});
/** A total read off the feeds: `series` names the figure behind each label value (or the one figure, unlabelled). */
function totalCounter(
  name: string,
  help: string,
  series: keyof FeedFigures | { label: string; values: Record<string, keyof FeedFigures> },
): void {
  new Counter({
    name,
    help,
    labelNames: typeof series === 'string' ? [] : [series.label],
    registers: [registry],
    collect() {
      this.reset();
      if (typeof series === 'string') this.inc(total(series));
      else
        for (const [value, figure] of Object.entries(series.values)) this.inc({ [series.label]: value }, total(figure));
    },
  });
}

totalCounter(
  'todoapp_events_changes_read_total',
  'Changes read from the change log by the live feed (once per app, however many streams are open).',
  'changesRead',
);
totalCounter('todoapp_events_sent_total', 'Events written to event streams.', 'eventsSent');
totalCounter(
  'todoapp_events_streams_ended_total',
  'Event streams the server ended, by reason: slow_client (it did not read; it reconnects and catches up) or credentials (its session or token ended).',
  { label: 'reason', values: { slow_client: 'dropped', credentials: 'ended' } },
);
totalCounter(
  'todoapp_events_reconnections_total',
  'Event streams opened with a Last-Event-ID, by result: replayed (given what they missed) or resync (too old: told to read again).',
  { label: 'result', values: { replayed: 'replayed', resync: 'resynced' } },
);
