import { describe, expect, test } from 'bun:test';
import { ConfigError, parseConfig } from '../src/config/env';
import { formatLsn, parseLsn, readYourWritesLsn, signLsnToken, verifyLsnToken } from '../src/db/lsn';

const SECRET = 'a-secret-long-enough-for-the-token-0123456789';

describe('LSN parsing', () => {
  test('parses HI/LO hex as a 64-bit integer and formats it back', () => {
    expect(parseLsn('0/3000028')).toBe(0x3000028n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe((1n << 64n) - 1n);
    expect(formatLsn(0x1_0300_0028n)).toBe('1/3000028');
  });

  test('compares numerically, not as text ("0/A0" > "0/9F", "1/0" > "0/FFFFFFFF")', () => {
    // Guards a string comparison of LSNs: it would order 0/A0 before 0/9F0.
    expect((parseLsn('0/A0') ?? 0n) > (parseLsn('0/9F') ?? 0n)).toBe(true);
    expect((parseLsn('1/0') ?? 0n) > (parseLsn('0/FFFFFFFF') ?? 0n)).toBe(true);
  });

  test('refuses anything that is not an LSN', () => {
    for (const text of ['', '0', '0/', '/1', 'g/1', '0/123456789', '0/1/2', '-1/0']) expect(parseLsn(text)).toBeNull();
  });
});

describe('read-your-writes LSN', () => {
  test('backs off a page header, where an idle primary insert position sits but no replay position can', () => {
    // Seen on PostgreSQL 15 right after a segment switch: insert 0/3000028 while every replica stays at 0/3000000.
    expect(readYourWritesLsn(0x3000028n, 8192)).toBe(0x3000000n);
    expect(readYourWritesLsn(0x3002018n, 8192)).toBe(0x3002000n);
  });

  test('keeps every other position exactly', () => {
    expect(readYourWritesLsn(0x3000050n, 8192)).toBe(0x3000050n);
    expect(readYourWritesLsn(0x3000000n, 8192)).toBe(0x3000000n);
    // With bigger WAL pages, 8 KiB multiples are mid-page: nothing to back off there.
    expect(readYourWritesLsn(0x3002018n, 16384)).toBe(0x3002018n);
  });
});

describe('LSN token', () => {
  test('round-trips through sign and verify', () => {
    const token = signLsnToken(0x3000050n, SECRET, 60);
    expect(verifyLsnToken(token, SECRET)).toBe(0x3000050n);
  });

  test('is refused when signed with another secret (a second instance must share BETTER_AUTH_SECRET)', () => {
    expect(verifyLsnToken(signLsnToken(0x3000050n, 'another-secret-0123456789-0123456789', 60), SECRET)).toBeNull();
  });

  test('is refused when its LSN was raised by the client (it would pin every read to the primary)', () => {
    const token = signLsnToken(0x3000050n, SECRET, 60);
    const [, expires, mac] = token.split('.');
    expect(verifyLsnToken(`FF/0.${expires}.${mac}`, SECRET)).toBeNull();
  });

  test('is refused once expired, and when its expiry was extended by the client', () => {
    const now = Date.now();
    const token = signLsnToken(0x3000050n, SECRET, 60, now);
    expect(verifyLsnToken(token, SECRET, now + 61_000)).toBeNull();
    const [lsn, expires, mac] = token.split('.');
    expect(verifyLsnToken(`${lsn}.${Number(expires) + 3600}.${mac}`, SECRET, now + 61_000)).toBeNull();
  });

  test('is refused when malformed', () => {
    for (const token of ['', 'x', 'a.b', 'a.b.c.d', '0/1.notanumber.sig']) expect(verifyLsnToken(token, SECRET)).toBeNull();
  });
});

describe('token lifetime', () => {
  test('must outlive MAX_REPLICA_LAG_MS: past expiry the writer reads from replicas up to that far behind', () => {
    expect(() => parseConfig({ DB_LSN_TOKEN_TTL_S: '5', MAX_REPLICA_LAG_MS: '5000' })).toThrow(ConfigError);
    expect(() => parseConfig({ DB_LSN_TOKEN_TTL_S: '6', MAX_REPLICA_LAG_MS: '5000' })).not.toThrow();
  });
});
