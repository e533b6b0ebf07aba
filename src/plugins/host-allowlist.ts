// Like Django's ALLOWED_HOSTS: requests naming another Host get 400, which
// stops host-header poisoning of the absolute URLs we build. Probes and
// metrics are exempt so Kubernetes and Prometheus can reach pods by IP.
//
// The whole Host is checked, not only the name before its first colon: it
// is what `request.publicOrigin` (absolute URLs, Location headers, redirect
// targets) is made of, so `127.0.0.1:1@evil.example` must not get through.
// With PUBLIC_URL set, that origin is the operator's and the Host is only
// checked.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './errors.ts';

const EXEMPT = new Set(['/healthz', '/readyz', '/metrics']);

/** A DNS name or an IPv4 address, or an IPv6 literal in brackets; then an optional numeric port. */
const HOST = /^(?<name>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?<port>\d{1,5}))?$/i;

/** The name of a well-formed Host (lower case, without a trailing dot), or undefined when it is anything else. */
export function hostName(host: string): string | undefined {
  const match = HOST.exec(host);
  const name = match?.groups?.name;
  const port = match?.groups?.port;
  if (name === undefined || (port !== undefined && Number(port) > 65535)) return undefined;
  return name.toLowerCase().replace(/\.$/, '');
}

export function hostIsAllowed(host: string, allowed: readonly string[]): boolean {
  const name = hostName(host);
  if (name === undefined) return false;
  return allowed.some(
    (entry) =>
      entry === '*' || entry === name || (entry.startsWith('.') && (name === entry.slice(1) || name.endsWith(entry))),
  );
}

function badRequest(field: string, message: string): HttpError {
  return new HttpError(400, `Bad request: ${field} ${message}`, [{ field, message }]);
}

export interface HostOptions {
  allowedHosts: readonly string[];
  /** PUBLIC_URL's origin, when the operator set it. */
  publicOrigin: string | undefined;
}

/** HTTPS as the person's browser sees it: PUBLIC_URL's scheme when set, else the request's (behind a trusted proxy, X-Forwarded-Proto). */
export function isHttps(request: FastifyRequest): boolean {
  return request.publicOrigin.startsWith('https:');
}

export function installHostAllowlist(app: FastifyInstance, { allowedHosts, publicOrigin }: HostOptions): void {
  // A getter: worked out only by the routes that build a URL.
  app.decorateRequest('publicOrigin', {
    getter(this: FastifyRequest): string {
      return publicOrigin ?? `${this.protocol}://${this.host.toLowerCase()}`;
    },
  });
  const anyHost = allowedHosts.includes('*');
  app.addHook('onRequest', async (request) => {
    if (EXEMPT.has(request.url.split('?')[0] ?? '')) return;
    // Behind a trusted proxy these come from X-Forwarded-Host and -Proto.
    if (request.protocol !== 'http' && request.protocol !== 'https')
      throw badRequest('X-Forwarded-Proto', 'must be http or https');
    if (hostName(request.host) === undefined) {
      const forwarded = request.host !== request.headers.host;
      throw badRequest(forwarded ? 'X-Forwarded-Host' : 'Host', 'must be a host name, with an optional numeric port');
    }
    if (!anyHost && !hostIsAllowed(request.host, allowedHosts)) {
      throw new HttpError(400, 'Bad request: this host name is not served here', [
        { field: 'Host', message: 'is not in ALLOWED_HOSTS' },
      ]);
    }
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Where this app is reached: PUBLIC_URL when set, else the request's scheme and Host (checked above). */
    readonly publicOrigin: string;
  }
}
