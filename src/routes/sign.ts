// Request signing: HMAC-SHA256 over "<timestamp>.<body>" with the route's Secret, so that a
// receiver can check who sent the body and refuse replays older than it tolerates.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const HEADERS = {
  signature: 'x-ovim-signature',
  timestamp: 'x-ovim-timestamp',
  idempotencyKey: 'idempotency-key',
} as const;

/** `sha256=<hex>` of `${timestamp}.${body}`. */
export function signature(secret: Buffer, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does (used by the tests and documented in the README). */
export function verifySignature(secret: Buffer, timestamp: string, body: string, header: string): boolean {
  if (!/^[0-9]{1,12}$/.test(timestamp)) return false;
  const want = Buffer.from(signature(secret, Number(timestamp), body));
  const got = Buffer.from(header);
  return want.length === got.length && timingSafeEqual(want, got);
}
