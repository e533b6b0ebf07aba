// Cache-Control on every response that does not set its own: almost all of
// them carry one person's data (their todos, pages, account, admin views) or
// answer for one person's session, so no shared cache may keep them and the
// browser must ask again. The few that know better say so themselves: the
// fingerprinted static assets (public, immutable), the API's list (private,
// no-cache: revalidated with its ETag, see features/todos/list-cache.ts) and
// the probes (no-store).
import type { FastifyInstance } from 'fastify';

export const PERSONAL_CACHE_CONTROL = 'private, no-store';

export function installCacheControl(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', PERSONAL_CACHE_CONTROL);
  });
}
