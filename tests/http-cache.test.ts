/**
 * HTTP caching of public reads (src/plugins/http-cache.ts) on the real primary + replica: a strong
 * ETag over the bytes sent, If-None-Match answered 304 with no body, a change answered 200 with a
 * new tag, `public` only where the body is the same for everyone, and no-store everywhere else.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { ifNoneMatchHits, PUBLIC_MAX_AGE_S } from '../src/plugins/http-cache';
import { signUp, type TestAccount } from './support/accounts';
import { createDraft, draftBody, openBounty, send } from './support/bounties';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items } from './support/json';
import { captureLogs } from './support/logs';
import { withCookie } from './support/money';
import { waitFor } from './support/wait';

const PUBLIC = `public, max-age=${PUBLIC_MAX_AGE_S}`;

type Fetched = { status: number; etag: string | null; cacheControl: string | null; vary: string | null; text: string };

describe('If-None-Match comparison (RFC 9110 13.1.2)', () => {
  const etag = '"abc"';
  test('weak comparison over a list, `*`, and malformed members skipped', () => {
    const cases: Array<[string | null, boolean]> = [
      [null, false],
      ['"abc"', true],
      ['W/"abc"', true],
      ['"x", W/"y",  "abc"', true],
      ['"x","abc"', true],
      ['*', true],
      [' * ', true],
      ['"abcd"', false],
      ['abc', false],
      ['"ab", garbage, "c"', false],
      ['', false],
    ];
    expect(cases.map(([header]) => [header, ifNoneMatchHits(header, etag)])).toEqual(cases);
  });
});

describe.skipIf(!hasCluster)('HTTP caching of public reads', () => {
  let t: TestApp;
  let poster: TestAccount;
  let other: TestAccount;
  const logs = captureLogs('info');

  beforeAll(async () => {
    t = await startTestApp({}, { logger: logs.logger });
    poster = await signUp(t, 'cache-poster', 'Cache Poster');
    other = await signUp(t, 'cache-other', 'Cache Other');
    // Anonymous reads go to a replica: the new profiles must have reached it (CI saw a 404 here).
    await t.settle();
  });
  afterAll(() => t.close());

  /** A GET, anonymous or as `account` (whose jar carries the read-your-writes token), with If-None-Match when given. */
  async function get(path: string, account: TestAccount | null, ifNoneMatch?: string): Promise<Fetched> {
    const headers: Record<string, string> = ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch };
    const response = await t.request(path, account ? withCookie(account, { headers }) : { headers });
    return {
      status: response.status,
      etag: response.headers.get('etag'),
      cacheControl: response.headers.get('cache-control'),
      vary: response.headers.get('vary'),
      text: await response.text(),
    };
  }

  const sha1Tag = (text: string) => `"${createHash('sha1').update(text).digest('base64url')}"`;

  test('a profile: the ETag is over the bytes sent; a repeat fetch with it is a 304 without a body, with the same caching headers', async () => {
    const path = `/profiles/${poster.id}`;
    const first = await get(path, null);
    expect(first.status).toBe(200);
    expect(first.etag).toBe(sha1Tag(first.text));
    expect(first.cacheControl).toBe(PUBLIC);
    expect(first.vary).toBe('Origin, Cookie');

    const again = await get(path, null, first.etag ?? '');
    expect(again).toEqual({ status: 304, etag: first.etag, cacheControl: PUBLIC, vary: 'Origin, Cookie', text: '' });
    // Weakly compared, from a list, or any current representation.
    for (const header of [`W/${first.etag}`, `"stale", ${first.etag}`, '*']) expect((await get(path, null, header)).status).toBe(304);
    expect((await get(path, null, '"stale"')).status).toBe(200);
    // HEAD carries what GET would (issue 13 review: it was no-store and untagged).
    const head = await t.request(path, { method: 'HEAD', skipContract: true });
    expect([head.status, head.headers.get('etag'), head.headers.get('cache-control')]).toEqual([200, first.etag, PUBLIC]);
  });

  test('a profile edited by its owner is 200 again with a new ETag, for the owner at once and for everyone once replicas replay it', async () => {
    const path = `/profiles/${poster.id}`;
    const before = await get(path, null);
    // The body is the same for everyone: a signed-in reader gets the same tag, public, revalidated each time.
    const signedIn = await get(path, other);
    expect([signedIn.etag, signedIn.cacheControl]).toEqual([before.etag, 'public, no-cache']);

    const headline = `Now taking CSS work ${crypto.randomUUID().slice(0, 8)}`;
    const edited = await send(t, poster, 'PATCH', '/profiles/me', { headline });
    expect(edited.status).toBe(200);

    // The owner's token sends the read to a replica that has the change (or the primary).
    const own = await get(path, poster, before.etag ?? '');
    expect(own.status).toBe(200);
    expect(at(JSON.parse(own.text), 'data', 'headline')).toBe(headline);
    expect(own.etag).not.toBe(before.etag);
    expect(own.cacheControl).toBe('public, no-cache');

    await t.settle();
    const anonymous = await get(path, null, before.etag ?? '');
    expect(anonymous.status).toBe(200);
    expect(anonymous.etag).toBe(own.etag);
    expect((await get(path, null, anonymous.etag ?? '')).status).toBe(304);
  });

  test("a bounty: each viewer's body has its own tag, private when signed in; a change makes it 200 again", async () => {
    const id = await openBounty(t, poster, { tags: ['cache'] });
    const path = `/bounties/${id}`;
    const mine = await get(path, poster);
    expect(mine.status).toBe(200);
    expect([mine.cacheControl, mine.vary]).toEqual(['private, no-cache', 'Origin, Cookie']);
    expect((await get(path, poster, mine.etag ?? '')).status).toBe(304);

    await t.settle();
    const anonymous = await get(path, null);
    expect([anonymous.status, anonymous.cacheControl]).toEqual([200, PUBLIC]);
    // The poster may cancel, a stranger may not: different bodies, different tags, and one's tag is no 304 for the other.
    expect(anonymous.etag).not.toBe(mine.etag);
    expect((await get(path, null, mine.etag ?? '')).status).toBe(200);

    expect((await send(t, poster, 'PATCH', path, { tags: ['cache', 'changed'] })).status).toBe(200);
    const changed = await get(path, poster, mine.etag ?? '');
    expect(changed.status).toBe(200);
    expect(at(JSON.parse(changed.text), 'data', 'tags')).toEqual(['cache', 'changed']);
    expect(changed.etag).not.toBe(mine.etag);
  });

  test('the browse list: 304 while unchanged, 200 with a new tag once a bounty is listed; a viewer who blocked the poster gets their own tag', async () => {
    const tag = `hc${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const path = `/bounties?tags=${tag}`;
    await openBounty(t, poster, { tags: [tag] });
    await t.settle();
    const first = await get(path, null);
    expect([first.status, first.cacheControl, items(at(JSON.parse(first.text), 'data')).length]).toEqual([200, PUBLIC, 1]);
    expect((await get(path, null, first.etag ?? '')).status).toBe(304);

    await openBounty(t, poster, { tags: [tag] });
    await t.settle();
    const second = await get(path, null, first.etag ?? '');
    expect([second.status, items(at(JSON.parse(second.text), 'data')).length]).toEqual([200, 2]);
    expect(second.etag).not.toBe(first.etag);

    // Blocks shape a signed-in viewer's list: theirs is empty, private, and tagged apart.
    expect((await send(t, other, 'POST', '/blocks', { userId: poster.id })).status).toBe(201);
    const blocked = await get(path, other, second.etag ?? '');
    expect([blocked.status, blocked.cacheControl, items(at(JSON.parse(blocked.text), 'data')).length]).toEqual([200, 'private, no-cache', 0]);
    expect(blocked.etag).not.toBe(second.etag);
    expect((await get(path, other, blocked.etag ?? '')).status).toBe(304);
  });

  test("search is cached as the browse list it is (per viewer); a person's reviews as a public page", async () => {
    const tag = `hs${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const path = `/search/bounties?tags=${tag}`;
    await openBounty(t, poster, { tags: [tag] });
    await t.settle();
    const first = await get(path, null);
    expect([first.status, first.cacheControl, items(at(JSON.parse(first.text), 'data')).length]).toEqual([200, PUBLIC, 1]);
    expect((await get(path, null, first.etag ?? '')).status).toBe(304);
    const signedIn = await get(path, other);
    expect([signedIn.status, signedIn.cacheControl]).toEqual([200, 'private, no-cache']);
    expect((await get(path, other, signedIn.etag ?? '')).status).toBe(304);
    await openBounty(t, poster, { tags: [tag] });
    await t.settle();
    const second = await get(path, null, first.etag ?? '');
    expect([second.status, items(at(JSON.parse(second.text), 'data')).length]).toEqual([200, 2]);

    const reviews = `/profiles/${poster.id}/reviews`;
    const page = await get(reviews, null);
    expect([page.status, page.cacheControl, page.etag]).toEqual([200, PUBLIC, sha1Tag(page.text)]);
    expect((await get(reviews, null, page.etag ?? '')).status).toBe(304);
    expect((await get(reviews, other, page.etag ?? '')).cacheControl).toBe('public, no-cache');
  });

  test('errors, writes and routes that did not opt in are no-store and never tagged, whatever If-None-Match says', async () => {
    const draft = await createDraft(t, poster);
    await t.settle();
    // A draft is 404 to anyone but its poster.
    const hidden = await get(`/bounties/${draft}`, null, '*');
    expect([hidden.status, hidden.etag, hidden.cacheControl]).toEqual([404, null, 'no-store']);

    const created = await t.request('/bounties', withCookie(poster, { method: 'POST', json: draftBody(t), headers: { 'if-none-match': '*' } }));
    expect([created.status, created.headers.get('etag'), created.headers.get('cache-control')]).toEqual([201, null, 'no-store']);

    const own = await get('/profiles/me', poster, '*');
    expect([own.status, own.etag, own.cacheControl]).toEqual([200, null, 'no-store']);
    const wallet = await get('/wallet', poster, '*');
    expect([wallet.status, wallet.etag, wallet.cacheControl]).toEqual([200, null, 'no-store']);
  });

  test('a 304 is logged as a 304, and leaves a real socket without a body', async () => {
    const server = t.listen();
    const url = `http://127.0.0.1:${server.port}/profiles/${other.id}`;
    const first = await fetch(url);
    const etag = first.headers.get('etag') ?? '';
    expect([first.status, (await first.text()).length > 0]).toEqual([200, true]);

    const again = await fetch(url, { headers: { 'if-none-match': etag } });
    expect([again.status, again.headers.get('etag'), again.headers.get('content-length') ?? '0', await again.text()]).toEqual([304, etag, '0', '']);
    const requestId = again.headers.get('x-request-id');
    const line = await waitFor('the request line', () => logs.lines.find((entry) => entry.msg === 'request' && entry.requestId === requestId));
    expect([line.status, line.route]).toEqual([304, '/profiles/:userId']);
  });
});
