// Security headers on every response: a strict Content-Security-Policy (no
// inline scripts), no framing, nosniff, a referrer policy, and HSTS when the
// app is reached over HTTPS (PUBLIC_URL, or the request directly or through
// a trusted proxy).
import type { FastifyInstance } from 'fastify';
import { isHttps } from './host-allowlist.ts';

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.headers({
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'cross-origin-opener-policy': 'same-origin',
      'permissions-policy': 'camera=(), microphone=(), geolocation=()',
    });
    if (isHttps(request)) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
  });
}
