// Every server-rendered page leaves the same way: HTML, never cached (it is
// per person and changes with every action; the assets it links are cached).
import type { FastifyReply } from 'fastify';
import { PERSONAL_CACHE_CONTROL } from './cache-control.ts';

export function sendHtml(reply: FastifyReply, status: number, page: string | Buffer): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', PERSONAL_CACHE_CONTROL).send(page);
}
