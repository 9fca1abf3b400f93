/**
 * The Swagger UI renders in a real browser with no internet (issue 13): the page, the pinned
 * swagger-ui-dist assets and the document all come from the app, under a CSP that allows only our
 * own origin. The page used to load swagger-ui-dist@latest from a CDN and was blank offline.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { z } from 'zod';
import { chromiumPath, openPage, type Page } from './support/browser';
import { startTestApp, type TestApp } from './support/harness';
import { waitFor } from './support/wait';

if (!chromiumPath) console.warn('tests/swagger-ui.test.ts skipped: chromium is not installed (apt-get install chromium; .ci/run does)');

// Runs before the page's own scripts: any blocked load, inline script or inline style lands here.
const RECORD_VIOLATIONS = `window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => window.__violations.push(event.violatedDirective + ' ' + event.blockedURI));`;

const READ_PAGE = `JSON.stringify({
  title: document.querySelector('.info .title')?.textContent ?? '',
  operations: [...document.querySelectorAll('.opblock')].map((block) =>
    block.querySelector('.opblock-summary-method')?.textContent + ' ' + block.querySelector('.opblock-summary-path')?.getAttribute('data-path')),
  violations: window.__violations,
})`;
const pageState = z.object({ title: z.string(), operations: z.array(z.string()), violations: z.array(z.string()) });

describe.skipIf(!chromiumPath)('Swagger UI in headless Chromium, offline', () => {
  let t: TestApp;
  let page: Page;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp();
    base = `http://127.0.0.1:${t.listen().port}`;
    page = await openPage();
  });
  afterAll(async () => {
    await page.close();
    await t.close();
  });

  const read = async () => pageState.parse(JSON.parse(String(await page.evaluate(READ_PAGE))));

  test('renders the operations from /swagger/json with nothing blocked by its CSP', async () => {
    await page.send('Page.enable');
    await page.send('Page.addScriptToEvaluateOnNewDocument', { source: RECORD_VIOLATIONS });
    await page.send('Page.navigate', { url: `${base}/swagger` });
    // Ours and Better-Auth's merged paths; the list is virtual, so these are ones near the top.
    const expected = ['GET /health', 'POST /auth/signup', 'POST /api/auth/sign-in/email'];
    const state = await waitFor(
      'the operations to render',
      async () => {
        const current = await read();
        return expected.every((operation) => current.operations.includes(operation)) ? current : null;
      },
      20_000,
    );
    expect(state.title).toContain('BOUNTYExpo API');

    // Try it out on GET /health: the UI calls the API (connect-src) and draws its controls (data: icons).
    const click = (selector: string) => page.evaluate(`(() => { const el = document.querySelector(${JSON.stringify(selector)}); el?.click(); return Boolean(el); })()`);
    const health = '#operations-health-getHealth';
    for (const selector of [`${health} .opblock-summary-control`, `${health} .try-out__btn`, `${health} .execute`]) {
      await waitFor(`"${selector}" to be clickable`, () => click(selector));
    }
    const status = await waitFor('the response of GET /health in the page', () =>
      page.evaluate(`document.querySelector('${health} .live-responses-table tr.response .response-col_status')?.textContent?.trim()`),
    );
    expect(status).toBe('200');
    expect((await read()).violations).toEqual([]);
    // A browser on a busy machine: seconds when idle, more under a loaded CI runner.
  }, 60_000);
});
