/**
 * The search scenario of `bun run bench` (issue 10, item 11): browse and full-text search of
 * bounties at 10,000 and at 1,000,000 rows, through the service's own `browseBounties` on a
 * DatabaseSession (so reads go to the replica, as a request's do), from this process: no app
 * server, no wrk. What it leaves out is constant per request (HTTP, Elysia, query validation,
 * the JSON body), so the 1M/10k ratio is the database's and the query builder's.
 *
 * Seeding is one INSERT ... SELECT FROM generate_series per size (10,000 rows, then 990,000 more)
 * with every index in place, then VACUUM ANALYZE (which also moves the full-text index's pending
 * entries into the index and, repeated until it can, sets the visibility map, as autovacuum does
 * in service) and a wait for the replica. The spread:
 * 8 categories, 1-3 tags of 30, rewards 5.00-2,005.00, deadlines 1-90 days out, 30% in person
 * around 20 cities, ~70% open and the rest in the other states (drafts and cancelled included).
 * Titles and descriptions are built from word lists; two terms are planted:
 * - RARE_TERM in exactly 40 bounties, all among the first 10,000 (0.4% at 10k, 0.004% at 1M);
 * - COMMON_TERM in every tenth bounty (10% at both sizes).
 * Each scenario runs WARMUP_RUNS unmeasured calls, then ROUNDS interleaved rounds (every scenario
 * in turn, RUNS_PER_ROUND calls each, one at a time): p50 and p99 are per call, per round, and the
 * median round is reported, so a transient stall of the machine (a checkpoint, another process)
 * lands on one round of one scenario instead of deciding its p99. The issue's bound: browse p99 and rare-term search p99 may grow at most 1.5x from
 * 10k to 1M; the common term (ranking a tenth of the table) and `near` are reported against it too.
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { parseConfig } from '../../src/config/env';
import { DatabaseCluster, selectRows } from '../../src/db';
import { createLogger } from '../../src/lib/logger';
import { clampLimit } from '../../src/lib/validation';
import { browseBounties, browseQuerySchema } from '../../src/modules/bounties/browse';

export const SEARCH_SIZES = [10_000, 1_000_000] as const;
export const RARE_TERM = 'zeppelin';
export const COMMON_TERM = 'kubernetes';
export const SEARCH_P99_RATIO_MAX = 1.5;
const WARMUP_RUNS = 20;
const ROUNDS = 3;
const RUNS_PER_ROUND = 100;
const REPLICA_CATCH_UP_MS = 600_000;
/** Vacuums after the first, a second apart, until the visibility map is set (see growTo). */
const VISIBILITY_ATTEMPTS = 60;

/**
 * What is measured. Values rotate per call where a client's would (categories, tags, cities), so a
 * cached generic plan must serve them all; `bounded` marks what the issue bounds at 1.5x.
 */
type SearchScenario = { name: string; kind: 'browse' | 'search'; bounded: boolean; queries: string[] };

const CITIES: ReadonlyArray<readonly [number, number]> = [
  [-33.87, 151.21], [51.51, -0.13], [40.71, -74.01], [35.68, 139.69], [-23.55, -46.63],
  [48.86, 2.35], [52.52, 13.4], [19.43, -99.13], [28.61, 77.21], [1.35, 103.82],
  [-37.81, 144.96], [43.65, -79.38], [37.77, -122.42], [55.76, 37.62], [30.04, 31.24],
  [-34.6, -58.38], [41.01, 28.98], [6.52, 3.38], [13.76, 100.5], [59.33, 18.07],
];
const TAGS = [
  'rust', 'python', 'typescript', 'go', 'react', 'figma', 'seo', 'excel', 'sql', 'aws',
  'docker', 'ios', 'android', 'wordpress', 'shopify', 'video', 'audio', 'photo', 'translation', 'copywriting',
  'moving', 'cleaning', 'garden', 'delivery', 'assembly', 'research', 'survey', 'data-entry', 'urgent', 'small',
];
const CATEGORIES = ['development', 'design', 'writing', 'marketing', 'research', 'data', 'errands', 'other'];
const VERBS = ['fix', 'build', 'design', 'write', 'translate', 'review', 'migrate', 'clean', 'test', 'deliver', 'paint', 'assemble', 'record', 'edit', 'analyse', 'optimise'];
const NOUNS = [
  'checkout', 'landing page', 'logo', 'dashboard', 'newsletter', 'database', 'spreadsheet', 'garden', 'bookshelf', 'podcast',
  'mobile app', 'api', 'report', 'survey', 'warehouse', 'inventory', 'invoice', 'website', 'brochure', 'playlist',
  'pipeline', 'wardrobe', 'kitchen', 'fence', 'photo album', 'catalogue', 'dataset', 'manual', 'chatbot', 'storefront',
];
const WORDS = [
  'quickly', 'carefully', 'before', 'after', 'weekend', 'evening', 'budget', 'quality', 'responsive', 'accessible',
  'secure', 'clean', 'modern', 'simple', 'detailed', 'friendly', 'customer', 'team', 'office', 'home',
  'deadline', 'feedback', 'revision', 'sample', 'example', 'template', 'guide', 'standard', 'format', 'export',
  'import', 'upload', 'download', 'backup', 'archive', 'schedule', 'calendar', 'payment', 'shipping', 'tracking',
  'colour', 'layout', 'font', 'image', 'video', 'audio', 'caption', 'subtitle', 'summary', 'outline',
  'draft', 'final', 'proof', 'check', 'measure', 'compare', 'document', 'explain', 'support', 'maintain',
];

const list = (words: readonly string[]): string => `array[${words.map((word) => `'${word.replaceAll("'", "''")}'`).join(', ')}]`;
/** One of `words` by the hash of `key` (an SQL expression of the row number `n`). */
const pick = (words: readonly string[], key: string): string => `(${list(words)})[1 + abs(hashint4(${key})) % ${words.length}]`;

/**
 * Rows `from`..`to` in one statement. Pseudo-random but reproducible: each column draws from
 * hashint4 of the row number with a salt of its own, so columns do not move together.
 */
function seedStatement(from: number, to: number): string {
  const state = `case when r.p < 70 then 'open' when r.p < 78 then 'in_progress' when r.p < 83 then 'submitted'
    when r.p < 85 then 'changes_requested' when r.p < 86 then 'disputed' when r.p < 94 then 'completed'
    when r.p < 97 then 'draft' else 'cancelled' end`;
  const city = pick(CITIES.map(([lat, lng]) => `${lat},${lng}`), 'n + 11');
  // Six "word noun" pairs, each pair drawn by its own hash.
  const description = `array_to_string(array(select ${pick(WORDS, 'n * 16 + i')} || ' ' || ${pick(NOUNS, 'n * 16 + i + 8')} from generate_series(1, 6) as w(i)), ' ')`;
  return `
    insert into bounties (poster_id, hunter_id, state, cancel_reason, title, description, criteria, reward_amount, currency,
                          category, tags, remote, latitude, longitude, deadline, published_at, created_at, updated_at)
    select 'bench-poster-' || (1 + n % 5000),
           case when s.state not in ('draft', 'open', 'cancelled') then 'bench-hunter-' || (1 + n % 3000) end,
           s.state, case when s.state = 'cancelled' then 'expired' end,
           initcap(${pick(VERBS, 'n + 1')}) || ' the ' || ${pick(NOUNS, 'n + 2')} || ' ' || ${pick(WORDS, 'n + 3')}
             || case when n <= 10000 and n % 500 = 0 then ' ${RARE_TERM}' else '' end,
           ${description}
             || case when n <= 10000 and n % 500 = 250 then ' near the ${RARE_TERM} hangar' else '' end
             || case when n % 10 = 3 then ' on ${COMMON_TERM}' else '' end,
           '[{"id": 1, "text": "Done as described"}]', 500 + abs(hashint4(n + 5)) % 200000, 'usd',
           ${pick(CATEGORIES, 'n + 6')},
           array(select distinct ${pick(TAGS, 'n * 4 + j + 7')} from generate_series(0, abs(hashint4(n + 8)) % 3) as k(j)),
           r.in_person = false, g.lat, g.lng,
           now() + interval '1 day' + (abs(hashint4(n + 9)) % (90 * 86400)) * interval '1 second',
           case when s.state <> 'draft' then now() - n * interval '20 seconds' end,
           now() - n * interval '20 seconds', now()
    from generate_series(${from}, ${to}) as n
    cross join lateral (select abs(hashint4(n)) % 100 as p, abs(hashint4(n + 10)) % 10 < 3 as in_person) r
    cross join lateral (select ${state} as state) s
    cross join lateral (select case when r.in_person then split_part(${city}, ',', 1)::float8 + (abs(hashint4(n + 12)) % 601 - 300) / 1000.0 end as lat,
                               case when r.in_person then split_part(${city}, ',', 2)::float8 + (abs(hashint4(n + 13)) % 601 - 300) / 1000.0 end as lng) g`;
}

const at = (index: number): readonly [number, number] => CITIES[index % CITIES.length] ?? [0, 0];

export const SEARCH_SCENARIOS: SearchScenario[] = [
  { name: 'browse newest', kind: 'browse', bounded: true, queries: ['limit=20'] },
  { name: 'browse reward', kind: 'browse', bounded: true, queries: ['sort=reward&limit=20'] },
  { name: 'browse deadline', kind: 'browse', bounded: true, queries: ['sort=deadline&limit=20'] },
  { name: 'browse category', kind: 'browse', bounded: true, queries: CATEGORIES.map((category) => `category=${category}&limit=20`) },
  { name: 'browse tag', kind: 'browse', bounded: true, queries: TAGS.slice(0, 8).map((tag) => `tags=${tag}&limit=20`) },
  {
    name: 'browse reward range, by reward',
    kind: 'browse',
    bounded: true,
    queries: [1, 2, 3, 4].map((step) => `rewardMin=${step * 10_000}&rewardMax=${step * 10_000 + 40_000}&sort=reward&limit=20`),
  },
  { name: 'browse remote, by deadline', kind: 'browse', bounded: true, queries: ['remote=true&sort=deadline&limit=20'] },
  {
    name: 'browse category+tag+reward',
    kind: 'browse',
    bounded: true,
    queries: CATEGORIES.map((category, index) => `category=${category}&tags=${TAGS[index] ?? 'rust'}&rewardMin=1000&limit=20`),
  },
  { name: 'browse near (30 km)', kind: 'browse', bounded: true, queries: [0, 1, 2, 3, 4].map((index) => `near=${at(index).join(',')}&limit=20`) },
  { name: `search rare "${RARE_TERM}"`, kind: 'search', bounded: true, queries: [`q=${RARE_TERM}&limit=20`] },
  { name: `search rare, newest`, kind: 'search', bounded: true, queries: [`q=${RARE_TERM}&sort=newest&limit=20`] },
  { name: `search common "${COMMON_TERM}"`, kind: 'search', bounded: false, queries: [`q=${COMMON_TERM}&limit=20`] },
  { name: 'search common, newest', kind: 'search', bounded: false, queries: [`q=${COMMON_TERM}&sort=newest&limit=20`] },
];

const censusRow = z.object({ rows: z.coerce.number(), open: z.coerce.number(), rare: z.coerce.number(), common: z.coerce.number() });

export type Latency = { p50Ms: number; p99Ms: number; items: number };
export type SizeResult = { rows: number; seedS: number; results: Map<string, Latency> };

/** Value at quantile q of ascending samples (nearest rank). */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

const queryOf = (scenario: SearchScenario, run: number): string => scenario.queries[run % scenario.queries.length] ?? '';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The median of the rounds' p50s and of their p99s. */
const medianRound = (rounds: Latency[]): Latency => ({
  p50Ms: median(rounds.map((round) => round.p50Ms)),
  p99Ms: median(rounds.map((round) => round.p99Ms)),
  items: rounds[0]?.items ?? 0,
});

export class SearchBench {
  private seeded = 0;

  private constructor(private readonly database: DatabaseCluster) {}

  /** The service's cluster handle: reads go to the replica, as a request's do. */
  static async open(primaryUrl: string, replicaUrl: string): Promise<SearchBench> {
    // Long statements for the seed; requests keep their own (default) bound in browse.
    const config = parseConfig({ DATABASE_URL: primaryUrl, DATABASE_REPLICA_URLS: replicaUrl, DB_STATEMENT_TIMEOUT_MS: '600000' });
    return new SearchBench(await DatabaseCluster.open(config.database, createLogger({ level: 'error' })));
  }

  /**
   * Seeds up to `rows` bounties, vacuums and analyses until the visibility map is set,
   * checkpoints (so the replica's own restartpoint is not written during the measurements) and
   * waits for the replica; returns the seconds taken.
   *
   * One vacuum right after the insert is not enough: with hot_standby_feedback the replica's
   * slot holds the primary's xmin horizon before the insert until the replica has replayed it and
   * said so (every wal_receiver_status_interval, 10 s), and until then the vacuum marks almost no
   * page all-visible (749 of 79,000 at 1M). Every index-only scan would then read the table for
   * each entry, and autovacuum, its insert count just reset, would not come back for a long while:
   * not the service's steady state. So the vacuum is repeated, a second apart, until 99% of the
   * pages are all-visible (it stops trying after a minute).
   */
  async growTo(rows: number): Promise<number> {
    const started = performance.now();
    await this.database.primary.execute(sql.raw(seedStatement(this.seeded + 1, rows)));
    this.seeded = rows;
    await this.database.primary.execute(sql.raw('vacuum analyze bounties'));
    for (let attempt = 1; attempt <= VISIBILITY_ATTEMPTS && !(await this.mostlyAllVisible()); attempt++) {
      await Bun.sleep(1000);
      await this.database.primary.execute(sql.raw('vacuum bounties'));
    }
    await this.database.primary.execute(sql.raw('checkpoint'));
    const lsn = await this.database.currentWalInsertLsn();
    if (lsn !== null) {
      const { pending } = await this.database.waitForReplicas(lsn, REPLICA_CATCH_UP_MS);
      if (pending.length > 0) throw new Error(`the replica did not replay the seed within ${REPLICA_CATCH_UP_MS / 1000} s`);
    }
    return (performance.now() - started) / 1000;
  }

  /** Whether the last vacuum marked 99% of the table's pages all-visible. */
  private async mostlyAllVisible(): Promise<boolean> {
    const [row] = await selectRows(
      this.database.primary,
      sql`select relpages, relallvisible from pg_class where oid = 'bounties'::regclass`,
      z.object({ relpages: z.coerce.number(), relallvisible: z.coerce.number() }),
    );
    return row !== undefined && row.relallvisible >= 0.99 * row.relpages;
  }

  /** What the planted terms and states came to, for the report. */
  async census(): Promise<{ rows: number; open: number; rare: number; common: number }> {
    const [row] = await selectRows(
      this.database.primary,
      sql`select count(*) as rows, count(*) filter (where state = 'open') as open,
                 count(*) filter (where search @@ to_tsquery('english', ${RARE_TERM})) as rare,
                 count(*) filter (where search @@ to_tsquery('english', ${COMMON_TERM})) as common
          from bounties`,
      censusRow,
    );
    return row ?? { rows: 0, open: 0, rare: 0, common: 0 };
  }

  /** One page through the service's browse, on a fresh per-request session. */
  private async browse(raw: string): Promise<number> {
    const query = browseQuerySchema.parse(Object.fromEntries(new URLSearchParams(raw)));
    const page = await browseBounties(this.database.session(), query, { limit: clampLimit(query.limit) });
    return page.items.length;
  }

  async warmUp(scenario: SearchScenario): Promise<void> {
    for (let run = 0; run < WARMUP_RUNS; run++) await this.browse(queryOf(scenario, run));
  }

  /** One round of a scenario: RUNS_PER_ROUND calls in turn. */
  async round(scenario: SearchScenario): Promise<Latency> {
    const latencies = new Float64Array(RUNS_PER_ROUND);
    let items = 0;
    for (let run = 0; run < RUNS_PER_ROUND; run++) {
      const begun = performance.now();
      items += await this.browse(queryOf(scenario, run));
      latencies[run] = performance.now() - begun;
    }
    latencies.sort();
    return { p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), items: Math.round(items / RUNS_PER_ROUND) };
  }

  async close(): Promise<void> {
    await this.database.close();
  }
}

/**
 * The whole group: each size seeded in turn, then every scenario measured on it; progress is
 * printed as it goes, the table by the caller (after the other groups' table).
 */
export async function runSearchBench(primaryUrl: string, replicaUrl: string): Promise<SizeResult[]> {
  const bench = await SearchBench.open(primaryUrl, replicaUrl);
  const sizes: SizeResult[] = [];
  try {
    for (const rows of SEARCH_SIZES) {
      const seedS = await bench.growTo(rows);
      const census = await bench.census();
      console.log(
        `\nbench: search: ${census.rows} bounties (${census.open} open), seeded + VACUUM ANALYZE + replica caught up in ${seedS.toFixed(1)} s; ` +
          `"${RARE_TERM}" in ${census.rare}, "${COMMON_TERM}" in ${census.common}`,
      );
      for (const scenario of SEARCH_SCENARIOS) await bench.warmUp(scenario);
      const rounds = new Map<string, Latency[]>(SEARCH_SCENARIOS.map((scenario) => [scenario.name, []]));
      for (let round = 1; round <= ROUNDS; round++) {
        for (const scenario of SEARCH_SCENARIOS) {
          const latency = await bench.round(scenario);
          rounds.get(scenario.name)?.push(latency);
          console.log(`  round ${round}  ${describeLatency(scenario.name, latency)}`);
        }
      }
      const results = new Map([...rounds].map(([name, measured]) => [name, medianRound(measured)]));
      for (const scenario of SEARCH_SCENARIOS) {
        const latency = results.get(scenario.name);
        if (latency) console.log(`  median   ${describeLatency(scenario.name, latency)}`);
      }
      sizes.push({ rows, seedS, results });
    }
  } finally {
    await bench.close();
  }
  return sizes;
}

const fmtMs = (ms: number): string => `${ms.toFixed(2)} ms`;

/** The per-scenario line of one size. */
export const describeLatency = (name: string, latency: Latency): string =>
  `${name.padEnd(34)} p50 ${fmtMs(latency.p50Ms).padStart(10)}  p99 ${fmtMs(latency.p99Ms).padStart(10)}  (${latency.items} items/page)`;

/** Both sizes side by side, the p99 ratio, and whether it is within the bound. */
export function printSearchTable(small: SizeResult, large: SizeResult): void {
  const header = ['scenario', `p50 ${small.rows / 1000}k`, `p99 ${small.rows / 1000}k`, `p50 ${large.rows / 1_000_000}M`, `p99 ${large.rows / 1_000_000}M`, 'p99 ratio', 'bound'];
  const rows = SEARCH_SCENARIOS.map((scenario) => {
    const a = small.results.get(scenario.name);
    const b = large.results.get(scenario.name);
    if (!a || !b) return [scenario.name, 'n/a', '', '', '', '', ''];
    const ratio = b.p99Ms / a.p99Ms;
    const within = ratio <= SEARCH_P99_RATIO_MAX ? 'within' : 'OVER';
    return [
      scenario.name,
      fmtMs(a.p50Ms),
      fmtMs(a.p99Ms),
      fmtMs(b.p50Ms),
      fmtMs(b.p99Ms),
      ratio.toFixed(2),
      `<= ${SEARCH_P99_RATIO_MAX} ${scenario.bounded ? within : `${within} (report only)`}`,
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  console.log(`\n${line(header)}`);
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
}
