import { describe, expect, test } from 'bun:test';
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

  // Production requires DATABASE_URL, so this needs the real cluster.
  test.skipIf(!hasCluster)('are off in production unless SWAGGER_ENABLED=true', async () => {
    const production = { NODE_ENV: 'production', BETTER_AUTH_URL: 'https://api.example.com' };
    const off = await startTestApp(production);
    const on = await startTestApp({ ...production, SWAGGER_ENABLED: 'true' });
    try {
      expect((await off.request('/swagger/json')).status).toBe(404);
      expect((await on.request('/swagger/json')).status).toBe(200);
    } finally {
      await off.close();
      await on.close();
    }
  });
});
