/** Set-Cookie handling on Elysia's `set`. */
export type HeaderSink = { headers: Record<string, string | number | string[] | undefined> };

/** Appends Set-Cookie values to Elysia's `set` without dropping ones already there. */
export function appendSetCookies(set: HeaderSink, cookies: readonly string[]): void {
  if (cookies.length === 0) return;
  const existing = set.headers['set-cookie'];
  const current = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  set.headers['set-cookie'] = [...current, ...cookies];
}
