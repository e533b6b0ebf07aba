// The one home of the app's in-memory caches; docs/caching.md says what each
// keeps, by which key, why it is never stale and how it is bounded. Each is a
// least-recently-used cache (lru-cache) bounded by bytes: `maxSize` with a
// `sizeCalculation`, and a value over its cache's per-entry limit is answered
// but never kept, so a few huge todos cannot push everything else out (or
// grow the process: the bound counts what the values hold).
//
// One set per app (createAppCaches, in buildApp): no module holds entries, so
// two apps in one process (the tests run both engines side by side) never
// share one. Metrics, in the process's registry: todoapp_cache_lookups_total
// {cache, result=hit|miss}, todoapp_cache_not_kept_total {cache},
// todoapp_cache_bytes {cache} and todoapp_cache_max_bytes {cache}.
import { LRUCache } from 'lru-cache';
import { Counter, Gauge } from 'prom-client';
import type { User } from '../features/accounts/repository.ts';
import type { ListRecord } from '../features/lists/repository.ts';
import type { CachedList } from '../features/todos/list-cache.ts';
import type { DeflatedPart } from '../views/gzip-parts.ts';
import { registry } from './metrics.ts';

export type CacheName =
  'list_bodies' | 'list_items' | 'item_markup' | 'readable_dates' | 'auth_lookups' | 'lists_seen' | 'page_parts';

export interface CacheBound {
  /** Most bytes (as the cache's sizeOf counts them) held at once. */
  maxBytes: number;
  /** A value counted larger than this is answered, not kept. */
  maxEntryBytes: number;
  /** Forgotten this long after it was kept (the auth lookups only). */
  ttlMs?: number;
}

/**
 * The bounds of one app's caches: 19 MB in all, a twentieth of a 384 MiB
 * pod (halved from 36 MB when Node 22's larger footprint took the benchmark's
 * peak RSS past 150 MB: docs/performance.md). Each holds many times what its count bound used to hold for ordinary
 * todos (a few hundred bytes each), so the hit rates stay; what changes is
 * that a few huge todos can no longer take hundreds of MB.
 */
export const CACHE_BOUNDS: Record<CacheName, CacheBound> = {
  // GET /api/todos bodies with their compressed forms: some 225 lists of 100 todos; a 2 MB body is built each time.
  list_bodies: { maxBytes: 8 * 1024 * 1024, maxEntryBytes: 2 * 1024 * 1024 },
  // A list page's items, deflated (some 6 KB for 100 todos, plus their key of ~1.5 KB).
  list_items: { maxBytes: 2 * 1024 * 1024, maxEntryBytes: 512 * 1024 },
  // One todo's <li> (~1 KB usually; notes of tens of KB escaped are rendered each time).
  item_markup: { maxBytes: 4 * 1024 * 1024, maxEntryBytes: 64 * 1024 },
  // "Mon, 7 Dec 2026" by ISO date: some 1,000 dates.
  readable_dates: { maxBytes: 256 * 1024, maxEntryBytes: 1024 },
  // Users by session or token hash, for a second (plugins/auth.ts): some 4,000 callers in the same second.
  auth_lookups: { maxBytes: 2 * 1024 * 1024, maxEntryBytes: 16 * 1024, ttlMs: 1000 },
  // The lists a person sees, for a page's column, for a second (features/todos/page-routes.ts): ~300 B a list.
  lists_seen: { maxBytes: 2 * 1024 * 1024, maxEntryBytes: 64 * 1024, ttlMs: 1000 },
  // The markup around a list page's items, deflated, by its text (a page has ~20 pieces, ~9 KB in all).
  page_parts: { maxBytes: 1 * 1024 * 1024, maxEntryBytes: 64 * 1024 },
};

/** What an entry costs beyond its key and value: lru-cache's slots, the Map's, the value's object. */
const ENTRY_OVERHEAD_BYTES = 128;

/** A string's bytes, at most: V8 keeps one byte per character when all fit in Latin-1, else two. */
export function stringBytes(text: string): number {
  return 2 * text.length;
}

/** What the metrics read off a cache, whatever it keeps. */
export interface KeptCache {
  readonly name: CacheName;
  readonly bound: CacheBound;
  readonly bytes: number;
  readonly size: number;
  report(): void;
  close(): void;
}

/** Every cache of every app alive in this process, so the metrics can be read off them when scraped. */
const live = new Set<KeptCache>();

const lookups = new Counter({
  name: 'todoapp_cache_lookups_total',
  help: 'Lookups in the in-memory caches, by cache and result (hit or miss).',
  labelNames: ['cache', 'result'] as const,
  registers: [registry],
  collect() {
    for (const cache of live) cache.report();
  },
});
const notKept = new Counter({
  name: 'todoapp_cache_not_kept_total',
  help: 'Values answered but not kept because they were over their cache’s per-entry limit, by cache.',
  labelNames: ['cache'] as const,
  registers: [registry],
  collect() {
    for (const cache of live) cache.report();
  },
});
new Gauge({
  name: 'todoapp_cache_bytes',
  help: 'Bytes held by the in-memory caches, as each counts them (summed over the apps of the process), by cache.',
  labelNames: ['cache'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const cache of live) this.inc({ cache: cache.name }, cache.bytes);
  },
});
new Gauge({
  name: 'todoapp_cache_max_bytes',
  help: 'The byte bound of the in-memory caches (summed over the apps of the process), by cache.',
  labelNames: ['cache'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const cache of live) this.inc({ cache: cache.name }, cache.bound.maxBytes);
  },
});

/**
 * A byte-bounded LRU of values by string key. Lookups are counted in plain
 * numbers and handed to the counters when they are read, so the hit path
 * costs a Map lookup and an increment.
 */
export class ByteCache<V extends NonNullable<unknown>> implements KeptCache {
  readonly name: CacheName;
  readonly bound: CacheBound;
  readonly #lru: LRUCache<string, V>;
  #hits = 0;
  #misses = 0;
  #notKept = 0;
  #reported = { hits: 0, misses: 0, notKept: 0 };

  constructor(name: CacheName, bound: CacheBound, sizeOf: (value: V) => number) {
    this.name = name;
    this.bound = bound;
    this.#lru = new LRUCache<string, V>({
      maxSize: bound.maxBytes,
      maxEntrySize: bound.maxEntryBytes,
      sizeCalculation: (value, key) => ENTRY_OVERHEAD_BYTES + stringBytes(key) + sizeOf(value),
      ...(bound.ttlMs === undefined ? {} : { ttl: bound.ttlMs }),
    });
    live.add(this);
  }

  /** The value kept under `key`, now the most recently used; counted as a hit or a miss. */
  get(key: string): V | undefined {
    const value = this.#lru.get(key);
    if (value === undefined) this.#misses++;
    else this.#hits++;
    return value;
  }

  /** Without counting a lookup or making it recently used. */
  peek(key: string): V | undefined {
    return this.#lru.peek(key);
  }

  /** Keeps `value`, dropping the least recently used values past the bound; false when it is over the per-entry limit (and so not kept). */
  set(key: string, value: V): boolean {
    this.#lru.set(key, value);
    if (this.#lru.has(key)) return true;
    this.#notKept++;
    return false;
  }

  /** Counts a kept value's size again after it grew (lru-cache counts it when set, and not for the same value set again). */
  resize(key: string): void {
    const value = this.#lru.peek(key);
    if (value === undefined) return;
    this.#lru.delete(key);
    this.set(key, value);
  }

  clear(): void {
    this.#lru.clear();
  }

  get size(): number {
    return this.#lru.size;
  }

  /** The bytes held, as sizeOf counts them: never over bound.maxBytes. */
  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  get stats(): { hits: number; misses: number; notKept: number } {
    return { hits: this.#hits, misses: this.#misses, notKept: this.#notKept };
  }

  /** Adds what was counted since the last report to the process's counters. */
  report(): void {
    const reported = this.#reported;
    if (this.#hits > reported.hits) lookups.inc({ cache: this.name, result: 'hit' }, this.#hits - reported.hits);
    if (this.#misses > reported.misses)
      lookups.inc({ cache: this.name, result: 'miss' }, this.#misses - reported.misses);
    if (this.#notKept > reported.notKept) notKept.inc({ cache: this.name }, this.#notKept - reported.notKept);
    this.#reported = { hits: this.#hits, misses: this.#misses, notKept: this.#notKept };
  }

  /** Its app closed: the last counts reported, the entries let go, no longer in the metrics. */
  close(): void {
    this.report();
    this.#lru.clear();
    live.delete(this);
  }
}

/** A user as the auth lookups keep it: its strings and a fixed cost for the object. */
function userBytes(user: User): number {
  let bytes = 256;
  for (const value of Object.values(user)) if (typeof value === 'string') bytes += stringBytes(value);
  return bytes;
}

/** A kept API list: its JSON, the compressed forms made so far, its key and tag (twice: the cache's key is counted apart). */
function listBytes(list: CachedList): number {
  return (
    list.json.length +
    (list.encoded.br?.length ?? 0) +
    (list.encoded.gzip?.length ?? 0) +
    stringBytes(list.etag) +
    stringBytes(list.key)
  );
}

/** A person's lists: their strings and a fixed cost for each object. */
function listsBytes(lists: ListRecord[]): number {
  let bytes = 64;
  for (const list of lists) bytes += 160 + stringBytes(list.uid + list.name + list.owner + list.role);
  return bytes;
}

export interface AppCaches {
  /** GET /api/todos bodies (features/todos/list-cache.ts). */
  listBodies: ByteCache<CachedList>;
  /** A list page's items, deflated (features/todos/page-routes.ts). */
  listItems: ByteCache<DeflatedPart>;
  /** One todo's markup (views/todo-pages.ts). */
  itemMarkup: ByteCache<string>;
  /** Readable dates by ISO date (views/todo-pages.ts). */
  readableDates: ByteCache<string>;
  /** Users by session or token hash (plugins/auth.ts). */
  authLookups: ByteCache<User>;
  /** The lists a person sees, by person and feed stamp (features/todos/page-routes.ts). */
  listsSeen: ByteCache<ListRecord[]>;
  /** The pieces of a list page around its items, deflated, by their text (views/gzip-parts.ts). */
  pageParts: ByteCache<DeflatedPart>;
  all(): KeptCache[];
  close(): void;
}

/** One app's caches, with the default bounds unless told otherwise (tests). */
export function createAppCaches(bounds: Partial<Record<CacheName, CacheBound>> = {}): AppCaches {
  const bound = (name: CacheName) => bounds[name] ?? CACHE_BOUNDS[name];
  const caches = {
    listBodies: new ByteCache<CachedList>('list_bodies', bound('list_bodies'), listBytes),
    listItems: new ByteCache<DeflatedPart>('list_items', bound('list_items'), (part) => part.deflated.length + 64),
    itemMarkup: new ByteCache<string>('item_markup', bound('item_markup'), stringBytes),
    readableDates: new ByteCache<string>('readable_dates', bound('readable_dates'), stringBytes),
    authLookups: new ByteCache<User>('auth_lookups', bound('auth_lookups'), userBytes),
    listsSeen: new ByteCache<ListRecord[]>('lists_seen', bound('lists_seen'), listsBytes),
    pageParts: new ByteCache<DeflatedPart>('page_parts', bound('page_parts'), (part) => part.deflated.length + 64),
  };
  const all = (): KeptCache[] => Object.values(caches);
  return {
    ...caches,
    all,
    close: () => {
      for (const cache of all()) cache.close();
    },
  };
}
