/** Cookies: reading the Cookie header, removing a cookie from it, and Set-Cookie on Elysia's `set`. */
export type HeaderSink = { headers: Record<string, string | number | string[] | undefined> };

/**
 * A cookie's value from a Cookie header, the first of that name (as better-call reads it), with
 * %-escapes and surrounding quotes undone; null when absent or malformed.
 */
export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) {
      const raw = part.slice(index + 1).trim();
      const value = raw.startsWith('"') ? raw.slice(1, -1) : raw;
      // Most values have no %-escape (the 1.5 KB base64url cookie cache): decoding them anyway
      // was ~5% of a signed-in read's CPU.
      if (!value.includes('%')) return value;
      try {
        return decodeURIComponent(value);
      } catch {
        // A malformed %-escape is just an unusable value, not a failed request.
        return null;
      }
    }
  }
  return null;
}

/**
 * The Cookie header without a cookie AND its chunks (`name.0`, `name.1`, ...): Better-Auth
 * reassembles a cookie from chunks when the plain name is absent, so removing only the plain
 * name let a renamed copy through (review of issue 7). Null when nothing is left.
 */
export function withoutCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  const chunk = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\.\\d+)?$`);
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => {
      if (part.length === 0) return false;
      const index = part.indexOf('=');
      return !chunk.test((index < 0 ? part : part.slice(0, index)).trim());
    });
  return kept.length > 0 ? kept.join('; ') : null;
}

/** Appends Set-Cookie values to Elysia's `set` without dropping ones already there. */
export function appendSetCookies(set: HeaderSink, cookies: readonly string[]): void {
  if (cookies.length === 0) return;
  const existing = set.headers['set-cookie'];
  const current = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  set.headers['set-cookie'] = [...current, ...cookies];
}
