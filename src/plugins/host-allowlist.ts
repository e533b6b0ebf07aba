// Like Django's ALLOWED_HOSTS: requests naming another Host get 400, which
// stops host-header poisoning of the absolute URLs we build. Probes and
// metrics are exempt so Kubernetes and Prometheus can reach pods by IP.
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.ts';

const EXEMPT = new Set(['/healthz', '/readyz', '/metrics']);

export function hostIsAllowed(hostname: string, allowed: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return allowed.some((entry) => entry === '*' || entry === host || (entry.startsWith('.') && (host === entry.slice(1) || host.endsWith(entry))));
}

export function installHostAllowlist(app: FastifyInstance, allowed: readonly string[]): void {
  if (allowed.includes('*')) return;
  app.addHook('onRequest', async (request) => {
    if (EXEMPT.has(request.url.split('?')[0] ?? '')) return;
    if (!hostIsAllowed(request.hostname, allowed)) {
      throw new HttpError(400, 'Bad request: this host name is not served here', [
        { field: 'Host', message: 'is not in ALLOWED_HOSTS' },
      ]);
    }
  });
}
