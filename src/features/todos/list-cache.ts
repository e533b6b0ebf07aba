// Built bodies of GET /api/todos, reused while the list is the same. A list
// is read far more often than it changes, and building one (decoding every
// row, JSON.stringify, compressing) was most of the request's CPU; asking the
// database only which rows and versions the list has is cheap.
//
// A body is keyed by everything it is made of: the base URL (its `url`s are
// absolute) and the ordered `id:version` pairs of its rows. A row's version
// is its xmin, which every committed change gives a new value, whoever makes
// it (this process, another replica, the page forms, the admin area, psql),
// so a list whose rows changed has a new key and is built afresh: nothing is
// invalidated, and nothing can be stale.
//
// It cannot show one person another's list either: the keys come from queries
// scoped by owner, and row ids are never shared by two people's todos, so a
// key is only ever met by the owner of its rows (and the body of a key is
// what anyone whose query returned those rows would be shown anyway).
//
// Kept in the app's list_bodies cache (plugins/caches.ts): least recently
// used dropped first, bounded by bytes, a body over 2 MB answered, not kept.
import { createHash } from 'node:crypto';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import negotiate from '@fastify/accept-negotiator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { compression } from '../../plugins/compression.ts';
import type { ByteCache } from '../../plugins/caches.ts';
import { TODO_JSON_FORMAT } from './schemas.ts';

export type ListEncoding = 'br' | 'gzip';

export interface CachedList {
  readonly key: string;
  /** Weak: the same for every content-encoding of the body. */
  readonly etag: string;
  /** The JSON array, UTF-8. */
  readonly json: Buffer;
  /** How many todos it holds, and the pagination cursor after its last one (for the Link header). */
  readonly count: number;
  readonly cursor: string | undefined;
  /** The compressed forms asked for so far. */
  readonly encoded: Partial<Record<ListEncoding, Buffer>>;
}

// Changes whenever the body's format does (derived from the todo's field
// list, schemas.ts), so an ETag a client kept from an older release cannot
// match a body written differently for the same rows.
const BODY_FORMAT = `todos-${TODO_JSON_FORMAT}`;

/** The key of a list's body: the base URL, then each row's id and version, in order (ListVersions.versions). */
export function listKey(base: string, versions: string): string {
  return `${base} ${versions}`;
}

/** Bodies by key, in one app's list_bodies cache (a list read again after it was dropped costs one full build). */
export class ListBodyCache {
  readonly #entries: ByteCache<CachedList>;

  constructor(entries: ByteCache<CachedList>) {
    this.#entries = entries;
  }

  /** The body built for exactly these rows, if there is one. */
  get(key: string): CachedList | undefined {
    return this.#entries.get(key);
  }

  /**
   * Keeps a body built from the rows whose key this is (the rows actually
   * rendered, not those of an earlier versions query: the two queries are
   * not one snapshot) and answers it.
   */
  set(key: string, json: string, count: number, cursor: string | undefined): CachedList {
    const existing = this.#entries.peek(key);
    if (existing) return existing; // built concurrently: the same bytes, by construction
    const body = Buffer.from(json, 'utf8');
    const etag = `W/"${createHash('sha1').update(BODY_FORMAT).update('\n').update(key).digest('base64url').slice(0, 22)}"`;
    const list: CachedList = { key, etag, json: body, count, cursor, encoded: {} };
    // A body too large to keep among others is answered, not kept (the cache's per-entry limit).
    this.#entries.set(key, list);
    return list;
  }

  /** The body compressed for `encoding`, compressed once per list as the app's compression plugin would. */
  encoded(list: CachedList, encoding: ListEncoding): Buffer {
    const ready = list.encoded[encoding];
    if (ready) return ready;
    const body =
      encoding === 'br'
        ? brotliCompressSync(list.json, compression.brotliOptions)
        : gzipSync(list.json, compression.zlibOptions);
    list.encoded[encoding] = body;
    // Counted again with what it grew by (which may drop others, or this one past its limit).
    if (this.#entries.peek(list.key) === list) this.#entries.resize(list.key);
    return body;
  }

  /**
   * Answers a list: 304 when If-None-Match names it; otherwise its body in
   * the encoding Accept-Encoding prefers, chosen as @fastify/compress would.
   * The route must have `compress: false`, so the plugin neither compresses
   * these bytes again nor touches these headers.
   */
  send(request: FastifyRequest, reply: FastifyReply, list: CachedList): FastifyReply {
    // One person's list: kept by their own client only, and asked again each
    // time (with this ETag, so an unchanged list costs a 304).
    reply.header('etag', list.etag).header('cache-control', 'private, no-cache');
    // Below the threshold the plugin would not compress: the same bytes for everyone.
    const negotiable = list.json.length >= compression.threshold;
    if (negotiable) addVary(reply, 'accept-encoding');
    if (matchesIfNoneMatch(request.headers['if-none-match'], list.etag)) return reply.code(304).send();
    reply.type('application/json; charset=utf-8');
    const encoding = negotiable ? chooseEncoding(request.headers['accept-encoding']) : undefined;
    if (!encoding) return reply.send(list.json);
    return reply.header('content-encoding', encoding).send(this.encoded(list, encoding));
  }
}

/**
 * The encoding @fastify/compress would choose (its getEncodingHeader): case
 * ignored, `*` and `x-gzip` taken as gzip, q=0 refused, br preferred at equal
 * quality; undefined means identity.
 */
export function chooseEncoding(acceptEncoding: string | undefined): ListEncoding | undefined {
  if (acceptEncoding === undefined) return undefined;
  const chosen = negotiate(acceptEncoding.toLowerCase().replace(/\*|x-gzip/g, 'gzip'), compression.encodings);
  return chosen === 'br' || chosen === 'gzip' ? chosen : undefined;
}

/** If-None-Match by weak comparison (RFC 9110 13.1.2): `*`, or any listed tag with the same opaque value, W/ or not. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const [tag] of header.matchAll(/"[^"]*"/g)) if (tag === opaque) return true;
  return false;
}

/** Adds a field name to Vary, keeping what other plugins (CORS) put there. */
function addVary(reply: FastifyReply, field: string): void {
  const current = reply.getHeader('vary');
  if (current === undefined) {
    reply.header('vary', field);
    return;
  }
  const fields = (Array.isArray(current) ? current.join(',') : String(current))
    .split(',')
    .map((name) => name.trim().toLowerCase());
  if (!fields.includes(field) && !fields.includes('*'))
    reply.header('vary', `${Array.isArray(current) ? current.join(', ') : String(current)}, ${field}`);
}
