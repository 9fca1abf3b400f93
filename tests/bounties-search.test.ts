/**
 * Browse and search of bounties (GET /search/bounties, src/modules/bounties/browse.ts) on a
 * database of this file's own (so every row is known) on the real primary + replica: full text
 * with title above description, each filter, distance around a point (also across the
 * antimeridian), public states only, keyset pages under every sort (equal keys included), cursors
 * bound to their sort, and refusals in the one error format. Bounties are inserted directly, as
 * the lifecycle would have left them. `near` is read cell by cell (the grid's `geo_cell`) for the
 * usual radii: the cells a circle needs are checked against random points, and pages near a point
 * whose bounties lie in four cells, with equal keys across them, come out as one ordered list.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { applyMigrations, bounties, GEO_CELL_DEG } from '../src/db';
import { boundingBox, type GeoPoint, geoCellOf, MAX_NEAR_CELLS, nearCells } from '../src/modules/bounties/browse';
import { clusterEnv, hasCluster, startTestApp, type TestApp, withDatabase } from './support/harness';
import { at, items, readJson } from './support/json';

const databaseName = `search_${Date.now().toString(36)}`;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Whole seconds, so timestamps compare the same in JS and in PostgreSQL. */
const NOW = Math.floor(Date.now() / 1000) * 1000;
const KM_PER_DEGREE = 111.195;

type NewBounty = typeof bounties.$inferInsert;
type Seeded = Required<Pick<NewBounty, 'id' | 'title' | 'state' | 'rewardAmount' | 'category' | 'tags' | 'remote' | 'deadline' | 'publishedAt'>> & NewBounty;

let sequence = 0;
function bounty(fields: Partial<NewBounty> & { title: string }): Seeded {
  sequence += 1;
  const state = fields.state ?? 'open';
  const assigned = ['in_progress', 'submitted', 'changes_requested', 'disputed', 'completed'].includes(state);
  return {
    id: crypto.randomUUID(),
    posterId: `poster-${sequence}`,
    hunterId: assigned ? `hunter-${sequence}` : null,
    description: 'A task with a clear outcome, described well enough to start.',
    criteria: [{ id: 1, text: 'Done as described' }],
    rewardAmount: 5_000,
    currency: 'usd',
    category: 'other',
    tags: [],
    remote: true,
    deadline: new Date(NOW + 20 * DAY_MS),
    publishedAt: state === 'draft' ? null : new Date(NOW - sequence * HOUR_MS),
    ...fields,
    state,
  };
}

/** A point `km` due north of (lat, lng). */
const north = (lat: number, lng: number, km: number) => ({ latitude: lat + km / KM_PER_DEGREE, longitude: lng });
const SYDNEY = { lat: -33.8688, lng: 151.2093 };

const rows = {
  titleHit: bounty({
    title: 'Telescope mount calibration',
    description: 'Align the equatorial mount so that long exposures stay sharp.',
    category: 'research',
    tags: ['astro', 'hardware'],
    rewardAmount: 20_000,
  }),
  descriptionHit: bounty({
    title: 'Weekend help at the observatory',
    description: 'Carry the telescope up to the roof and set up the tripod for the evening.',
    category: 'errands',
    tags: ['astro'],
    rewardAmount: 8_000,
    remote: false,
    ...north(SYDNEY.lat, SYDNEY.lng, 10),
  }),
  far: bounty({ title: 'Paint a garden fence', category: 'errands', tags: ['outdoor'], rewardAmount: 15_000, remote: false, ...north(SYDNEY.lat, SYDNEY.lng, 50) }),
  design: bounty({ title: 'Design a landing page', category: 'design', tags: ['figma', 'ui'], rewardAmount: 30_000, deadline: new Date(NOW + 2 * DAY_MS) }),
  old: bounty({ title: 'Write product copy', category: 'writing', tags: ['copy'], rewardAmount: 3_000, publishedAt: new Date(NOW - 30 * DAY_MS) }),
  // 15.9 km apart across the antimeridian; the second is 106 km from the first's neighbour.
  eastOfDateLine: bounty({ title: 'Photograph a reef', category: 'other', remote: false, latitude: -17, longitude: 179.95 }),
  westOfDateLine: bounty({ title: 'Survey a beach', category: 'other', remote: false, latitude: -17, longitude: 179 }),
  inProgress: bounty({ title: 'Build a CLI tool', state: 'in_progress', category: 'development' }),
  completed: bounty({ title: 'Migrate a blog', state: 'completed', category: 'development' }),
  draft: bounty({ title: 'Secret telescope draft', state: 'draft', category: 'research', tags: ['astro'] }),
  cancelled: bounty({ title: 'Cancelled telescope job', state: 'cancelled', cancelReason: 'poster', category: 'research', tags: ['astro'] }),
};

/**
 * 24 open bounties for paging, with equal sort keys in groups: 3 share a publication time, 4 a
 * reward, 5 a deadline; the first 12 have "dataset" in the title too, so they rank above the rest
 * and share one rank among themselves.
 */
const batch: Seeded[] = Array.from({ length: 24 }, (_, n) =>
  bounty({
    title: n < 12 ? 'Dataset cleanup' : 'Spreadsheet cleanup',
    description: 'Clean the dataset and remove duplicate rows.',
    category: 'data',
    tags: ['batch'],
    rewardAmount: 1_000 + Math.floor(n / 4) * 100,
    deadline: new Date(NOW + (10 + Math.floor(n / 5)) * DAY_MS),
    publishedAt: new Date(NOW - 100 * DAY_MS + Math.floor(n / 3) * HOUR_MS),
  }),
);

/**
 * In person around a corner of four cells (45 N, 10 E: a multiple of the cell size both ways), for
 * pages near a point: 20 within 2-21 km, one per cell in turn, so that the groups of equal keys
 * (3 publication times, 4 rewards, 5 deadlines) each span the cells; two more at 28 and 32 km,
 * inside the 25 km circle's box and cells but outside the circle; a remote bounty with
 * coordinates and a submitted one, at the corner itself. Rewards, deadlines, dates and words
 * stay clear of the other tests' filters.
 */
const CORNER = { lat: 45, lng: 10 };
/** A point `km` from CORNER towards the quadrant `n % 4` (NE, SE, SW, NW). */
function aroundCorner(n: number, km: number): { latitude: number; longitude: number } {
  const north = n % 4 === 0 || n % 4 === 3 ? 1 : -1;
  const east = n % 4 < 2 ? 1 : -1;
  const leg = km / Math.SQRT2;
  return { latitude: CORNER.lat + (north * leg) / KM_PER_DEGREE, longitude: CORNER.lng + (east * leg) / (KM_PER_DEGREE * Math.cos((CORNER.lat * Math.PI) / 180)) };
}
const cluster: Seeded[] = Array.from({ length: 20 }, (_, n) =>
  bounty({
    title: `Hang picture frames ${n}`,
    category: 'other',
    tags: ['nearby'],
    remote: false,
    ...aroundCorner(n, 2 + ((n * 7) % 20)),
    rewardAmount: 2_000 + Math.floor(n / 4) * 100,
    deadline: new Date(NOW + (40 + Math.floor(n / 5)) * DAY_MS),
    publishedAt: new Date(NOW - 200 * DAY_MS + Math.floor(n / 3) * HOUR_MS),
  }),
);
const clusterOutside: Seeded[] = [28, 32].map((km, n) =>
  bounty({ title: `Move a piano ${n}`, category: 'other', tags: ['nearby'], remote: false, ...aroundCorner(n, km), rewardAmount: 2_500, publishedAt: new Date(NOW - 199 * DAY_MS) }),
);
const clusterExcluded: Seeded[] = [
  bounty({ title: 'Remote, but somewhere', category: 'other', tags: ['nearby'], remote: true, latitude: CORNER.lat + 0.01, longitude: CORNER.lng + 0.01 }),
  bounty({ title: 'Hang curtains', state: 'submitted', category: 'other', tags: ['nearby'], remote: false, latitude: CORNER.lat + 0.01, longitude: CORNER.lng + 0.01 }),
];

const all: Seeded[] = [...Object.values(rows), ...batch, ...cluster, ...clusterOutside, ...clusterExcluded];
const byId = (a: Seeded, b: Seeded): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const time = (date: Date | null | undefined): number => date?.getTime() ?? 0;
/** The orders the API promises, computed here from what was inserted. */
const EXPECTED_ORDER: Record<'newest' | 'reward' | 'deadline', (a: Seeded, b: Seeded) => number> = {
  newest: (a, b) => time(b.publishedAt) - time(a.publishedAt) || -byId(a, b),
  reward: (a, b) => b.rewardAmount - a.rewardAmount || -byId(a, b),
  deadline: (a, b) => time(a.deadline) - time(b.deadline) || byId(a, b),
};

/** Great-circle distance in km (the haversine of browse.ts, on the same mean radius). */
function distanceKm(a: GeoPoint, b: GeoPoint): number {
  const radians = (degrees: number) => (degrees * Math.PI) / 180;
  const h = Math.sin(radians(b.lat - a.lat) / 2) ** 2 + Math.cos(radians(a.lat)) * Math.cos(radians(b.lat)) * Math.sin(radians(b.lng - a.lng) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The point `km` from `from` at `bearing` radians (great circle), longitude in -180..180. */
function destination(from: GeoPoint, km: number, bearing: number): GeoPoint {
  const radians = (degrees: number) => (degrees * Math.PI) / 180;
  const degrees = (angle: number) => (angle * 180) / Math.PI;
  const angular = km / 6371.0088;
  const lat1 = radians(from.lat);
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(angular) + Math.cos(lat1) * Math.sin(angular) * Math.cos(bearing));
  const lng2 = radians(from.lng) + Math.atan2(Math.sin(bearing) * Math.sin(angular) * Math.cos(lat1), Math.cos(angular) - Math.sin(lat1) * Math.sin(lat2));
  const lng = ((degrees(lng2) + 540) % 360) - 180;
  return { lat: Math.max(-90, Math.min(90, degrees(lat2))), lng: lng === -180 && from.lng > 0 ? 180 : lng };
}

describe('the cells a circle needs (geo_cell)', () => {
  test('every point within the radius is in one of them, also across the antimeridian and far north', () => {
    // A seeded generator, so a failure repeats.
    let seed = 20_261_207;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const centers: GeoPoint[] = [
      { lat: -33.8688, lng: 151.2093 },
      { lat: 45, lng: 10 },
      { lat: -17, lng: -179.9 },
      { lat: 10, lng: 179.99 },
      { lat: 0, lng: 180 },
      { lat: 0, lng: -180 },
      { lat: 69.6, lng: 18.9 },
      { lat: -54.8, lng: -68.3 },
      ...Array.from({ length: 40 }, () => ({ lat: random() * 150 - 75, lng: random() * 360 - 180 })),
    ];
    let tried = 0;
    for (const center of centers) {
      for (const radiusKm of [1, 5, 10, 30, 60, 100, 150]) {
        const cells = nearCells(center, radiusKm, boundingBox(center, radiusKm));
        if (cells === null) continue;
        tried += 1;
        expect(cells.length).toBeGreaterThan(0);
        expect(cells.length).toBeLessThanOrEqual(MAX_NEAR_CELLS);
        expect(new Set(cells).size).toBe(cells.length);
        for (let n = 0; n < 200; n += 1) {
          // On the circle itself (the farthest a match can be) and inside it.
          const point = destination(center, radiusKm * (n % 2 === 0 ? 1 - 1e-9 : random()), random() * 2 * Math.PI);
          if (distanceKm(center, point) > radiusKm) continue;
          const cell = geoCellOf(point);
          if (!cells.includes(cell)) throw new Error(`${JSON.stringify(point)} (cell ${cell}) is within ${radiusKm} km of ${JSON.stringify(center)}, not in ${cells}`);
        }
      }
    }
    expect(tried).toBeGreaterThan(200);
  });

  test('the default radius reads a handful of cells; a pole or a wide circle goes through the box', () => {
    for (const lat of [-60, -33.87, 0, 1.35, 45, 51.51, 59.33]) {
      for (const lng of [-180, -0.13, 0, 10.25, 151.21, 180]) {
        const center = { lat, lng };
        const cells = nearCells(center, 30, boundingBox(center, 30));
        expect([lat, lng, (cells ?? []).length >= 1 && (cells ?? []).length <= 12]).toEqual([lat, lng, true]);
      }
    }
    // Cells the box holds but the circle does not reach are left out: 10 km around the middle of
    // a cell needs only that cell.
    const middle = { lat: 45 + GEO_CELL_DEG / 2, lng: 10 + GEO_CELL_DEG / 2 };
    expect(nearCells(middle, 10, boundingBox(middle, 10))).toEqual([geoCellOf(middle)]);
    // Both sides of the antimeridian (column 0 and column 720, longitude 180 itself).
    const dateLine = { lat: -17, lng: -179.9 };
    const columns = (nearCells(dateLine, 30, boundingBox(dateLine, 30)) ?? []).map((cell) => cell % 1000);
    expect([...new Set(columns)].sort((a, b) => a - b)).toEqual([0, 719, 720]);
    expect(nearCells({ lat: 89.9, lng: 0 }, 500, boundingBox({ lat: 89.9, lng: 0 }, 500))).toBeNull();
    expect(nearCells({ lat: 45, lng: 10 }, 500, boundingBox({ lat: 45, lng: 10 }, 500))).toBeNull();
  });
});

describe.skipIf(!hasCluster)('browse and search of bounties', () => {
  let t: TestApp;
  /** The SQL the app sent: which way `near` was read. */
  const sent: string[] = [];

  beforeAll(async () => {
    const setup = await startTestApp();
    await setup.database.primary.execute(sql.raw(`create database ${databaseName}`));
    await setup.close();
    const primaryUrl = withDatabase(clusterEnv.databaseUrl ?? '', databaseName);
    const replicaUrls = (clusterEnv.replicaUrls ?? '').split(',').filter(Boolean).map((url) => withDatabase(url, databaseName));
    t = await startTestApp({ DATABASE_URL: primaryUrl, DATABASE_REPLICA_URLS: replicaUrls.join(',') }, { observeQueries: (query) => sent.push(query) });
    await applyMigrations(t.database.primary);
    await t.database.primary.insert(bounties).values(all);
    await t.database.primary.execute(sql`analyze bounties`);
    // Anonymous readers hold no read-your-writes token: the replica must have the rows first.
    await t.settle();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    const teardown = await startTestApp();
    await teardown.database.primary.execute(sql.raw(`drop database if exists ${databaseName} with (force)`));
    await teardown.close();
  }, 60_000);

  async function search(query: string): Promise<{ status: number; body: unknown }> {
    const response = await t.request(`/search/bounties?${query}`);
    return { status: response.status, body: await readJson(response) };
  }

  /** The ids of one page (status 200 asserted). */
  async function ids(query: string): Promise<string[]> {
    const { status, body } = await search(query);
    expect([query, status, status === 200 ? null : body]).toEqual([query, 200, null]);
    return items(at(body, 'data')).map((item) => String(at(item, 'id')));
  }

  /** Every page of a query, following nextCursor; the ids in the order served. */
  async function walk(query: string, limit: number): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages += 1) {
      const { status, body } = await search(`${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect([query, status]).toEqual([query, 200]);
      const page = items(at(body, 'data'));
      expect(page.length).toBeLessThanOrEqual(limit);
      seen.push(...page.map((item) => String(at(item, 'id'))));
      const next = at(body, 'pagination', 'nextCursor');
      if (next === null) return seen;
      cursor = String(next);
    }
    throw new Error(`${query}: more than 100 pages`);
  }

  const openRows = all.filter((row) => row.state === 'open');

  test('q finds a word in the title and in the description, the title match first', async () => {
    expect(await ids('q=telescope')).toEqual([rows.titleHit.id, rows.descriptionHit.id]);
    // Stemmed, web-search syntax: "telescopes" finds "telescope"; -word excludes.
    expect(await ids('q=telescopes')).toEqual([rows.titleHit.id, rows.descriptionHit.id]);
    expect(await ids('q=telescope -tripod')).toEqual([rows.titleHit.id]);
    // Commas are text (the router would split them into a list).
    expect(await ids('q=telescope,%20mount')).toEqual([rows.titleHit.id]);
    // Other sorts apply to the matches: the title match is also the newer and the richer one.
    expect(await ids('q=telescope&sort=newest')).toEqual([rows.titleHit.id, rows.descriptionHit.id]);
    expect(await ids('q=telescope&sort=reward')).toEqual([rows.titleHit.id, rows.descriptionHit.id]);
    // Only stop words, or punctuation: nothing found, never an error.
    expect(await ids('q=the')).toEqual([]);
    expect(await ids(`q=${encodeURIComponent('"unclosed & | ! ( :*')}`)).toEqual([]);
  });

  test('the summary a list shows', async () => {
    const { body } = await search('q=telescope&limit=1');
    expect(at(body, 'data', 0)).toMatchObject({
      id: rows.titleHit.id,
      state: 'open',
      title: 'Telescope mount calibration',
      reward: { amount: 20_000, currency: 'usd' },
      category: 'research',
      tags: ['astro', 'hardware'],
      remote: true,
      location: null,
      hunterId: null,
    });
    expect(at(body, 'data', 0, 'description')).toBeUndefined();
  });

  test('each filter narrows the list', async () => {
    expect(await ids('category=design')).toEqual([rows.design.id]);
    expect((await ids('tags=astro&limit=100')).sort()).toEqual([rows.titleHit.id, rows.descriptionHit.id].sort());
    expect(await ids('tags=astro,hardware')).toEqual([rows.titleHit.id]);
    expect(await ids('tags=ASTRO, Hardware')).toEqual([rows.titleHit.id]);
    expect(await ids('tags=astro,nothing')).toEqual([]);
    expect(await ids('rewardMin=15000&rewardMax=25000&sort=reward')).toEqual([rows.titleHit.id, rows.far.id]);
    expect(await ids('rewardMin=25000')).toEqual([rows.design.id]);
    expect(await ids('rewardMax=1000&limit=100')).toEqual(batch.filter((row) => row.rewardAmount <= 1_000).sort(EXPECTED_ORDER.newest).map((row) => row.id));
    const remote = await ids('remote=true&limit=100');
    const inPerson = await ids('remote=false&limit=100');
    expect(remote.sort()).toEqual(openRows.filter((row) => row.remote).map((row) => row.id).sort());
    expect(inPerson.sort()).toEqual(openRows.filter((row) => !row.remote).map((row) => row.id).sort());
    expect(await ids(`deadlineBefore=${new Date(NOW + 3 * DAY_MS).toISOString()}`)).toEqual([rows.design.id]);
    const sinceAWeek = await ids(`postedSince=${new Date(NOW - 7 * DAY_MS).toISOString()}&limit=100`);
    expect(sinceAWeek).not.toContain(rows.old.id);
    expect(sinceAWeek).toContain(rows.titleHit.id);
    expect(sinceAWeek).not.toContain(batch[0]?.id);
    expect(await ids(`postedSince=${new Date(NOW - 31 * DAY_MS).toISOString()}&limit=100`)).toContain(rows.old.id);
    // Combined: every condition holds at once.
    expect(await ids('q=telescope&category=errands&remote=false')).toEqual([rows.descriptionHit.id]);
  });

  test('near: in-person bounties within the radius (30 km by default), also across the antimeridian', async () => {
    const sydney = `${SYDNEY.lat},${SYDNEY.lng}`;
    expect(await ids(`near=${sydney}`)).toEqual([rows.descriptionHit.id]);
    expect(await ids(`near=${sydney}&radiusKm=9`)).toEqual([]);
    expect((await ids(`near=${sydney}&radiusKm=60`)).sort()).toEqual([rows.descriptionHit.id, rows.far.id].sort());
    expect(await ids(`near=${sydney}&radiusKm=60&sort=reward`)).toEqual([rows.far.id, rows.descriptionHit.id]);
    expect(await ids(`near=${sydney}&remote=false&q=telescope`)).toEqual([rows.descriptionHit.id]);
    // (-17, -179.9) is 15.9 km from (-17, 179.95) and 116 km from (-17, 179).
    expect(await ids('near=-17,-179.9')).toEqual([rows.eastOfDateLine.id]);
    expect((await ids('near=-17,-179.9&radiusKm=200')).sort()).toEqual([rows.eastOfDateLine.id, rows.westOfDateLine.id].sort());
    // Around a pole every longitude is in the box: nothing there, and no error.
    expect(await ids('near=89.9,0&radiusKm=500')).toEqual([]);
  });

  test('the stored cell is the one browse computes; remote bounties have none', async () => {
    const stored = await t.database.primary.select({ id: bounties.id, remote: bounties.remote, geoCell: bounties.geoCell, latitude: bounties.latitude, longitude: bounties.longitude }).from(bounties);
    expect(stored.length).toBe(all.length);
    for (const row of stored) {
      const expected = row.remote || row.latitude === null || row.longitude === null ? null : geoCellOf({ lat: row.latitude, lng: row.longitude });
      expect([row.id, row.geoCell]).toEqual([row.id, expected]);
    }
    // The corner's bounties really are in four cells.
    expect(new Set(cluster.map((row) => geoCellOf({ lat: row.latitude ?? 0, lng: row.longitude ?? 0 }))).size).toBe(4);
  });

  test('near, cell by cell: every sort pages through every match exactly once, in order, across cells and equal keys', async () => {
    const near = `near=${CORNER.lat},${CORNER.lng}&radiusKm=25`;
    const within = cluster.filter((row) => distanceKm(CORNER, { lat: row.latitude ?? 0, lng: row.longitude ?? 0 }) <= 25);
    expect(within.length).toBe(cluster.length);
    for (const row of clusterOutside) expect(distanceKm(CORNER, { lat: row.latitude ?? 0, lng: row.longitude ?? 0 })).toBeGreaterThan(25);
    const from = sent.length;
    for (const sort of ['newest', 'reward', 'deadline'] as const) {
      const expected = within.slice().sort(EXPECTED_ORDER[sort]).map((row) => row.id);
      for (const limit of [1, 3, 4, 5, 7, 100]) expect([sort, limit, await walk(`${near}&sort=${sort}`, limit)]).toEqual([sort, limit, expected]);
      // Another filter inside every cell's branch.
      const richer = within.filter((row) => row.rewardAmount >= 2_200).sort(EXPECTED_ORDER[sort]).map((row) => row.id);
      expect([sort, await walk(`${near}&sort=${sort}&rewardMin=2200`, 2)]).toEqual([sort, richer]);
    }
    // The outside two: 30 km takes in the one at 28 km, 33 km both.
    expect((await walk(`near=${CORNER.lat},${CORNER.lng}&radiusKm=30&sort=reward`, 3)).sort()).toEqual([...within, ...clusterOutside.slice(0, 1)].map((row) => row.id).sort());
    expect((await walk(`near=${CORNER.lat},${CORNER.lng}&radiusKm=33`, 6)).sort()).toEqual([...within, ...clusterOutside].map((row) => row.id).sort());
    // Each of those pages was read cell by cell.
    const pages = sent.slice(from).filter((query) => /^select/i.test(query) && query.includes('"bounties"'));
    expect(pages.length).toBeGreaterThan(50);
    expect(pages.every((query) => query.includes('unnest(') && query.includes('"geo_cell" = near_cell.id'))).toBe(true);
  });

  test('near through the box: by relevance, with q, or around a pole; the same bounties', async () => {
    const from = sent.length;
    expect(await ids(`near=${CORNER.lat},${CORNER.lng}&radiusKm=25&q=frames&sort=newest&limit=100`)).toEqual(cluster.slice().sort(EXPECTED_ORDER.newest).map((row) => row.id));
    expect((await ids(`near=${CORNER.lat},${CORNER.lng}&radiusKm=25&q=frames&limit=100`)).sort()).toEqual(cluster.map((row) => row.id).sort());
    expect((await walk(`near=${CORNER.lat},${CORNER.lng}&radiusKm=400&sort=deadline`, 9))).toEqual(
      [...cluster, ...clusterOutside].sort(EXPECTED_ORDER.deadline).map((row) => row.id),
    );
    const pages = sent.slice(from).filter((query) => /^select/i.test(query) && query.includes('"bounties"'));
    expect(pages.length).toBeGreaterThan(3);
    expect(pages.some((query) => query.includes('near_cell'))).toBe(false);
  });

  test('open by default; other public states on request; drafts and cancelled bounties never', async () => {
    const listed = await walk('status=open', 100);
    expect(listed.sort()).toEqual(openRows.map((row) => row.id).sort());
    expect((await walk('sort=newest', 100)).sort()).toEqual(listed);
    expect(await ids('status=in_progress')).toEqual([rows.inProgress.id]);
    expect(await ids('status=completed')).toEqual([rows.completed.id]);
    for (const status of ['draft', 'cancelled']) {
      const { status: code, body } = await search(`status=${status}`);
      expect(code).toBe(422);
      expect(body).toMatchObject({ success: false, error: 'VALIDATION_ERROR', details: [{ path: 'status' }] });
    }
    // Their words are not found either.
    const found = await walk('q=telescope', 1);
    expect(found).not.toContain(rows.draft.id);
    expect(found).not.toContain(rows.cancelled.id);
  });

  test('every sort pages through every match exactly once, in order, across equal keys', async () => {
    for (const sort of ['newest', 'reward', 'deadline'] as const) {
      const expected = batch.slice().sort(EXPECTED_ORDER[sort]).map((row) => row.id);
      for (const limit of [1, 4, 5, 100]) expect([sort, limit, await walk(`tags=batch&sort=${sort}`, limit)]).toEqual([sort, limit, expected]);
    }
    // Over every open bounty too, no filter at all.
    expect(await walk('sort=newest', 7)).toEqual(openRows.slice().sort(EXPECTED_ORDER.newest).map((row) => row.id));
    expect(await walk('sort=deadline', 6)).toEqual(openRows.slice().sort(EXPECTED_ORDER.deadline).map((row) => row.id));
    // Relevance: the twelve with the word in the title first, each group id descending (equal ranks).
    const descending = (rowsOf: Seeded[]) => rowsOf.map((row) => row.id).sort().reverse();
    const expected = [...descending(batch.slice(0, 12)), ...descending(batch.slice(12))];
    for (const limit of [1, 5, 100]) expect([limit, await walk('q=dataset', limit)]).toEqual([limit, expected]);
  });

  test('a cursor belongs to its sort; a tampered one is refused', async () => {
    const cursorOf = async (query: string): Promise<string> => String(at((await search(query)).body, 'pagination', 'nextCursor'));
    const newest = await cursorOf('limit=2');
    const relevance = await cursorOf('q=dataset&limit=2');
    const refusals = [
      `sort=reward&cursor=${newest}`,
      `sort=deadline&cursor=${newest}`,
      `q=dataset&cursor=${newest}`,
      `q=dataset&sort=newest&cursor=${relevance}`,
      `cursor=${relevance}`,
      'cursor=abc',
      `cursor=${Buffer.from(JSON.stringify({ s: 'newest', k: '2026-13-45T99:99:99.000000Z', i: rows.design.id })).toString('base64url')}`,
      `cursor=${Buffer.from(JSON.stringify({ s: 'newest', k: '0000-01-01T00:00:00.000000Z', i: rows.design.id })).toString('base64url')}`,
      `sort=reward&cursor=${Buffer.from(JSON.stringify({ s: 'reward', k: '99999999999999999999', i: rows.design.id })).toString('base64url')}`,
      `q=x&cursor=${Buffer.from(JSON.stringify({ s: 'relevance', k: '1e-999', i: rows.design.id })).toString('base64url')}`,
      `q=x&cursor=${Buffer.from(JSON.stringify({ s: 'relevance', k: 'NaN', i: rows.design.id })).toString('base64url')}`,
    ];
    for (const query of refusals) {
      const { status, body } = await search(query);
      expect([query, status, at(body, 'error')]).toEqual([query, 422, 'INVALID_CURSOR']);
      expect(body).toMatchObject({ success: false, message: expect.any(String) });
    }
    // The same sort by default or by name: the same cursor.
    expect((await search(`q=dataset&sort=relevance&cursor=${relevance}`)).status).toBe(200);
    expect((await search(`sort=newest&cursor=${newest}`)).status).toBe(200);
  });

  test('bad input is a 422 in the one error format, naming the field', async () => {
    const cases: Array<[string, string]> = [
      ['q=', 'q'],
      ['q=%20%20%20', 'q'],
      [`q=${'x'.repeat(201)}`, 'q'],
      ['q=a%00b', 'q'],
      ['category=plumbing', 'category'],
      ['tags=bad%20tag!', 'tags'],
      [`tags=${Array.from({ length: 11 }, (_, n) => `t${n}`).join(',')}`, 'tags'],
      ['tags=a,,b', 'tags'],
      ['rewardMin=abc', 'rewardMin'],
      ['rewardMin=-1', 'rewardMin'],
      ['rewardMin=1.5', 'rewardMin'],
      ['rewardMin=500&rewardMax=100', 'rewardMin'],
      ['status=open,completed', 'status'],
      ['remote=yes', 'remote'],
      ['near=abc', 'near'],
      ['near=1,2,3', 'near'],
      ['near=91,0', 'near'],
      ['near=0,181', 'near'],
      ['near=0,0&remote=true', 'near'],
      ['near=0,0&radiusKm=0', 'radiusKm'],
      ['near=0,0&radiusKm=501', 'radiusKm'],
      ['radiusKm=10', 'radiusKm'],
      ['deadlineBefore=tomorrow', 'deadlineBefore'],
      ['deadlineBefore=2026-02-30T00:00:00Z', 'deadlineBefore'],
      ['postedSince=0000-01-01T00:00:00Z', 'postedSince'],
      ['sort=relevance', 'sort'],
      ['sort=popular', 'sort'],
      ['limit=abc', 'limit'],
      ['cursor=not%20base64!', 'cursor'],
    ];
    for (const [query, path] of cases) {
      const { status, body } = await search(query);
      expect([query, status]).toEqual([query, 422]);
      expect([query, at(body, 'success'), at(body, 'error')]).toEqual([query, false, 'VALIDATION_ERROR']);
      expect([query, items(at(body, 'details')).map((detail) => at(detail, 'path'))]).toEqual([query, expect.arrayContaining([path])]);
    }
  });
});
