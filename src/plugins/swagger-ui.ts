/**
 * The Swagger UI page at /swagger, served by the app from the pinned swagger-ui-dist package: no
 * third-party code runs on our origin, and the page works on a network without internet.
 *
 * The page has no inline script (the UI starts from /swagger/init.js), so its CSP allows scripts,
 * styles and fetches from our own origin only. `img-src data:` is for the icons inlined in
 * swagger-ui.css. The package's files live under a path with its version, so they are cached for
 * good; the page and init.js change with our code and are not.
 */
import { Elysia } from 'elysia';
import swaggerUiPackage from 'swagger-ui-dist/package.json';
import { notFound } from '../lib/errors';

export const SWAGGER_UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_PATH = '/swagger';
const INIT_PATH = '/swagger/init.js';
const ASSETS_PATH = `/swagger/assets/${swaggerUiPackage.version}`;
/** The package files the page loads; nothing else under ASSETS_PATH is served. */
const ASSETS = ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png'] as const;
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The UI's routes, for the document's exclusions. */
export const SWAGGER_UI_PATHS = [PAGE_PATH, INIT_PATH, `${ASSETS_PATH}/:file`];

// validatorUrl null: the default draws a badge fetched from validator.swagger.io.
const initScript = (specPath: string) =>
  `window.ui = SwaggerUIBundle(${JSON.stringify({ url: specPath, dom_id: '#swagger-ui', validatorUrl: null })});\n`;

const page = (title: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" type="image/png" href="${ASSETS_PATH}/favicon-32x32.png">
<link rel="stylesheet" href="${ASSETS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="${INIT_PATH}"></script>
</body>
</html>
`;

const hidden = { detail: { hide: true } };

/** `title` is ours (not escaped); `specPath` is the document the UI shows. */
export const swaggerUi = (options: { title: string; specPath: string }) => {
  // Resolved at start-up: a missing package fails here, not on the first page view.
  const files = new Map<string, string>(ASSETS.map((file) => [file, Bun.fileURLToPath(import.meta.resolve(`swagger-ui-dist/${file}`))]));
  const html = page(options.title);
  const script = initScript(options.specPath);
  return new Elysia({ name: 'swagger-ui' })
    .get(
      PAGE_PATH,
      () => new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': SWAGGER_UI_CONTENT_SECURITY_POLICY } }),
      hidden,
    )
    .get(INIT_PATH, () => new Response(script, { headers: { 'content-type': 'text/javascript; charset=utf-8' } }), hidden)
    .get(
      `${ASSETS_PATH}/:file`,
      ({ params }) => {
        const path = files.get(params.file);
        if (path === undefined) throw notFound('No such Swagger UI file');
        return new Response(Bun.file(path), { headers: { 'cache-control': IMMUTABLE } });
      },
      hidden,
    );
};
