// GET /api/events: the changes to every list the caller can see, as
// Server-Sent Events (feed.ts). Under the API's scope: a session or a token.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { requireApiUser } from '../../plugins/auth.ts';
import type { ChangeFeed } from './feed.ts';
import { parsePosition } from './repository.ts';

export interface EventRoutesOptions {
  feed: ChangeFeed;
}

/** A Last-Event-ID this server never gave out: older than anything, so the stream starts with `resync`. */
const UNKNOWN = { xid: -1n, seq: -1n };

const DESCRIPTION = `A \`text/event-stream\` of every change to the lists the caller can see, by anyone, through any replica.
Events (\`data\` is JSON):
- \`todo\` \`{ listId, activeCount, todo }\`: a todo was added or changed (\`todo\` as \`GET /api/todos/{id}\` answers it);
- \`todo-removed\` \`{ listId, activeCount, id, uid }\`: deleted, or moved to another list;
- \`list\` \`{ list }\`: a list was made, changed, or shared with the caller (\`list\` as \`GET /api/lists\` answers it);
- \`list-removed\` \`{ listId }\`: deleted, or the caller's access ended;
- \`ready\` \`{}\`: caught up; live from here;
- \`resync\` \`{}\`: the changes since the position given are no longer kept: read the lists again.

Every event has an \`id\`; reconnecting with it as \`Last-Event-ID\` (browsers do so themselves) or \`?lastEventId=\`
gives every change missed meanwhile, in order. Connect first, then read what you show, so nothing falls between.

The stream ends when the session or token it was opened with does (a log-out, a password change, a token revoked,
the account disabled or deleted, through any replica), within a second; reconnecting then answers 401.`;

export const eventRoutes: FastifyPluginAsyncTypebox<EventRoutesOptions> = async (app, { feed }) => {
  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Live changes to the lists the caller can see (Server-Sent Events)',
        description: DESCRIPTION,
        querystring: Type.Object(
          { lastEventId: Type.Optional(Type.String({ maxLength: 50, description: 'As the Last-Event-ID header.' })) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The event stream; it stays open.',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
        },
      },
      compress: false,
    },
    async (request, reply) => {
      const user = requireApiUser(request);
      const header = request.headers['last-event-id'];
      const given = typeof header === 'string' && header.trim() !== '' ? header : request.query.lastEventId;
      const after = given === undefined ? undefined : (parsePosition(given) ?? UNKNOWN);
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        // Proxies (nginx) must pass each event on at once.
        'x-accel-buffering': 'no',
      });
      // Browsers reconnect after this many milliseconds when the stream ends (a replica going away).
      reply.raw.write('retry: 1000\n\n');
      try {
        await feed.open({ userId: user.id, credential: request.credential! }, request.publicOrigin, reply.raw, after);
      } catch (error) {
        request.log.warn({ err: error }, 'could not open an event stream');
        reply.raw.end();
      }
    },
  );
};
