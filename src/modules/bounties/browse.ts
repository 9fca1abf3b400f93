/**
 * Browse and search of public bounties (issue 10, items 7 and 11): GET /bounties and
 * GET /search/bounties both run `browseBounties` with `browseQuerySchema`.
 *
 * - Only public states are ever listed (never draft or cancelled): the state is always one
 *   equality in the WHERE, so every sort walks an index led by `state` (marketplace.ts).
 * - Never a bounty a moderator removed (`hidden_at`), nor, for a signed-in viewer who is not
 *   staff, one whose poster and the viewer blocked each other (blocks/check.ts): filters on the
 *   same index walk.
 * - `q` is PostgreSQL full text over the stored `search` tsvector (title weight A, description B),
 *   so `ts_rank` puts a title match above a description match.
 * - `near` keeps in-person bounties within `radiusKm` by the exact haversine distance (no PostGIS).
 *   Sorted by newest, reward or deadline without `q`, a circle touching at most MAX_NEAR_CELLS cells
 *   of the grid (`geo_cell`, marketplace.ts) is read cell by cell: one LATERAL branch per cell
 *   walks that cell's index in the sort's order and stops after a page of matches, and the
 *   branches are merged; a page costs cells x page rows, however many bounties the city holds.
 *   Otherwise (relevance or any `q`, a larger circle, one around a pole) a latitude/longitude box
 *   on `bounties_location_idx` finds the candidates.
 * - Pages are keyset pages on (sort key, id). The cursor carries the sort's name, its key as
 *   PostgreSQL wrote it (a timestamp with microseconds, an integer, or the rank as float4 text,
 *   which reads back to the same float) and the id; a cursor of another sort is refused.
 * - The SQL text depends only on which filters are present (the query's shape); values are
 *   placeholders, and each shape is prepared once per database handle, like posts' pages.
 */
import { and, asc, desc, eq, gte, isNotNull, isNull, lt, lte, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { bounties, type Database, type DatabaseSession, GEO_CELL_DEG, GEO_CELL_ROW, preparedPerHandle } from '../../db';
import type { Viewer } from '../../lib/auth';
import { isStaff } from '../../lib/permissions';
import { eitherBlockedSql } from '../blocks/check';
import { COMMON_ERRORS, unprocessable } from '../../lib/errors';
import { cursorQuery, limitQuery, queryText, safeText } from '../../lib/validation';
import { PUBLIC_STATES, type PublicState } from './lifecycle';
import { BOUNTY_CATEGORIES, type BountySummary, MAX_TAGS } from './schemas';
import { toBountySummary } from './views';

/** What anyone may list. Drafts are their poster's, cancelled bounties are gone. */
export const BROWSE_SORTS = ['newest', 'reward', 'deadline', 'relevance'] as const;
export type BrowseSort = (typeof BROWSE_SORTS)[number];

/** Airtasker's default search radius. */
export const DEFAULT_RADIUS_KM = 30;
export const MAX_RADIUS_KM = 500;
export const QUERY_MAX_CHARS = 200;
/** Far above any reward (MONEY_MAX_AMOUNT), far below bigint's limit. */
const REWARD_FILTER_MAX = 1_000_000_000_000;
/** The mean Earth radius; the box and the exact distance use the same one. */
const EARTH_RADIUS_KM = 6371.0088;

// --- The query string ------------------------------------------------------------------------------

/** The tag format of bounties/schemas.ts: stored lower-cased, 1-32 characters. */
const TAG_PATTERN = /^[a-z0-9][a-z0-9+#.-]{0,31}$/;
const NEAR_PATTERN = /^\s*(-?\d{1,3}(?:\.\d{1,12})?)\s*,\s*(-?\d{1,3}(?:\.\d{1,12})?)\s*$/;
/** Filters on dates outside these bounds are mistakes, and PostgreSQL refuses some (year 0). */
const EARLIEST_INSTANT = Date.UTC(1970, 0, 1);
const LATEST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59);

/** The tags of `?tags=a,b`, lower-cased and without repeats; null when one is not a tag. */
export function parseTags(raw: string): string[] | null {
  const tags = [...new Set(raw.split(',').map((tag) => tag.trim().toLowerCase()))];
  return tags.every((tag) => TAG_PATTERN.test(tag)) ? tags : null;
}

export type GeoPoint = { lat: number; lng: number };

/** `?near=lat,lng`; null when it is not two numbers in range. */
export function parseNear(raw: string): GeoPoint | null {
  const match = NEAR_PATTERN.exec(raw);
  if (!match) return null;
  const lat = Number(match[1]);
  const lng = Number(match[2]);
  return Math.abs(lat) <= 90 && Math.abs(lng) <= 180 ? { lat, lng } : null;
}

const inRange = (text: string): boolean => {
  const instant = Date.parse(text);
  return instant >= EARLIEST_INSTANT && instant <= LATEST_INSTANT;
};

const instantQuery = (description: string) =>
  z.iso.datetime({ offset: true }).max(40).refine(inRange, 'must be between 1970 and 9999').optional().describe(description);

const rewardQuery = (description: string) => z.coerce.number().int().min(0).max(REWARD_FILTER_MAX).optional().describe(description);

/**
 * The query string, validated whole: every refusal is a 422 with the field's path. Values stay
 * strings where the document should show what a client types (tags, near, remote); browse.ts
 * reads them again with the same parsers.
 */
export const browseQuerySchema = z
  .object({
    q: queryText(safeText(QUERY_MAX_CHARS)).optional().describe('Words to find in the title (weighted higher) and description; quotes, OR and -word work as in web search'),
    category: z.enum(BOUNTY_CATEGORIES).optional(),
    tags: queryText(z.string().max(MAX_TAGS * 34)).optional().describe(`Comma-separated, up to ${MAX_TAGS}: bounties carrying all of them`),
    rewardMin: rewardQuery('Smallest reward, minor units'),
    rewardMax: rewardQuery('Largest reward, minor units'),
    // Optional, not .default(): the document shows outputs, where a default reads as "required".
    status: z.enum(PUBLIC_STATES).optional().describe('Default open. Drafts and cancelled bounties are never listed'),
    remote: z.enum(['true', 'false']).optional().describe('true: remote only; false: in person only'),
    near: queryText(z.string().max(64)).optional().describe('lat,lng: in-person bounties within radiusKm of this point'),
    radiusKm: z.coerce.number().int().min(1).max(MAX_RADIUS_KM).optional().describe(`With near; default ${DEFAULT_RADIUS_KM}`),
    deadlineBefore: instantQuery('Deadline before this moment (ISO 8601 with a zone)'),
    postedSince: instantQuery('Published at or after this moment (ISO 8601 with a zone)'),
    sort: z
      .enum(BROWSE_SORTS)
      .optional()
      .describe('newest (default without q), reward (highest first), deadline (soonest first), relevance (default with q; needs q)'),
    limit: limitQuery,
    cursor: cursorQuery,
  })
  .superRefine((query, ctx) => {
    const refuse = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (query.tags !== undefined) {
      const tags = parseTags(query.tags);
      if (tags === null) refuse('tags', 'tags are 1-32 characters: letters, digits, + # . -, separated by commas');
      else if (tags.length > MAX_TAGS) refuse('tags', `at most ${MAX_TAGS} tags`);
    }
    if (query.rewardMin !== undefined && query.rewardMax !== undefined && query.rewardMin > query.rewardMax) {
      refuse('rewardMin', 'must not be above rewardMax');
    }
    if (query.near !== undefined && parseNear(query.near) === null) refuse('near', 'must be lat,lng: latitude -90..90, longitude -180..180');
    if (query.near !== undefined && query.remote === 'true') refuse('near', 'near finds in-person bounties; it cannot be combined with remote=true');
    if (query.radiusKm !== undefined && query.near === undefined) refuse('radiusKm', 'radiusKm needs near');
    if (query.sort === 'relevance' && query.q === undefined) refuse('sort', 'relevance needs q');
  });

export type BrowseQuery = z.infer<typeof browseQuerySchema>;

// --- Cursors -------------------------------------------------------------------------------------

/** A sort key as PostgreSQL wrote it, per sort: read back by PostgreSQL with the same type. */
const ISO_MICROS = z.iso.datetime().max(40).refine(inRange);
const SORT_KEY_FORMAT: Record<BrowseSort, z.ZodType<string>> = {
  newest: ISO_MICROS,
  deadline: ISO_MICROS,
  // reward_amount: a bigint, kept under its 19 digits so it can never overflow.
  reward: z.string().regex(/^\d{1,18}$/),
  // ts_rank's float4 text; bounded so `::real` neither overflows nor underflows.
  relevance: z
    .string()
    .max(32)
    .regex(/^\d+(\.\d+)?(e[+-]?\d+)?$/)
    .refine((text) => {
      const rank = Number(text);
      return /^0+(\.0+)?$/.test(text) || (rank >= 1e-37 && rank <= 1e37);
    }),
};

const cursorPayload = z.object({ s: z.enum(BROWSE_SORTS), k: z.string().max(40), i: z.uuid() });
type BrowseCursor = z.infer<typeof cursorPayload>;

const encodeBrowseCursor = (cursor: BrowseCursor): string => Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');

/** The cursor of `sort`'s pages, or 422 INVALID_CURSOR (tampered, truncated, another sort's). */
function decodeBrowseCursor(raw: string, sort: BrowseSort): BrowseCursor {
  let parsed: BrowseCursor | null = null;
  try {
    const result = cursorPayload.safeParse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
    parsed = result.success ? result.data : null;
  } catch {
    parsed = null;
  }
  if (!parsed || parsed.s !== sort || !SORT_KEY_FORMAT[sort].safeParse(parsed.k).success) throw COMMON_ERRORS.error('INVALID_CURSOR');
  return parsed;
}

// --- Where a point's neighbours are ---------------------------------------------------------------

/**
 * The latitude/longitude box around a circle on the sphere (J. P. Matuschek, "Finding points within
 * a distance of a latitude/longitude using bounding coordinates"). Longitudes: one range, or two
 * when the box crosses the antimeridian (`min` > `max`: `lng >= min or lng <= max`), or every
 * longitude when the circle covers a pole.
 */
export type BoundingBox = { latMin: number; latMax: number; lng: { kind: 'all' } | { kind: 'range' | 'wrapped'; min: number; max: number } };

/** A hair wider than the circle: the exact distance decides, the box must never cut a point off. */
const BOX_MARGIN_DEG = 1e-6;

export function boundingBox(center: GeoPoint, radiusKm: number): BoundingBox {
  const angular = radiusKm / EARTH_RADIUS_KM;
  const toDeg = (radians: number) => (radians * 180) / Math.PI;
  const lat = (center.lat * Math.PI) / 180;
  const latMin = toDeg(lat - angular) - BOX_MARGIN_DEG;
  const latMax = toDeg(lat + angular) + BOX_MARGIN_DEG;
  const spread = Math.sin(angular) / Math.cos(lat);
  if (latMin <= -90 || latMax >= 90 || spread >= 1) return { latMin: Math.max(latMin, -90), latMax: Math.min(latMax, 90), lng: { kind: 'all' } };
  const deltaLng = toDeg(Math.asin(spread)) + BOX_MARGIN_DEG;
  const min = center.lng - deltaLng;
  const max = center.lng + deltaLng;
  if (min < -180) return { latMin, latMax, lng: { kind: 'wrapped', min: min + 360, max } };
  if (max > 180) return { latMin, latMax, lng: { kind: 'wrapped', min, max: max - 360 } };
  return { latMin, latMax, lng: { kind: 'range', min, max } };
}

/** The cell of the grid (marketplace.ts) holding a point, as the `geo_cell` column computes it. */
export const geoCellOf = (point: GeoPoint): number =>
  Math.floor((point.lat + 90) / GEO_CELL_DEG) * GEO_CELL_ROW + Math.floor((point.lng + 180) / GEO_CELL_DEG);

/**
 * The most cells a `near` page reads one by one (each an index probe and at most a page of rows):
 * a 30 km circle needs 3-8 up to 60 degrees of latitude (10 at 70); 36 reach 100 km at 60 degrees
 * and 145 km at the equator. A larger circle is read through the box.
 */
export const MAX_NEAR_CELLS = 36;
/**
 * The cells sent are padded to at least this many with NO_CELL (no bounty is in it: its branch
 * ends at its first index probe). PostgreSQL estimates `unnest($cells)` at 10 rows in a generic
 * plan, where it cannot see the array, and at its length in a custom one: with fewer cells every
 * custom plan looked cheaper than the generic plan, so at 1M bounties each page was planned anew
 * (0.5-1 ms, more than reading the page); padded, the statement keeps its generic plan.
 */
const PLANNED_CELLS = 10;
const NO_CELL = -1;
/** The exact distance decides: a cell is skipped only when even its nearest corner is farther by this. */
const CELL_MARGIN_KM = 1e-6;
const LAST_CELL_COLUMN = Math.round(360 / GEO_CELL_DEG);

/**
 * The cells a circle may hold points in, ascending; null when they are more than MAX_NEAR_CELLS,
 * or the box spans every longitude (a pole). Candidates are the cells under the bounding box
 * (both sides of the antimeridian when it wraps); of those, a cell is kept unless a lower bound
 * of its distance from the center is beyond the radius: by haversine,
 * hav(d) = hav(dLat) + cos(lat1) cos(lat2) hav(dLng), and each term is at least its value at the
 * cell's nearest latitude, smallest cosine and nearest longitude, so that no point of a dropped
 * cell can be within the radius (the corners of the box a circle does not reach).
 */
export function nearCells(center: GeoPoint, radiusKm: number, box: BoundingBox): number[] | null {
  if (box.lng.kind === 'all') return null;
  const rowOf = (lat: number) => Math.floor((lat + 90) / GEO_CELL_DEG);
  const columnOf = (lng: number) => Math.floor((lng + 180) / GEO_CELL_DEG);
  const rows: number[] = [];
  for (let row = rowOf(box.latMin); row <= rowOf(box.latMax); row++) rows.push(row);
  const columns: number[] = [];
  const span = (from: number, to: number) => {
    for (let column = from; column <= to; column++) columns.push(column);
  };
  if (box.lng.kind === 'range') span(columnOf(box.lng.min), columnOf(box.lng.max));
  else {
    span(columnOf(box.lng.min), LAST_CELL_COLUMN);
    span(0, columnOf(box.lng.max));
  }
  // Before any trigonometry: the box alone already holds far more cells than a circle may use.
  if (rows.length * columns.length > MAX_NEAR_CELLS * 2) return null;

  const radians = (degrees: number) => (degrees * Math.PI) / 180;
  const hav = (angle: number) => Math.sin(angle / 2) ** 2;
  const centerLat = radians(center.lat);
  const limit = hav(Math.min(Math.PI, (radiusKm + CELL_MARGIN_KM) / EARTH_RADIUS_KM));
  const cells: number[] = [];
  for (const row of rows) {
    const south = row * GEO_CELL_DEG - 90;
    const north = Math.min(90, south + GEO_CELL_DEG);
    const dLat = radians(Math.max(0, south - center.lat, center.lat - north));
    const cosMin = Math.max(0, Math.min(Math.cos(radians(south)), Math.cos(radians(north))));
    for (const column of columns) {
      const west = column * GEO_CELL_DEG - 180;
      const east = west + GEO_CELL_DEG;
      // The longitude difference to the nearest edge, the short way round.
      const around = (lng: number) => {
        const d = Math.abs(center.lng - lng) % 360;
        return Math.min(d, 360 - d);
      };
      const dLng = center.lng >= west && center.lng <= east ? 0 : radians(Math.min(around(west), around(east)));
      if (hav(dLat) + Math.cos(centerLat) * cosMin * hav(dLng) <= limit) cells.push(row * GEO_CELL_ROW + column);
    }
  }
  return cells.length <= MAX_NEAR_CELLS ? cells.sort((a, b) => a - b) : null;
}

// --- The query's shape and its values -------------------------------------------------------------

/**
 * What changes the SQL text; everything else is a placeholder value. The state and `remote` are
 * written into the text, not sent as values: PostgreSQL switches a prepared statement to a generic
 * plan after five runs, and one that does not know the state guessed "1 in 8 rows" for `open`
 * (7 in 10) and read the whole state index beside the text index: 150 ms instead of 0.5 ms for a
 * rare word at 1M bounties. Nor can a generic plan use the location index, partial on `not remote`,
 * for `remote = $1`.
 */
type Shape = {
  sort: BrowseSort;
  state: PublicState;
  text: boolean;
  category: boolean;
  tags: boolean;
  rewardMin: boolean;
  rewardMax: boolean;
  remote: boolean | null;
  /** The box's kind of longitude range, or `cells`: one branch per cell (values.cells). */
  near: BoundingBox['lng']['kind'] | 'cells' | null;
  deadlineBefore: boolean;
  postedSince: boolean;
  /** A signed-in viewer who is not staff: bounties of people they blocked or who blocked them are left out. */
  blocks: boolean;
  after: boolean;
};

type Values = {
  q?: string;
  category?: string;
  tags?: string[];
  rewardMin?: number;
  rewardMax?: number;
  lat?: number;
  lng?: number;
  radiusKm?: number;
  cells?: number[];
  latMin?: number;
  latMax?: number;
  lngMin?: number;
  lngMax?: number;
  deadlineBefore?: string;
  postedSince?: string;
  viewerId?: string;
  afterKey?: string;
  afterId?: string;
  limit: number;
};

const value = (name: keyof Values) => sql.placeholder(name);

/** The search text as a tsquery, computed once per statement (a FROM item), not once per row. */
const TSQUERY = sql`websearch_to_tsquery('english', ${value('q')}::text) as query`;
const RANK = sql`ts_rank(${bounties.search}, query)`;

/** Per sort: its ORDER BY (matching its index), its key as text for the cursor, and "after the cursor". */
const SORTS: Record<BrowseSort, { order: SQL[]; key: SQL<string>; after: SQL }> = {
  newest: {
    order: [desc(bounties.publishedAt), desc(bounties.id)],
    key: sql<string>`to_char(${bounties.publishedAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    after: sql`(${bounties.publishedAt}, ${bounties.id}) < (${value('afterKey')}::timestamptz, ${value('afterId')}::uuid)`,
  },
  reward: {
    order: [desc(bounties.rewardAmount), desc(bounties.id)],
    key: sql<string>`${bounties.rewardAmount}::text`,
    after: sql`(${bounties.rewardAmount}, ${bounties.id}) < (${value('afterKey')}::bigint, ${value('afterId')}::uuid)`,
  },
  deadline: {
    order: [asc(bounties.deadline), asc(bounties.id)],
    key: sql<string>`to_char(${bounties.deadline} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    after: sql`(${bounties.deadline}, ${bounties.id}) > (${value('afterKey')}::timestamptz, ${value('afterId')}::uuid)`,
  },
  relevance: {
    order: [sql`${RANK} desc`, desc(bounties.id)],
    key: sql<string>`${RANK}::text`,
    after: sql`(${RANK}, ${bounties.id}) < (${value('afterKey')}::real, ${value('afterId')}::uuid)`,
  },
};

/** Great-circle distance in km from the `lat`,`lng` placeholders (haversine; least() keeps asin's argument in range). */
const DISTANCE_KM = sql`2 * ${EARTH_RADIUS_KM}::float8 * asin(least(1, sqrt(
  power(sin(radians(${bounties.latitude} - ${value('lat')}::float8) / 2), 2)
  + cos(radians(${value('lat')}::float8)) * cos(radians(${bounties.latitude})) * power(sin(radians(${bounties.longitude} - ${value('lng')}::float8) / 2), 2)
)))`;

/** In person (the location indexes are partial on `not remote`), inside the box or the cell, then within the radius. */
function nearConditions(kind: NonNullable<Shape['near']>): SQL[] {
  // The branch's cell: `near_cell` is the unnest() of buildNearCellsQuery, beside the branch.
  if (kind === 'cells') return [sql`not ${bounties.remote}`, sql`${bounties.geoCell} = near_cell.id`, sql`${DISTANCE_KM} <= ${value('radiusKm')}::float8`];
  const conditions = [
    sql`not ${bounties.remote}`,
    sql`${bounties.latitude} between ${value('latMin')}::float8 and ${value('latMax')}::float8`,
  ];
  if (kind === 'range') conditions.push(sql`${bounties.longitude} between ${value('lngMin')}::float8 and ${value('lngMax')}::float8`);
  if (kind === 'wrapped') conditions.push(sql`(${bounties.longitude} >= ${value('lngMin')}::float8 or ${bounties.longitude} <= ${value('lngMax')}::float8)`);
  conditions.push(sql`${DISTANCE_KM} <= ${value('radiusKm')}::float8`);
  return conditions;
}

/** Qualified by hand: inside the block check's subquery a bare column name would be ambiguous to a reader. */
const POSTER_ID = sql`${sql.identifier('bounties')}.${sql.identifier('poster_id')}`;

function conditionsOf(shape: Shape): SQL[] {
  // A literal (see Shape), safe as one: publicState() returns our own constant, never client text.
  const conditions: SQL[] = [sql`${bounties.state} = ${sql.raw(`'${shape.state}'`)}`, isNotNull(bounties.publishedAt), isNull(bounties.hiddenAt)];
  if (shape.text) conditions.push(sql`${bounties.search} @@ query`);
  if (shape.category) conditions.push(eq(bounties.category, sql`${value('category')}::text`));
  if (shape.tags) conditions.push(sql`${bounties.tags} @> ${value('tags')}::text[]`);
  if (shape.rewardMin) conditions.push(gte(bounties.rewardAmount, sql`${value('rewardMin')}::bigint`));
  if (shape.rewardMax) conditions.push(lte(bounties.rewardAmount, sql`${value('rewardMax')}::bigint`));
  if (shape.remote !== null) conditions.push(shape.remote ? sql`${bounties.remote}` : sql`not ${bounties.remote}`);
  if (shape.near !== null) conditions.push(...nearConditions(shape.near));
  if (shape.deadlineBefore) conditions.push(lt(bounties.deadline, sql`${value('deadlineBefore')}::timestamptz`));
  if (shape.postedSince) conditions.push(gte(bounties.publishedAt, sql`${value('postedSince')}::timestamptz`));
  if (shape.blocks) conditions.push(sql`not ${eitherBlockedSql(sql`${value('viewerId')}::text`, POSTER_ID)}`);
  if (shape.after) conditions.push(SORTS[shape.sort].after);
  return conditions;
}

const shapeKey = (shape: Shape): string =>
  [
    shape.sort,
    shape.state,
    shape.text ? 'q' : '',
    shape.category ? 'c' : '',
    shape.tags ? 't' : '',
    shape.rewardMin ? 'r' : '',
    shape.rewardMax ? 'R' : '',
    shape.remote === null ? '' : shape.remote ? 'remote' : 'onsite',
    shape.near ?? '',
    shape.deadlineBefore ? 'd' : '',
    shape.postedSince ? 'p' : '',
    shape.blocks ? 'b' : '',
    shape.after ? 'after' : '',
  ].join('_');

function buildPageQuery(db: Database, shape: Shape, name: string) {
  const { order, key } = SORTS[shape.sort];
  const query = db.select({ bounty: bounties, key }).from(bounties).$dynamic();
  return (shape.text ? query.crossJoin(TSQUERY) : query)
    .where(and(...conditionsOf(shape)))
    .orderBy(...order)
    .limit(value('limit'))
    .prepare(name);
}

/** The sorts a cell's index serves (bounties_state_cell_*_idx): the key column and its direction. */
const CELL_SORTS: Record<Exclude<BrowseSort, 'relevance'>, { column: typeof bounties.publishedAt | typeof bounties.rewardAmount | typeof bounties.deadline; direction: typeof asc }> = {
  newest: { column: bounties.publishedAt, direction: desc },
  reward: { column: bounties.rewardAmount, direction: desc },
  deadline: { column: bounties.deadline, direction: asc },
};

/**
 * `near` read cell by cell, in three steps:
 * - `near_branch`, LATERAL per cell of `cells`: the first limit + 1 matches after the cursor in
 *   that cell, walking its `bounties_state_cell_*_idx` in the sort's order. It selects only the id
 *   and the sort key; the index holds the coordinates, but `hidden_at is null` (a moderator's
 *   removal) needs the row, so the walk reads each candidate's row (an index-only scan again once
 *   the indexes' predicate says `hidden_at is null`);
 * - `near_page`: the branches' rows (at most cells x (limit + 1)) in the sort's order, the first
 *   limit + 1 kept;
 * - the page's rows from the table by id, in the sort's order again (ties by id, as everywhere).
 * Each cell's rows are a disjoint part of the matches and each branch keeps its first rows in the
 * same order, so the page, its order and its cursor are those of the one-range query.
 *
 * LATERAL over unnest($cells), not one UNION ALL branch per cell: the cell count (1..MAX_NEAR_CELLS)
 * is a value (an array padded to PLANNED_CELLS, see there), so every count shares one SQL text,
 * one prepared statement and one generic plan per shape, with no count in the statement key.
 */
function buildNearCellsQuery(db: Database, shape: Shape, name: string) {
  if (shape.sort === 'relevance') throw new Error('relevance is never read cell by cell');
  const { order, key } = SORTS[shape.sort];
  const { column, direction } = CELL_SORTS[shape.sort];
  const branch = db
    .select({ id: bounties.id, sortKey: column })
    .from(bounties)
    .where(and(...conditionsOf(shape)))
    .orderBy(...order)
    .limit(value('limit'))
    .as('near_branch');
  const page = db
    .select({ id: branch.id })
    .from(sql`unnest(${value('cells')}::integer[]) as near_cell(id)`)
    .crossJoinLateral(branch)
    .orderBy(direction(branch.sortKey), direction(branch.id))
    .limit(value('limit'))
    .as('near_page');
  return db
    .select({ bounty: bounties, key })
    .from(bounties)
    .innerJoin(page, eq(bounties.id, page.id))
    .orderBy(...order)
    .limit(value('limit'))
    .prepare(name);
}

type PageQuery = ReturnType<typeof buildPageQuery> | ReturnType<typeof buildNearCellsQuery>;

/**
 * Prepared queries by shape, the most recently used kept. The shapes are finite (a few thousand
 * at most) but a client could walk them all: the cap bounds what the process keeps.
 */
const MAX_SHAPES = 256;
const pageQueries = new Map<string, (db: Database) => PageQuery>();

function pageQueryOf(shape: Shape): (db: Database) => PageQuery {
  const key = shapeKey(shape);
  const cached = pageQueries.get(key);
  pageQueries.delete(key);
  const build = shape.near === 'cells' ? buildNearCellsQuery : buildPageQuery;
  const query = cached ?? preparedPerHandle<PageQuery>((db) => build(db, shape, `bounties_browse_${key}`));
  pageQueries.set(key, query);
  const oldest = pageQueries.keys().next().value;
  if (pageQueries.size > MAX_SHAPES && oldest !== undefined) pageQueries.delete(oldest);
  return query;
}

/** The state as one of our own constants (it is written into the SQL text): open by default. */
const publicState = (status: string | undefined): PublicState => PUBLIC_STATES.find((state) => state === status) ?? 'open';

/** The shape and values of a validated query (the schema has refused everything invalid). */
function planOf(query: BrowseQuery, limit: number, cursor: BrowseCursor | null, sort: BrowseSort, viewer: Viewer): { shape: Shape; values: Values } {
  const tags = query.tags === undefined ? null : parseTags(query.tags);
  const center = query.near === undefined ? null : parseNear(query.near);
  if (query.tags !== undefined && tags === null) throw unprocessable('Invalid query', [{ path: 'tags', message: 'is not a list of tags' }]);
  if (query.near !== undefined && center === null) throw unprocessable('Invalid query', [{ path: 'near', message: 'must be lat,lng' }]);
  const radiusKm = query.radiusKm ?? DEFAULT_RADIUS_KM;
  const box = center ? boundingBox(center, radiusKm) : null;
  // Cell by cell when each cell's index serves the sort: not relevance, nor any q (a word's matches
  // come from the text index; walking cells for a rare one would read them whole).
  const cells = center && box && sort !== 'relevance' && query.q === undefined ? nearCells(center, radiusKm, box) : null;
  const shape: Shape = {
    sort,
    state: publicState(query.status),
    text: query.q !== undefined,
    category: query.category !== undefined,
    tags: tags !== null,
    rewardMin: query.rewardMin !== undefined,
    rewardMax: query.rewardMax !== undefined,
    remote: query.remote === undefined ? null : query.remote === 'true',
    near: cells ? 'cells' : box ? box.lng.kind : null,
    deadlineBefore: query.deadlineBefore !== undefined,
    postedSince: query.postedSince !== undefined,
    blocks: viewer !== null && !isStaff(viewer.role),
    after: cursor !== null,
  };
  const values: Values = {
    limit: limit + 1,
    ...(query.q !== undefined && { q: query.q }),
    ...(query.category !== undefined && { category: query.category }),
    ...(tags !== null && { tags }),
    ...(query.rewardMin !== undefined && { rewardMin: query.rewardMin }),
    ...(query.rewardMax !== undefined && { rewardMax: query.rewardMax }),
    ...(center && { lat: center.lat, lng: center.lng, radiusKm }),
    ...(cells && { cells: [...cells, ...Array<number>(Math.max(0, PLANNED_CELLS - cells.length)).fill(NO_CELL)] }),
    ...(box && !cells && { latMin: box.latMin, latMax: box.latMax }),
    ...(box && !cells && box.lng.kind !== 'all' && { lngMin: box.lng.min, lngMax: box.lng.max }),
    ...(query.deadlineBefore !== undefined && { deadlineBefore: new Date(query.deadlineBefore).toISOString() }),
    ...(query.postedSince !== undefined && { postedSince: new Date(query.postedSince).toISOString() }),
    ...(viewer !== null && !isStaff(viewer.role) && { viewerId: viewer.id }),
    ...(cursor && { afterKey: cursor.k, afterId: cursor.i }),
  };
  return { shape, values };
}

/** The sort asked for, else relevance with q and newest without. */
export const sortOf = (query: Pick<BrowseQuery, 'sort' | 'q'>): BrowseSort => query.sort ?? (query.q !== undefined ? 'relevance' : 'newest');

export type BrowsePage = { items: BountySummary[]; nextCursor: string | null };

/**
 * One page of public bounties matching `query` (validated by browseQuerySchema), read from a
 * replica. `options.limit` is the page size, already clamped (clampLimit(query.limit));
 * `options.viewer` the signed-in reader (blocks hide bounties from them), null or left out when anonymous.
 */
export async function browseBounties(db: DatabaseSession, query: BrowseQuery, options: { limit: number; viewer?: Viewer }): Promise<BrowsePage> {
  const sort = sortOf(query);
  if (sort === 'relevance' && query.q === undefined) throw unprocessable('Invalid query', [{ path: 'sort', message: 'relevance needs q' }]);
  const cursor = query.cursor ? decodeBrowseCursor(query.cursor, sort) : null;
  const { shape, values } = planOf(query, options.limit, cursor, sort, options.viewer ?? null);
  const pageQuery = pageQueryOf(shape);
  const rows = await db.read((reader) => pageQuery(reader).execute(values));
  const shown = rows.slice(0, options.limit);
  const last = shown.at(-1);
  return {
    items: shown.map((row) => toBountySummary(row.bounty)),
    nextCursor: rows.length > options.limit && last ? encodeBrowseCursor({ s: sort, k: last.key, i: last.bounty.id }) : null,
  };
}

/** What GET /bounties and GET /search/bounties document: one list, one description. */
export const BROWSE_DESCRIPTION = [
  'Public bounties only: drafts, cancelled bounties and bounties removed by a moderator are never listed (status=draft or cancelled is 422); signed in, neither are the bounties of people you blocked or who blocked you.',
  '`q`: full text over title (weighted higher) and description, web-search syntax ("a phrase", or, -word).',
  `Filters, all optional and combined: category; tags (comma-separated, all must match); rewardMin/rewardMax (minor units); status (default open); remote (true/false); near=lat,lng with radiusKm (1-500, default ${DEFAULT_RADIUS_KM}: in-person bounties within that distance); deadlineBefore; postedSince (ISO 8601).`,
  'Sorts: newest (default without q), reward (highest first), deadline (soonest first), relevance (default with q; only with q).',
  'Pages: pass pagination.nextCursor as cursor with the same query; a cursor of another sort is 422 INVALID_CURSOR.',
].join(' ');
