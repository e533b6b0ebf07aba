// The gate of the pages that need a logged-in person (the todo and list
// pages): a hook on their scope, so a route added there cannot forget it, and
// the one way their handlers find who is looking.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '../features/accounts/repository.ts';
import type { Viewer } from '../views/pages.ts';

export type ViewerOf = (request: FastifyRequest, reply: FastifyReply) => Viewer | undefined;

/** Who is looking, or undefined after sending them to log in (and, from a page they asked for, back to it after). */
export function pagePersonOf(
  viewerOf: ViewerOf,
  request: FastifyRequest,
  reply: FastifyReply,
): { viewer: Viewer; user: User } | undefined {
  const viewer = viewerOf(request, reply);
  if (!viewer || !request.user) {
    const comeBack = request.method === 'GET' && request.url !== '/';
    void reply.redirect(comeBack ? `/login?next=${encodeURIComponent(request.url)}` : '/login', 303);
    return undefined;
  }
  return { viewer, user: request.user };
}

/**
 * No session, no page (the log-in page instead), before anything is parsed.
 * A bearer token is refused with 403 by the pages' scope (refuseApiTokens)
 * instead; an unknown URL stays a 404.
 */
export function requirePageSession(app: FastifyInstance, viewerOf: ViewerOf): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404 || request.authMethod === 'token' || (request.user && request.authMethod === 'session')) return;
    pagePersonOf(viewerOf, request, reply);
    return reply;
  });
}
