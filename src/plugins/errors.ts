// Every error leaves as a clear message: JSON `{ error, details }` under /api,
// an HTML page elsewhere. Stack traces, SQL and paths only with DEBUG=true.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { renderErrorPage } from '../views/pages.ts';
import { describeValidationErrors, type FieldError } from './validation.ts';

/** An error whose message is meant for the client. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: FieldError[],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (what = 'Not found') => new HttpError(404, what);

interface ClientError {
  statusCode: number;
  error: string;
  details?: FieldError[];
}

const VALIDATION_SUBJECT: Record<string, string> = {
  body: 'request body',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};

function toClientError(error: FastifyError, bodyLimit: number): ClientError | undefined {
  if (error instanceof HttpError) {
    return { statusCode: error.statusCode, error: error.message, ...(error.details ? { details: error.details } : {}) };
  }
  if (error.validation) {
    const subject = VALIDATION_SUBJECT[error.validationContext ?? 'body'] ?? 'request';
    return {
      statusCode: 400,
      error: `Invalid ${subject}`,
      details: describeValidationErrors(error.validation as never),
    };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        statusCode: 415,
        error: 'Unsupported content type',
        details: [{ field: 'Content-Type', message: 'must be application/json (or a form encoding on HTML forms)' }],
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        statusCode: 413,
        error: 'Request body too large',
        details: [{ field: 'body', message: `must be at most ${bodyLimit} bytes` }],
      };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { statusCode: 400, error: 'Malformed JSON', details: [{ field: 'body', message: 'is not valid JSON' }] };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        statusCode: 400,
        error: 'Empty JSON body',
        details: [{ field: 'body', message: 'must be a JSON object' }],
      };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { statusCode: status, error: status === 404 ? 'Not found' : 'Bad request' };
  return undefined;
}

export function wantsJson(request: FastifyRequest): boolean {
  return (
    request.url.startsWith('/api/') || request.url === '/api' || !(request.headers.accept ?? '').includes('text/html')
  );
}

function send(request: FastifyRequest, reply: FastifyReply, problem: ClientError, debugText?: string): FastifyReply {
  reply.code(problem.statusCode);
  if (wantsJson(request)) {
    return reply.send({ error: problem.error, details: problem.details, ...(debugText ? { debug: debugText } : {}) });
  }
  return reply
    .type('text/html; charset=utf-8')
    .send(renderErrorPage(problem.statusCode, problem.error, problem.details, debugText));
}

export function installErrorHandling(app: FastifyInstance, options: { debug: boolean; bodyLimit: number }): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toClientError(error, options.bodyLimit);
    if (problem) {
      return send(request, reply, problem);
    }
    if (isDatabaseUnavailable(error)) {
      // Temporary: the database is restarting or failing over. Say when to retry.
      request.log.warn({ err: error }, 'database unavailable');
      reply.header('retry-after', '5');
      return send(request, reply, { statusCode: 503, error: 'Service temporarily unavailable; please retry shortly' });
    }
    request.log.error({ err: error }, 'request failed');
    return send(
      request,
      reply,
      { statusCode: 500, error: 'Internal server error' },
      options.debug ? (error.stack ?? error.message) : undefined,
    );
  });
  app.setNotFoundHandler((request, reply) => send(request, reply, { statusCode: 404, error: 'Not found' }));
}
