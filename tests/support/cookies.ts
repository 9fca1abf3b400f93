/**
 * A minimal cookie jar for tests: app.handle and Eden Treaty keep no cookies, so each test
 * client carries its own. Honours Max-Age=0 / past Expires as deletion, like a browser.
 */
export type ParsedCookie = { name: string; value: string; attributes: Map<string, string | true> };

export function parseSetCookie(header: string): ParsedCookie {
  const [pair = '', ...rest] = header.split(';');
  const index = pair.indexOf('=');
  const attributes = new Map<string, string | true>();
  for (const part of rest) {
    const [key = '', ...value] = part.trim().split('=');
    attributes.set(key.toLowerCase(), value.length > 0 ? value.join('=') : true);
  }
  return { name: pair.slice(0, index).trim(), value: pair.slice(index + 1).trim(), attributes };
}

export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Takes every Set-Cookie of a response; returns the response for chaining. */
  store<T extends { headers: Headers }>(response: T): T {
    for (const header of response.headers.getSetCookie()) {
      const cookie = parseSetCookie(header);
      const maxAge = cookie.attributes.get('max-age');
      const expires = cookie.attributes.get('expires');
      const expired = maxAge === '0' || (typeof expires === 'string' && Date.parse(expires) <= Date.now()) || cookie.value === '';
      if (expired) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    return response;
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  names(): string[] {
    return [...this.cookies.keys()];
  }

  /** The Cookie request header, optionally only some cookies. */
  header(only?: (name: string) => boolean): string {
    return [...this.cookies]
      .filter(([name]) => (only ? only(name) : true))
      .map(([name, value]) => `${name}=${value}`)
      .join('; ');
  }

  clone(): CookieJar {
    const copy = new CookieJar();
    for (const [name, value] of this.cookies) copy.cookies.set(name, value);
    return copy;
  }
}
