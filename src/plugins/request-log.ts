// One log line per request, written when the response has gone out. Fastify's
// own request logging writes two (an "incoming request" and a "request
// completed" line), which at LOG_LEVEL=info, the level the image and the
// manifests ship with, cost about a third of the list page's throughput.
import type { FastifyInstance } from 'fastify';

export function installRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
    done();
  });
}
