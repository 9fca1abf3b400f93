/**
 * PostgreSQL WAL positions (LSNs) and the signed read-your-writes token built from them.
 * An LSN is text `HI/LO` in hex; we compare it as a 64-bit integer.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Lsn = bigint;

export function parseLsn(text: string): Lsn | null {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match || match[1] === undefined || match[2] === undefined) return null;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

// XLogPageHeaderData / XLogLongPageHeaderData, MAXALIGNed (PostgreSQL 15, 64-bit).
const SHORT_PAGE_HEADER = 24n;
const LONG_PAGE_HEADER = 40n;

/**
 * A read-your-writes target from `pg_current_wal_insert_lsn()`. When the last record ended exactly
 * on a WAL page boundary, the insert position points past the next page's header, where no record
 * can ever end: a replica's replay position (a record end) stays at the boundary until someone
 * writes again, so on an idle primary the token would never be satisfied. Backing off to the
 * boundary is exact: no record ends between the boundary and the header's end.
 */
export function readYourWritesLsn(insertLsn: Lsn, walBlockSize: number): Lsn {
  const offset = insertLsn % BigInt(walBlockSize);
  return offset === SHORT_PAGE_HEADER || offset === LONG_PAGE_HEADER ? insertLsn - offset : insertLsn;
}

/**
 * The token is `<lsn>.<expiresAtUnixS>.<hmac>`: stateless, so any instance holding the secret can
 * honour a token another instance issued. Signing stops a client from forcing every read to the
 * primary with a far-future LSN.
 */
export function signLsnToken(lsn: Lsn, secret: string, ttlS: number, nowMs = Date.now()): string {
  const payload = `${formatLsn(lsn)}.${Math.floor(nowMs / 1000) + ttlS}`;
  return `${payload}.${mac(payload, secret)}`;
}

export function verifyLsnToken(token: string, secret: string, nowMs = Date.now()): Lsn | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [lsnText, expiresText, signature] = parts as [string, string, string];
  const expected = Buffer.from(mac(`${lsnText}.${expiresText}`, secret));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const expiresAtS = Number(expiresText);
  if (!Number.isInteger(expiresAtS) || expiresAtS * 1000 < nowMs) return null;
  return parseLsn(lsnText);
}

function mac(payload: string, secret: string): string {
  return createHmac('sha256', `db-lsn:${secret}`).update(payload).digest('base64url');
}
