// Request validation with two Ajv instances: bodies are strict (no type
// coercion, unknown fields rejected, never silently removed); query strings
// and path parameters are text on the wire, so those are coerced.
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: true, removeAdditional: false, useDefaults: true, strict: false, ...options });
  addFormats(ajv, { mode: 'full', formats: ['date', 'date-time', 'uri', 'uuid'] });
  return ajv;
}

const bodyAjv = makeAjv({ coerceTypes: false });
const textAjv = makeAjv({ coerceTypes: 'array' });

// Note: calling addSchema inside a child plugin makes Fastify 5 rebuild that
// context's validator from its defaults, silently dropping these compilers.
// Shared schemas are therefore plain imported objects, not $id references.

/** The same strict validator the API uses for bodies, for input that arrives another way (forms). */
export function compileBodyValidator<T>(schema: object): ValidateFunction<T> {
  return bodyAjv.compile<T>(schema);
}

/**
 * Methods whose request has no body by meaning. Clients still label them
 * JSON: the Todo-Backend reference specs (jQuery) send `DELETE /api/todos`
 * with `Content-Type: application/json` and nothing after it.
 */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

export function installValidation(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema));
  // Fastify's own JSON parser (prototype-poisoning checks included), except
  // that an empty body on a bodyless method is no body at all instead of
  // "Empty JSON body". A POST or PATCH without one is still that 400.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString(); // a string already (parseAs), typed as either
    if (text.length === 0 && BODYLESS_METHODS.has(request.method)) {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });
}

export interface FieldError {
  field: string;
  message: string;
}

/** Turns Ajv's errors into `{ field, message }` pairs a person can act on. */
export function describeValidationErrors(errors: ErrorObject[]): FieldError[] {
  const described = errors
    .filter((error) => error.keyword !== 'anyOf' && !(error.keyword === 'type' && error.params.type === 'null'))
    .map((error): FieldError => {
      const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
      const field = path === '' ? 'body' : path;
      switch (error.keyword) {
        case 'required':
          return { field: join(path, error.params.missingProperty), message: 'is required' };
        case 'additionalProperties':
          return { field: join(path, error.params.additionalProperty), message: 'is not a known field' };
        case 'type':
          return { field, message: `must be ${article(error.params.type)}` };
        case 'minLength':
          return {
            field,
            message:
              error.params.limit === 1 ? 'must not be empty' : `must be at least ${error.params.limit} characters`,
          };
        case 'maxLength':
          return { field, message: `must be at most ${error.params.limit} characters` };
        case 'minimum':
          return { field, message: `must be at least ${error.params.limit}` };
        case 'maximum':
          return { field, message: `must be at most ${error.params.limit}` };
        case 'enum':
          return { field, message: `must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}` };
        case 'minItems':
          return {
            field,
            message: `must list at least ${error.params.limit} ${error.params.limit === 1 ? 'item' : 'items'}`,
          };
        case 'maxItems':
          return { field, message: `must list at most ${error.params.limit} items` };
        case 'format':
          return {
            field,
            message:
              error.params.format === 'date'
                ? 'must be a real calendar date written YYYY-MM-DD'
                : `must be a valid ${error.params.format}`,
          };
        default:
          return { field, message: error.message ?? 'is invalid' };
      }
    });
  // allErrors reports a field once per failed branch of a union; keep the first.
  const seen = new Set<string>();
  return described.filter((entry) => !seen.has(entry.field) && seen.add(entry.field));
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function article(type: string): string {
  const names: Record<string, string> = {
    integer: 'an integer',
    object: 'an object',
    array: 'an array',
    string: 'a string',
    boolean: 'true or false',
    number: 'a number',
  };
  return names[type] ?? type.split(',').map(article).join(' or ');
}
