/**
 * Security headers on every response. Hand-written (elysia-helmet sends a broken
 * `Cross-Origin-Resource-Policy: ?1`), and stamped in one place: src/serve.ts, on whatever leaves
 * the server (routes, errors, 404, Better-Auth's and the webhook's raw Responses, the CORS
 * preflight, refusals before the app, refused WebSocket upgrades). `app.handle()` alone (tests)
 * does not add them. Bun's own bare 400 / 413 / 431 / 505 (README: Limits) carry none.
 *
 * The API serves JSON, never a document: its CSP allows nothing, and no page may frame it. A route
 * that serves a page sets its own Content-Security-Policy (the Swagger UI), which is kept.
 * Cross-Origin-Resource-Policy is same-origin: it only governs no-cors loads (<img>, <script>) by
 * other sites' pages; CORS fetches from CORS_ORIGINS, WebSockets and the mobile app (not a
 * browser) are unaffected, and nothing we serve is meant to be embedded elsewhere.
 */

export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

/** A year, the preload lists' minimum; sent only when the public URL is https. */
const HSTS = 'max-age=31536000; includeSubDomains';

/** The headers for a service whose public URL (BETTER_AUTH_URL) is `publicUrl`. */
export function securityHeaders(publicUrl: string): Readonly<Record<string, string>> {
  return {
    'x-content-type-options': 'nosniff',
    'content-security-policy': API_CONTENT_SECURITY_POLICY,
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'origin-agent-cluster': '?1',
    // frame-ancestors' predecessor, for browsers that predate it.
    'x-frame-options': 'DENY',
    ...(new URL(publicUrl).protocol === 'https:' ? { 'strict-transport-security': HSTS } : {}),
  };
}

/** Adds the headers to a response in place; a Content-Security-Policy the route set wins. */
export function stampSecurityHeaders(response: Response, headers: Readonly<Record<string, string>>): Response {
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'content-security-policy' && response.headers.has(name)) continue;
    response.headers.set(name, value);
  }
  return response;
}
