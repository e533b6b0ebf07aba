// GET /static/<fingerprinted name>: the files of views/static from memory,
// cached forever (the name changes with the content), in the precompressed
// form the client accepts best (brotli, else gzip, else as they are).
import negotiate from '@fastify/accept-negotiator';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound } from './errors.ts';
import { findAsset, type ContentEncoding } from '../views/assets.ts';

const PREFERENCE: (ContentEncoding | 'identity')[] = ['br', 'gzip', 'identity'];

export const staticRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/static/:file',
    // The bytes are compressed already: the compression plugin leaves this route alone.
    { schema: { params: Type.Object({ file: Type.String() }) }, compress: false },
    async (request, reply) => {
      const asset = findAsset(request.params.file);
      if (!asset) throw notFound();
      reply.type(asset.contentType).header('cache-control', 'public, max-age=31536000, immutable');
      const offered = PREFERENCE.filter((encoding) => encoding === 'identity' || asset.encoded[encoding]);
      if (offered.length === 1) return reply.send(asset.body);
      reply.header('vary', 'accept-encoding');
      const chosen = negotiate(request.headers['accept-encoding'] ?? 'identity', offered);
      const encoded = chosen && chosen !== 'identity' ? asset.encoded[chosen] : undefined;
      if (!chosen || !encoded) return reply.send(asset.body);
      return reply.header('content-encoding', chosen).send(encoded);
    },
  );
};
