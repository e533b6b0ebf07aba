// How HTML and JSON leave compressed: the options of @fastify/compress, in a
// module of their own so that the responses compressed ahead of time (a
// list's cached body, features/todos/list-cache.ts) come out exactly as the
// plugin would make them.
import { constants as zlib } from 'node:zlib';

export const compression = {
  encodings: ['br', 'gzip'] as ('br' | 'gzip')[],
  threshold: 1024,
  // Every page is compressed anew (each has its own form keys), every new
  // version of a list once, so the fast end of each codec: brotli quality 1
  // with a 256 KB window (the plugin's default, quality 4 with 4 MB, took
  // three times the CPU and memory per response for 15% fewer bytes), gzip
  // level 1.
  brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 1, [zlib.BROTLI_PARAM_LGWIN]: 18 } },
  zlibOptions: { level: 1 },
};
