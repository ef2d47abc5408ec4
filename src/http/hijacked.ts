// Responses a route takes over with reply.hijack() (the live stream) skip fastify's onResponse
// hook, where the HTTP request metrics are counted: the route marks them here and the server
// counts them when their response closes (src/http/server.ts).
import type { IncomingMessage } from 'node:http';
import type { FastifyReply } from 'fastify';

const hijacked = new WeakSet<IncomingMessage>();

/** reply.hijack(), remembered so that the request is still counted in the metrics. */
export function hijackCounted(reply: FastifyReply): void {
  hijacked.add(reply.request.raw);
  reply.hijack();
}

export function wasHijacked(request: IncomingMessage): boolean {
  return hijacked.has(request);
}
