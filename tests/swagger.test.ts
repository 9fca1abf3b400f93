import { describe, expect, test } from 'bun:test';
import swaggerUiPackage from 'swagger-ui-dist/package.json';
import { SWAGGER_UI_CONTENT_SECURITY_POLICY } from '../src/plugins/swagger-ui';
import { hasCluster, startTestApp } from './support/harness';

describe('Swagger UI and the OpenAPI document', () => {
  test('are served at /swagger and /swagger/json outside production', async () => {
    const t = await startTestApp();
    try {
      const ui = await t.request('/swagger');
      expect(ui.status).toBe(200);
      expect(await ui.text()).toContain('swagger-ui');
      const document = (await (await t.request('/swagger/json')).json()) as { openapi: string; paths: Record<string, unknown> };
      expect(document.openapi).toStartWith('3.1');
      expect(Object.keys(document.paths)).toContain('/health/db');
    } finally {
      await t.close();
    }
  });

  test('the UI is the pinned swagger-ui-dist, served from here: no other origin on the page, its files cached for good', async () => {
    const t = await startTestApp();
    try {
      const page = await t.request('/swagger');
      expect(page.headers.get('content-security-policy')).toBe(SWAGGER_UI_CONTENT_SECURITY_POLICY);
      const html = await page.text();
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).not.toMatch(/<script>|<style>|style=/);
      const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
      expect(assets).toEqual([
        `/swagger/assets/${swaggerUiPackage.version}/favicon-32x32.png`,
        `/swagger/assets/${swaggerUiPackage.version}/swagger-ui.css`,
        `/swagger/assets/${swaggerUiPackage.version}/swagger-ui-bundle.js`,
        '/swagger/init.js',
      ]);
      const bundle = await t.request(assets[2] ?? '');
      expect([bundle.status, bundle.headers.get('content-type'), bundle.headers.get('cache-control')]).toEqual([
        200,
        'text/javascript;charset=utf-8',
        'public, max-age=31536000, immutable',
      ]);
      const packaged = Bun.file(Bun.fileURLToPath(import.meta.resolve('swagger-ui-dist/swagger-ui-bundle.js')));
      expect(Buffer.from(await bundle.arrayBuffer()).equals(Buffer.from(await packaged.arrayBuffer()))).toBe(true);
      const init = await t.request('/swagger/init.js');
      expect(await init.text()).toContain('"url":"/swagger/json"');
      // Only the files the page loads: not the rest of the package, nor anything outside it.
      for (const path of [`/swagger/assets/${swaggerUiPackage.version}/package.json`, `/swagger/assets/${swaggerUiPackage.version}/..%2F..%2Fpackage.json`]) {
        expect((await t.request(path)).status).toBe(404);
      }
    } finally {
      await t.close();
    }
  });

  // Production requires DATABASE_URL, so this needs the real cluster.
  test.skipIf(!hasCluster)('are off in production unless SWAGGER_ENABLED=true', async () => {
    const production = { NODE_ENV: 'production', BETTER_AUTH_URL: 'https://api.example.com' };
    const off = await startTestApp(production);
    const on = await startTestApp({ ...production, SWAGGER_ENABLED: 'true' });
    try {
      expect((await off.request('/swagger/json')).status).toBe(404);
      expect((await off.request('/swagger')).status).toBe(404);
      expect((await off.request('/swagger/init.js')).status).toBe(404);
      expect((await on.request('/swagger/json')).status).toBe(200);
    } finally {
      await off.close();
      await on.close();
    }
  });
});
