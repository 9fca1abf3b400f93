/**
 * bun run bench — throughput, latency and memory of the real app beside a bare baseline.
 *
 * Starts a throwaway primary + streaming replica, seeds SEED_POSTS published posts, starts the app
 * (`bun --max-http-header-size=65536 src/index.ts`, production mode, request logging on) and the
 * bare baseline (scripts/bench-baseline.ts: Bun.serve + postgres-js running the same query on the
 * same node), then drives each pair over loopback with wrk:
 *   1. GET /health                         app vs bare
 *   2. GET /posts?limit=20 (replica)       app vs the same keyset query on the replica
 *   3. GET /posts/:id (replica)            app vs the same select by id
 *   4. GET /posts/:id signed in            app trusting the session cookie cache vs bare by id
 *   5. POST /posts signed in (primary)     app vs a bare insert ... returning *
 *   6. GET /profiles/:id                   the app's 304 (If-None-Match, src/plugins/http-cache.ts)
 *                                          vs its own 200, anonymous
 *   7. GET /bounties/:id signed in         the same, for the poster's draft (private, no-cache)
 *   8. GET /posts?limit=20                 app with WEB_CONCURRENCY=2 vs one process
 * and, with the app servers stopped, the ledger from this process (scripts/lib/ledger-bench.ts):
 *   7. ledger transfers                    post() between 100 funded wallets, 32 concurrent, in
 *                                          postings/s, vs a bare single-row UPDATE balance + $1;
 *                                          then the ledger's self-check (checkLedger) must be clean.
 * and, also from this process, browse and search of bounties (scripts/lib/search-bench.ts):
 *   8. search                             browseBounties (the code behind GET /search/bounties and
 *                                          GET /bounties) on a DatabaseSession reading the replica, at
 *                                          10,000 then 1,000,000 bounties seeded by generate_series:
 *                                          p50/p99 of browse (filters, each sort) and of full-text
 *                                          search (a rare and a common term), medians of 3 interleaved
 *                                          rounds of 100 calls, and the 1M/10k p99 ratio against the
 *                                          issue's 1.5x (reported, never a failure).
 * and, with two app processes of its own, real time (scripts/lib/realtime-bench.ts):
 *   9. realtime                           concurrent /ws/messages sockets on one instance (largest N
 *                                          that holds, RSS, CPU, memory per idle socket), fan-out
 *                                          latency of a message from POST on instance A to a socket on
 *                                          instance B at 1,000 sockets (p50/p95/p99), messages/s
 *                                          sustained and delivery loss.
 * Each pair runs ROUNDS interleaved rounds (app, bare, app, bare, ...), so drift on the machine
 * (thermal, page cache, autovacuum) hits both sides alike; the median of the rounds is reported.
 * Speed is judged only by the ratios to the baseline, never by timed assertions in tests, and a
 * missed target is reported, never a failure: the bench exits non-zero only when it cannot run
 * (or when the ledger check after the ledger scenario finds a mismatch: that is a broken ledger).
 *
 * Env: BENCH_DURATION_S (default 5, per run), BENCH_CONNECTIONS (default 20), BENCH_THREADS
 *      (wrk threads, default 1: on a 2-core machine wrk must leave the other core to the server),
 *      BENCH_LOG_LEVEL (the app's LOG_LEVEL, default info: one log line per request is part of the cost),
 *      BENCH_ONLY (`http`, `ledger`, `search` or `realtime`, comma-separated, default all; also `--only <group>`
 *      on the command line: `bun run bench --only ledger` and `--only search` need no wrk and start no app;
 *      `--only realtime` needs no wrk). REALTIME_MAX_SOCKETS (default 10000), REALTIME_FANOUT_MESSAGES
 *      (default 500), REALTIME_THROUGHPUT_S (default 10).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { parseConfig } from '../src/config/env';
import { applyMigrations, DatabaseCluster, selectRows, users } from '../src/db';
import { createLogger } from '../src/lib/logger';
import { type ClusterInfo, clusterDown, clusterUp, findPostgresBinDir } from './lib/pg-cluster';
import { freePort } from './lib/ports';
import { LEDGER_CONCURRENCY, LEDGER_WALLETS, LedgerBench, type LedgerVerification, type LoadResult, ledgerVerified } from './lib/ledger-bench';
import { printRealtimeTable, type RealtimeResult, runRealtimeBench } from './lib/realtime-bench';
import { printSearchTable, runSearchBench, type SizeResult } from './lib/search-bench';
import { findWrk, runWrk, type WrkRequest, type WrkResult, wrkVersion } from './lib/wrk';

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (Number.isInteger(value) && value >= 1) return value;
  // Read at load, before anything is started: nothing to clean up yet.
  console.error(`bench: ${name} must be a positive integer, got '${raw}'`);
  process.exit(1);
}

const GROUPS = ['http', 'ledger', 'search', 'realtime'] as const;
type Group = (typeof GROUPS)[number];
const isGroup = (value: string): value is Group => GROUPS.some((group) => group === value);

/** `--only <groups>` (or `--only=<groups>`), else BENCH_ONLY, else every group; comma-separated. */
function selectedGroups(): ReadonlySet<Group> {
  const args = process.argv.slice(2);
  let raw = process.env.BENCH_ONLY ?? '';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--only') {
      if (i + 1 >= args.length) {
        console.error(`bench: --only needs a value (${GROUPS.join(' or ')})`);
        process.exit(1);
      }
      raw = args[++i] ?? '';
    } else if (arg.startsWith('--only=')) raw = arg.slice('--only='.length);
    else {
      console.error(`bench: unknown argument '${arg}' (usage: bun run bench [--only ${GROUPS.join('|')}])`);
      process.exit(1);
    }
  }
  const names = raw.split(',').map((name) => name.trim()).filter(Boolean);
  if (names.length === 0) return new Set(GROUPS);
  const unknown = names.filter((name) => !isGroup(name));
  if (unknown.length > 0) {
    console.error(`bench: unknown scenario group '${unknown.join(', ')}' (known: ${GROUPS.join(', ')})`);
    process.exit(1);
  }
  return new Set(names.filter(isGroup));
}

const ONLY = selectedGroups();
const DURATION_S = positiveInt('BENCH_DURATION_S', 5);
const CONNECTIONS = positiveInt('BENCH_CONNECTIONS', 20);
const THREADS = positiveInt('BENCH_THREADS', 1);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'info';
const ROUNDS = 3;
/** Per side, before a scenario's rounds: JIT, pools and the replica's cache; not measured. */
const WARMUP_S = 1;
const SEED_POSTS = 10_000;
const SEED_CONTENT_CHARS = 400;
const AUTHOR_ID = 'bench-author';
const IDLE_RSS_TARGET_MB = 150;
/** The app's AUTH_COOKIE_CACHE_S default: a signed-in GET round must fit in one cache window. */
const COOKIE_CACHE_S = 60;
const STARTUP_TIMEOUT_MS = 30_000;
/** How long a WEB_CONCURRENCY parent gets to show its workers in /proc. */
const WORKERS_TIMEOUT_MS = 10_000;
/** Then this long for the last worker to finish starting, so its idle RSS is a started process's. */
const WORKER_SETTLE_MS = 2_000;
/** Above the app's SHUTDOWN_TIMEOUT_MS default (10 s) so a drain is not cut short. */
const STOP_TIMEOUT_MS = 15_000;
const REPLICA_CATCH_UP_MS = 60_000;
/** package.json's start script: the app refuses oversized headers itself, Bun must not first. */
const BUN_FLAGS = ['--max-http-header-size=65536'];
const ROOT = resolve(import.meta.dir, '..');
/** Random per run: production refuses the publicly known defaults. */
const AUTH_SECRET = randomBytes(32).toString('base64url');
/**
 * Production requires Stripe keys: well-formed throwaway ones, and an API base on a port nothing
 * listens on, so a job the app runs in the background can never reach the real Stripe API.
 */
const STRIPE_SECRET_KEY = `sk_test_bench${randomBytes(12).toString('hex')}`;
const STRIPE_WEBHOOK_SECRET = `whsec_bench${randomBytes(12).toString('hex')}`;
const PASSWORD = 'bench-password-123';
const NEW_POST = JSON.stringify({ title: 'bench', content: 'a post written by the benchmark', published: true });
/** A draft for the bounty scenario: only its poster sees it. */
const BENCH_DRAFT = {
  title: 'Benchmark the bounty page',
  description: 'A draft the benchmark reads back as its poster, with and without If-None-Match.',
  criteria: ['Read back as its poster'],
  reward: { amount: 5_000, currency: 'usd' },
  category: 'development',
  tags: ['bench'],
  remote: true,
  deadline: new Date(Date.now() + 10 * 86_400_000).toISOString(),
};

/** null: that ratio is reported, not judged. */
type Target = { minRpsRatio: number | null; maxP99Ratio: number | null };
const P99_RATIO_MAX = 1.5;

type Side = { label: string; request: () => Promise<WrkRequest> | WrkRequest; expectStatus: number };
type Scenario = { name: string; measured: Side; baseline: Side; target: Target; note?: string };
type Metrics = { rps: number; p50Ms: number; p99Ms: number; errors: number };
/** `note` says what a report-only row compares; printed under the table. */
type Outcome = { name: string; target: Target; note?: string; measured: Metrics; baseline: Metrics } | { name: string; skipped: string };

type Server = { name: string; proc: Subprocess; origin: string; logFile: string };

// Everything started is listed here, so cleanup (finally or Ctrl-C) can end it.
const servers: Server[] = [];
const wrkRuns = new Set<Subprocess>();
let clusterDir: string | null = null;
let logDir: string | null = null;
let interrupted = false;

// ---------------------------------------------------------------------------
// Processes and memory
// ---------------------------------------------------------------------------

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
}

/** Starts a server with stdout to a file: its request log is part of the cost, so it is written, not dropped. */
function spawnServer(name: string, script: string, port: number, env: Record<string, string>): Server {
  const logFile = join(logDir ?? tmpdir(), `${name.replace(/\W+/g, '-')}.log`);
  const proc = Bun.spawn([process.execPath, ...BUN_FLAGS, script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdin: 'ignore',
    stdout: Bun.file(logFile),
    stderr: 'inherit',
  });
  const server = { name, proc, origin: `http://127.0.0.1:${port}`, logFile };
  servers.push(server);
  return server;
}

async function waitUntilServing(server: Server): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.proc.exitCode !== null) {
      throw new Error(`${server.name} exited with code ${server.proc.exitCode} while starting; last log lines:\n${tail(server.logFile, 10)}`);
    }
    try {
      if ((await fetch(`${server.origin}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`${server.name} did not answer ${server.origin}/health within ${STARTUP_TIMEOUT_MS} ms; last log lines:\n${tail(server.logFile, 10)}`);
}

/** Child pids from /proc (…/task/<tid>/children), else pgrep -P. */
function childPids(pid: number): number[] {
  const taskDir = `/proc/${pid}/task`;
  try {
    const tids = readdirSync(taskDir);
    if (tids.length > 0 && existsSync(join(taskDir, tids[0] ?? '', 'children'))) {
      return tids.flatMap((tid) => readFileSync(join(taskDir, tid, 'children'), 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    return [];
  }
  const pgrep = Bun.spawnSync(['pgrep', '-P', String(pid)], { stdout: 'pipe', stderr: 'ignore' });
  return pgrep.stdout.toString().trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The process and all its descendants (WEB_CONCURRENCY workers are children of the first). */
function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...childPids(tree[i] ?? pid));
  return tree;
}

function rssMb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

const isAlive = (pid: number): boolean => existsSync(`/proc/${pid}`);

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // exited between the check and the signal
  }
}

async function stopServer(server: Server): Promise<void> {
  // Listed before the parent goes: once it exits, its workers are no longer findable as its children.
  const descendants = server.proc.exitCode === null ? processTree(server.proc.pid).slice(1) : [];
  server.proc.kill('SIGTERM');
  const stopped = await Promise.race([server.proc.exited.then(() => true), Bun.sleep(STOP_TIMEOUT_MS).then(() => false)]);
  if (!stopped) {
    server.proc.kill('SIGKILL');
    await server.proc.exited;
  }
  for (const pid of descendants.filter(isAlive)) signalPid(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (descendants.some(isAlive) && Date.now() < deadline) await Bun.sleep(100);
  for (const pid of descendants.filter(isAlive)) signalPid(pid, 'SIGKILL');
}

let cleanupOnce: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleanupOnce ??= (async () => {
    for (const proc of wrkRuns) proc.kill('SIGKILL');
    await Promise.allSettled(servers.map(stopServer));
    if (clusterDir) await clusterDown({ dir: clusterDir, destroy: true });
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  })();
  return cleanupOnce;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench: ${signal}, stopping servers and the cluster`);
    void cleanup()
      .catch((error: unknown) => console.error(`bench: cleanup failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

/** name=value pairs from Set-Cookie, later ones replacing earlier (refreshed cookie cache). */
class CookieJar {
  private readonly values = new Map<string, string>();
  absorb(response: Response): void {
    for (const cookie of response.headers.getSetCookie()) {
      const pair = cookie.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq > 0) this.values.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  names(): string[] {
    return [...this.values.keys()];
  }
  header(): string {
    return [...this.values].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

async function signUp(origin: string): Promise<CookieJar> {
  const response = await fetch(`${origin}/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `bench-${Date.now()}@example.com`, password: PASSWORD, name: 'Bench' }),
  });
  if (response.status !== 201) throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
  const jar = new CookieJar();
  jar.absorb(response);
  return jar;
}

/**
 * A fresh cookie-cache cookie, as a client gets one: Better-Auth's get-session reads the session
 * from the database and sets a new cache, so the round that follows runs inside the cache window
 * instead of straddling its expiry (wrk replays one fixed Cookie header and stores nothing).
 */
async function refreshSession(origin: string, jar: CookieJar): Promise<void> {
  const response = await fetch(`${origin}/api/auth/get-session`, { headers: { cookie: jar.header() } });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`the bench session is not signed in: GET /api/auth/get-session answered ${response.status}`);
  jar.absorb(response);
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

async function load(wrk: string, side: Side, durationS: number): Promise<WrkResult> {
  try {
    return await runWrk(wrk, await side.request(), { durationS, connections: CONNECTIONS, threads: THREADS, track: wrkRuns });
  } catch (error) {
    // A server that died under load is the story, not wrk's refused connections: say which, with its last log lines.
    const dead = servers.filter((server) => server.proc.exitCode !== null || server.proc.signalCode !== null);
    if (dead.length === 0) throw error;
    const detail = dead.map((server) => `${server.name} exited (${server.proc.signalCode ?? `code ${server.proc.exitCode}`}); last log lines:\n${tail(server.logFile, 10)}`);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${detail.join('\n')}`);
  }
}

/** One request before any load: a wrong status here would make every number meaningless. */
async function checkSide(side: Side): Promise<void> {
  const request = await side.request();
  const response = await fetch(request.url, { method: request.method ?? 'GET', headers: request.headers, body: request.body });
  const body = await response.text();
  if (response.status !== side.expectStatus) {
    throw new Error(`${side.label}: ${request.method ?? 'GET'} ${request.url} answered ${response.status}, expected ${side.expectStatus}: ${body.slice(0, 300)}`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const medianOf = (rounds: Metrics[]): Metrics => ({
  rps: median(rounds.map((r) => r.rps)),
  p50Ms: median(rounds.map((r) => r.p50Ms)),
  p99Ms: median(rounds.map((r) => r.p99Ms)),
  errors: rounds.reduce((sum, r) => sum + r.errors, 0),
});

const fmtRps = (rps: number): string => rps.toFixed(0);
const fmtMs = (ms: number): string => `${ms.toFixed(2)} ms`;
const fmtRatio = (ratio: number): string => (Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a');

function describe(label: string, r: Metrics, unit = 'req/s'): string {
  const errors = r.errors > 0 ? `  ERRORS ${r.errors}` : '';
  return `${label.padEnd(24)} ${fmtRps(r.rps).padStart(7)} ${unit}  p50 ${fmtMs(r.p50Ms).padStart(9)}  p99 ${fmtMs(r.p99Ms).padStart(9)}${errors}`;
}

async function measure(wrk: string, scenario: Scenario, index: number, total: number): Promise<Outcome> {
  console.log(`\n[${index}/${total}] ${scenario.name}`);
  const sides = [scenario.measured, scenario.baseline];
  for (const side of sides) await checkSide(side);
  for (const side of sides) await load(wrk, side, WARMUP_S);
  const rounds: [WrkResult[], WrkResult[]] = [[], []];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, side] of sides.entries()) {
      const result = await load(wrk, side, DURATION_S);
      rounds[i === 0 ? 0 : 1].push(result);
      console.log(`  round ${round}  ${describe(side.label, result)}`);
    }
  }
  const measured = medianOf(rounds[0]);
  const baseline = medianOf(rounds[1]);
  console.log(`  median   ${describe(scenario.measured.label, measured)}`);
  console.log(`  median   ${describe(scenario.baseline.label, baseline)}`);
  console.log(`  ratio    req/s ${fmtRatio(measured.rps / baseline.rps)}  p50 ${fmtRatio(measured.p50Ms / baseline.p50Ms)}  p99 ${fmtRatio(measured.p99Ms / baseline.p99Ms)}`);
  return { name: scenario.name, target: scenario.target, note: scenario.note, measured, baseline };
}

const LEDGER_NAME = `ledger transfers, ${LEDGER_CONCURRENCY} concurrent`;

/**
 * The ledger pair, like `measure` but driven from this process (see scripts/lib/ledger-bench.ts):
 * postings/s of post() in a transaction vs single-row UPDATEs/s, then the ledger's self-check.
 */
async function measureLedger(bench: LedgerBench, index: number, total: number): Promise<{ outcome: Outcome; verification: LedgerVerification }> {
  console.log(`\n[${index}/${total}] ${LEDGER_NAME}`);
  const sides: Array<{ label: string; unit: string; run: (durationS: number) => Promise<LoadResult> }> = [
    { label: 'ledger post()', unit: 'postings/s', run: (durationS) => bench.runLedger(durationS) },
    { label: 'bare UPDATE', unit: 'updates/s ', run: (durationS) => bench.runBaseline(durationS) },
  ];
  const reportErrors = (label: string, result: LoadResult): void => {
    if (result.firstError !== null) console.log(`           ${label}: ${result.errors} failed, first: ${result.firstError}`);
  };
  for (const side of sides) reportErrors(`${side.label} warm-up`, await side.run(WARMUP_S));
  const rounds: [LoadResult[], LoadResult[]] = [[], []];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, side] of sides.entries()) {
      const result = await side.run(DURATION_S);
      rounds[i === 0 ? 0 : 1].push(result);
      console.log(`  round ${round}  ${describe(side.label, result, side.unit)}`);
      reportErrors(side.label, result);
    }
  }
  const measured = medianOf(rounds[0]);
  const baseline = medianOf(rounds[1]);
  console.log(`  median   ${describe(sides[0]?.label ?? '', measured, sides[0]?.unit)}`);
  console.log(`  median   ${describe(sides[1]?.label ?? '', baseline, sides[1]?.unit)}`);
  console.log(`  ratio    postings/s per update/s ${fmtRatio(measured.rps / baseline.rps)}  p50 ${fmtRatio(measured.p50Ms / baseline.p50Ms)}  p99 ${fmtRatio(measured.p99Ms / baseline.p99Ms)}`);
  const verification = await bench.verify();
  console.log(`  ${describeVerification(verification)}`);
  return {
    outcome: {
      name: LEDGER_NAME,
      target: { minRpsRatio: null, maxP99Ratio: null },
      note:
        `"app" is postings/s of post() (2 legs, ${LEDGER_WALLETS} wallets) in the service's transaction path, ` +
        `"bare" single-row UPDATEs/s on a plain ${LEDGER_WALLETS}-row table; latencies per operation`,
      measured,
      baseline,
    },
    verification,
  };
}

function describeVerification(v: LedgerVerification): string {
  const { balanceMismatches, unbalancedTransactions } = v.check;
  const status = ledgerVerified(v) ? 'ok' : 'FAILED';
  return (
    `ledger check: ${status}: checkLedger ${balanceMismatches.length} balance mismatch(es), ${unbalancedTransactions.length} unbalanced transaction(s); ` +
    `${v.stored} transfers stored / ${v.counted} counted committed; wallet total ${v.walletTotal} (expected ${v.expectedWalletTotal})`
  );
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT MET');

function printTable(outcomes: Outcome[]): void {
  const header = ['scenario', 'app req/s', 'bare req/s', 'ratio', 'target', 'app p99', 'bare p99', 'p99 ratio', 'target'];
  const rows: string[][] = outcomes.map((outcome) => {
    if ('skipped' in outcome) return [outcome.name, 'skipped', '', '', '', '', '', '', ''];
    const { measured, baseline, target } = outcome;
    const rpsRatio = measured.rps / baseline.rps;
    const p99Ratio = measured.p99Ms / baseline.p99Ms;
    return [
      outcome.name + (measured.errors + baseline.errors > 0 ? ' (!)' : ''),
      fmtRps(measured.rps),
      fmtRps(baseline.rps),
      fmtRatio(rpsRatio),
      target.minRpsRatio === null ? 'report only' : `>= ${target.minRpsRatio} ${verdict(rpsRatio >= target.minRpsRatio)}`,
      fmtMs(measured.p99Ms),
      fmtMs(baseline.p99Ms),
      fmtRatio(p99Ratio),
      target.maxP99Ratio === null ? 'report only' : `<= ${target.maxP99Ratio} ${verdict(p99Ratio <= target.maxP99Ratio)}`,
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  console.log(`\n${line(header)}`);
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
  for (const outcome of outcomes) if ('skipped' in outcome) console.log(`  ${outcome.name}: skipped, ${outcome.skipped}`);
  for (const outcome of outcomes) if (!('skipped' in outcome) && outcome.note) console.log(`  ${outcome.name}: ${outcome.note}`);
  if (outcomes.some((o) => !('skipped' in o) && o.measured.errors + o.baseline.errors > 0)) {
    console.log('  (!) some operations failed (HTTP >= 400, socket errors, failed postings or updates): see the rounds above');
  }
}

type MemoryReading = { label: string; pids: number[]; idle: Map<number, number | null> };

function readMemory(label: string, rootPid: number): MemoryReading {
  const pids = processTree(rootPid);
  return { label, pids, idle: new Map(pids.map((pid) => [pid, rssMb(pid)])) };
}

function printMemory(readings: MemoryReading[]): void {
  const mb = (value: number | null | undefined): string => (value === null || value === undefined ? 'gone' : `${value.toFixed(1)} MB`);
  console.log(`\nmemory (VmRSS; target idle < ${IDLE_RSS_TARGET_MB} MB per app process)`);
  for (const reading of readings) {
    let idleSum = 0;
    let afterSum = 0;
    for (const [index, pid] of reading.pids.entries()) {
      const idle = reading.idle.get(pid) ?? null;
      // The first of several is the WEB_CONCURRENCY supervisor; the rest are its server processes.
      const role = reading.pids.length === 1 ? '' : index === 0 ? ' parent' : ' child';
      const after = rssMb(pid);
      idleSum += idle ?? 0;
      afterSum += after ?? 0;
      const target = reading.label.startsWith('bare') || idle === null ? '' : `  idle target ${verdict(idle < IDLE_RSS_TARGET_MB)}`;
      console.log(`  ${`${reading.label}${role}`.padEnd(32)} pid ${String(pid).padStart(7)}  idle ${mb(idle).padStart(9)}  after load ${mb(after).padStart(9)}${target}`);
    }
    if (reading.pids.length > 1) console.log(`  ${`${reading.label} total`.padEnd(32)} ${' '.repeat(11)}  idle ${mb(idleSum).padStart(9)}  after load ${mb(afterSum).padStart(9)}`);
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const postIdRow = z.object({ id: z.string() });

/** Migrates the primary; for the HTTP scenarios also seeds the posts, waits for the replica and returns a post id. */
async function prepareDatabase(cluster: ClusterInfo, seedPosts: boolean): Promise<string | null> {
  const replicaUrl = cluster.replicaUrls[0] ?? '';
  const config = parseConfig({ DATABASE_URL: cluster.databaseUrl, DATABASE_REPLICA_URLS: replicaUrl });
  const database = await DatabaseCluster.open(config.database, createLogger({ level: 'error' }));
  let postId: string;
  try {
    await applyMigrations(database.primary);
    if (!seedPosts) return null;
    await database.primary.insert(users).values({ id: AUTHOR_ID, name: 'Bench Author', email: 'bench-author@example.com' });
    // One statement for all rows; distinct created_at so the keyset order is the index's, not ties.
    await database.primary.execute(sql`
      insert into posts (author_id, title, content, published, created_at, updated_at)
      select ${AUTHOR_ID}, 'Post ' || i, repeat('x', ${SEED_CONTENT_CHARS}), true,
             now() - make_interval(secs => i), now() - make_interval(secs => i)
      from generate_series(1, ${SEED_POSTS}) as i`);
    // Fresh statistics, so the first queries already get the keyset index plan.
    await database.primary.execute(sql`analyze posts`);
    const [middle] = await selectRows(
      database.primary,
      sql`select id from posts where published order by created_at desc, id desc offset ${Math.floor(SEED_POSTS / 2)} limit 1`,
      postIdRow,
    );
    if (!middle) throw new Error('seeding left no published post');
    postId = middle.id;
    const lsn = await database.currentWalInsertLsn();
    if (lsn !== null) {
      const { pending } = await database.waitForReplicas(lsn, REPLICA_CATCH_UP_MS);
      if (pending.length > 0) throw new Error(`replica did not replay the seed within ${REPLICA_CATCH_UP_MS} ms`);
    }
  } finally {
    await database.close();
  }
  console.log(`bench: seeded ${SEED_POSTS} published posts, replica caught up`);
  return postId;
}

/** Scenarios 1-8: the app and the bare server under wrk; then their memory, then both stopped. */
async function httpScenarios(wrk: string, cluster: ClusterInfo, postId: string, outcomes: Outcome[], total: number): Promise<void> {
  const replicaUrl = cluster.replicaUrls[0] ?? '';

  const [appPort, barePort, app2Port, stripePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const appEnv = (port: number, workers: number): Record<string, string> => ({
    NODE_ENV: 'production',
    LOG_LEVEL,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: cluster.databaseUrl,
    DATABASE_REPLICA_URLS: replicaUrl,
    BETTER_AUTH_SECRET: AUTH_SECRET,
    BETTER_AUTH_URL: `http://127.0.0.1:${port}`,
    WEB_CONCURRENCY: String(workers),
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
    STRIPE_CONNECT_WEBHOOK_SECRET: STRIPE_WEBHOOK_SECRET,
    STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`,
    // Production requires a mail server: the same dead port, so no mail or push leaves the machine.
    SMTP_URL: `smtp://127.0.0.1:${stripePort}`,
    EXPO_BASE_URL: `http://127.0.0.1:${stripePort}`,
    // wrk is one client address: the per-IP limit would answer it 429 within a second.
    RATE_LIMITS_ENABLED: 'false',
  });
  const app = spawnServer('app', 'src/index.ts', appPort, appEnv(appPort, 1));
  const bare = spawnServer('bare', 'scripts/bench-baseline.ts', barePort, {
    BENCH_PORT: String(barePort),
    BENCH_PRIMARY_URL: cluster.databaseUrl,
    BENCH_REPLICA_URL: replicaUrl,
    BENCH_AUTHOR_ID: AUTHOR_ID,
  });
  await Promise.all([waitUntilServing(app), waitUntilServing(bare)]);
  const memory = [readMemory('app (1 process)', app.proc.pid), readMemory('bare baseline', bare.proc.pid)];

  console.log(
    `bench: generator ${wrkVersion(wrk)}, ${THREADS} thread(s), ${CONNECTIONS} connections, ${DURATION_S} s per run ` +
      `(+${WARMUP_S} s warm-up per side), ${ROUNDS} interleaved rounds, median reported; app LOG_LEVEL=${LOG_LEVEL}, ` +
      `stdout to a file; loopback, 1 primary + 1 replica`,
  );
  if (ROUNDS * DURATION_S >= COOKIE_CACHE_S) console.log(`bench: note: a signed-in round longer than the ${COOKIE_CACHE_S} s cookie cache reads sessions from the database part of the time`);

  const get = (origin: string, path: string, headers?: Record<string, string>) => (): WrkRequest => ({ url: `${origin}${path}`, headers });
  const side = (label: string, request: Side['request'], expectStatus = 200): Side => ({ label, request, expectStatus });

  outcomes.push(await measure(wrk, {
    name: 'GET /health',
    measured: side('app', get(app.origin, '/health')),
    baseline: side('bare', get(bare.origin, '/health')),
    target: { minRpsRatio: 0.85, maxP99Ratio: P99_RATIO_MAX },
  }, 1, total));

  outcomes.push(await measure(wrk, {
    name: 'GET /posts?limit=20',
    measured: side('app', get(app.origin, '/posts?limit=20')),
    baseline: side('bare', get(bare.origin, '/posts?limit=20')),
    target: { minRpsRatio: 0.8, maxP99Ratio: P99_RATIO_MAX },
  }, 2, total));

  outcomes.push(await measure(wrk, {
    name: 'GET /posts/:id',
    measured: side('app', get(app.origin, `/posts/${postId}`)),
    baseline: side('bare', get(bare.origin, `/posts/${postId}`)),
    target: { minRpsRatio: 0.8, maxP99Ratio: P99_RATIO_MAX },
  }, 3, total));

  // One sign-up for the whole bench: the route allows 3 per 10 s per IP.
  const jar = await signUp(app.origin);
  console.log(`\nbench: signed up once; session cookies: ${jar.names().join(', ')}`);
  const signedIn = async (): Promise<WrkRequest> => {
    await refreshSession(app.origin, jar);
    return { url: `${app.origin}/posts/${postId}`, headers: { cookie: jar.header() } };
  };
  outcomes.push(await measure(wrk, {
    name: 'GET /posts/:id signed in',
    measured: side('app (cookie cache)', signedIn),
    baseline: side('bare', get(bare.origin, `/posts/${postId}`)),
    target: { minRpsRatio: 0.7, maxP99Ratio: P99_RATIO_MAX },
  }, 4, total));

  const post = (origin: string, cookie?: string) => (): WrkRequest => ({
    url: `${origin}/posts`,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: NEW_POST,
  });
  outcomes.push(await measure(wrk, {
    name: 'POST /posts signed in',
    measured: side('app', post(app.origin, jar.header()), 201),
    baseline: side('bare', post(bare.origin), 201),
    target: { minRpsRatio: 0.6, maxP99Ratio: P99_RATIO_MAX },
  }, 5, total));

  // HTTP caching: the 304 path beside the 200 (no bare equivalent of a profile's statistics).
  // The handler runs in full for both; a 304 saves the body's transfer and the client's parsing.
  const withEtag = async (request: WrkRequest): Promise<WrkRequest> => {
    const response = await fetch(request.url, { headers: request.headers });
    await response.arrayBuffer();
    const etag = response.headers.get('etag');
    if (response.status !== 200 || etag === null) throw new Error(`${request.url}: expected a 200 with an ETag, got ${response.status}`);
    return { ...request, headers: { ...request.headers, 'if-none-match': etag } };
  };
  const profile = get(app.origin, `/profiles/${AUTHOR_ID}`);
  outcomes.push(await measure(wrk, {
    name: 'GET /profiles/:id, 304 vs 200',
    measured: side('app 304', () => withEtag(profile()), 304),
    baseline: side('app 200', profile),
    target: { minRpsRatio: null, maxP99Ratio: null },
    note: 'report only: the app against itself, "app" answers If-None-Match with 304, "bare" the same GET without it (200)',
  }, 6, total));

  const draft = await fetch(`${app.origin}/bounties`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: jar.header() },
    body: JSON.stringify(BENCH_DRAFT),
  });
  if (draft.status !== 201) throw new Error(`the bench draft was refused: ${draft.status} ${await draft.text()}`);
  // Its read-your-writes token: the draft's first read must not reach a replica that lacks it.
  jar.absorb(draft);
  const draftId = z.object({ data: z.object({ id: z.string() }) }).parse(await draft.json()).data.id;
  const ownBounty = async (): Promise<WrkRequest> => {
    await refreshSession(app.origin, jar);
    return { url: `${app.origin}/bounties/${draftId}`, headers: { cookie: jar.header() } };
  };
  outcomes.push(await measure(wrk, {
    name: 'GET /bounties/:id signed in, 304 vs 200',
    measured: side('app 304 (cookie cache)', async () => withEtag(await ownBounty()), 304),
    baseline: side('app 200 (cookie cache)', ownBounty),
    target: { minRpsRatio: null, maxP99Ratio: null },
    note: "report only: the poster's draft, \"app\" with If-None-Match (304), \"bare\" without (200)",
  }, 7, total));

  // Started only now, so its workers do not compete with scenarios 1-5 for the two cores.
  const scaledName = 'GET /posts?limit=20, 2 vs 1 process';
  const app2 = spawnServer('app WEB_CONCURRENCY=2', 'src/index.ts', app2Port, appEnv(app2Port, 2));
  let scaledProblem: string | null = null;
  try {
    await waitUntilServing(app2);
    const deadline = Date.now() + WORKERS_TIMEOUT_MS;
    while (processTree(app2.proc.pid).length < 2 && Date.now() < deadline) await Bun.sleep(100);
    if (processTree(app2.proc.pid).length < 2) scaledProblem = 'WEB_CONCURRENCY=2 started a single process (not implemented yet?)';
    // /health answers as soon as one worker listens; the others may still be loading modules.
    else await Bun.sleep(WORKER_SETTLE_MS);
  } catch (error) {
    scaledProblem = `WEB_CONCURRENCY=2 failed to start: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (scaledProblem === null) {
    memory.push(readMemory('app (WEB_CONCURRENCY=2)', app2.proc.pid));
    outcomes.push(await measure(wrk, {
      name: scaledName,
      measured: side('app, 2 processes', get(app2.origin, '/posts?limit=20')),
      baseline: side('app, 1 process', get(app.origin, '/posts?limit=20')),
      target: { minRpsRatio: null, maxP99Ratio: P99_RATIO_MAX },
      note: 'report only: the app against itself, "app" is WEB_CONCURRENCY=2, "bare" one app process (ratio 2/1)',
    }, 8, total));
  } else {
    console.log(`\n[8/${total}] ${scaledName}: skipped: ${scaledProblem}`);
    await stopServer(app2);
    outcomes.push({ name: scaledName, skipped: scaledProblem });
  }

  printMemory(memory);
  // Stopped before the ledger scenario: the app's own jobs (pg-boss workers, its ledger check) must not run beside it.
  const running = servers.splice(0);
  await Promise.all(running.map(stopServer));
}

async function main(): Promise<void> {
  const runHttp = ONLY.has('http');
  const runLedger = ONLY.has('ledger');
  const runSearch = ONLY.has('search');
  const runRealtime = ONLY.has('realtime');
  const wrk = runHttp ? findWrk() : null;
  if (runHttp && !wrk) throw new Error('wrk is not installed (the load generator of this bench): install it, e.g. `apt-get install wrk`, or run `bun run bench --only ledger,search`');
  if (!findPostgresBinDir()) throw new Error('PostgreSQL server binaries not found (install postgresql or set PG_BIN_DIR)');
  if (runHttp && THREADS > CONNECTIONS) throw new Error(`BENCH_THREADS (${THREADS}) must not exceed BENCH_CONNECTIONS (${CONNECTIONS})`);
  clusterDir = mkdtempSync(join(tmpdir(), 'bx-bench-'));
  logDir = mkdtempSync(join(tmpdir(), 'bx-bench-logs-'));

  console.log(`bench: scenario groups: ${[...ONLY].join(', ')}; starting a primary + streaming replica`);
  const cluster = await clusterUp({ dir: clusterDir, primaryPort: await freePort(), replicaPort: await freePort() });
  const postId = await prepareDatabase(cluster, runHttp);
  const total = (runHttp ? 8 : 0) + (runLedger ? 1 : 0);
  const outcomes: Outcome[] = [];
  if (wrk !== null && postId !== null) await httpScenarios(wrk, cluster, postId, outcomes, total);

  let verification: LedgerVerification | null = null;
  if (runLedger) {
    console.log(`\nbench: ledger: funding ${LEDGER_WALLETS} wallets (bench-wallet-<n>) through creditFromStripe, one transaction each`);
    const bench = await LedgerBench.open(cluster.databaseUrl);
    try {
      console.log(
        `bench: ledger: ${LEDGER_CONCURRENCY} workers in this process; "ledger" is runTransaction + post() on a DatabaseCluster ` +
          `(primary pool ${bench.poolMax}), "bare" postgres-js (max ${LEDGER_CONCURRENCY}) autocommitted single-row UPDATEs; ` +
          `${DURATION_S} s per run (+${WARMUP_S} s warm-up per side), ${ROUNDS} interleaved rounds, median reported; ` +
          'throwaway cluster: fsync and synchronous_commit off, so commits cost no flush on either side',
      );
      const result = await measureLedger(bench, total, total);
      outcomes.push(result.outcome);
      verification = result.verification;
    } finally {
      await bench.close();
    }
  }

  let search: SizeResult[] = [];
  if (runSearch) {
    console.log('\nbench: search: browseBounties on a DatabaseSession (replica reads), one call at a time, from this process');
    search = await runSearchBench(cluster.databaseUrl, cluster.replicaUrls[0] ?? '');
  }

  let realtime: RealtimeResult | null = null;
  if (runRealtime) {
    console.log('\nbench: realtime: two app processes (A, B), sockets and senders from this process');
    const stripePort = await freePort();
    realtime = await runRealtimeBench({
      databaseUrl: cluster.databaseUrl,
      replicaUrl: cluster.replicaUrls[0] ?? '',
      appEnv: (port) => ({
        NODE_ENV: 'production',
        LOG_LEVEL,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: cluster.databaseUrl,
        DATABASE_REPLICA_URLS: cluster.replicaUrls[0] ?? '',
        BETTER_AUTH_SECRET: AUTH_SECRET,
        BETTER_AUTH_URL: `http://127.0.0.1:${port}`,
        STRIPE_SECRET_KEY,
        STRIPE_WEBHOOK_SECRET,
        STRIPE_CONNECT_WEBHOOK_SECRET: STRIPE_WEBHOOK_SECRET,
        STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`,
        // Nothing listens there: with the workers off no mail is sent, and none must leave the machine.
        SMTP_URL: `smtp://127.0.0.1:${stripePort}`,
        EXPO_BASE_URL: `http://127.0.0.1:${stripePort}`,
        WORKER_ENABLED: 'false',
        // The bench signs people up and in with distinct X-Forwarded-For addresses.
        TRUSTED_PROXIES: '127.0.0.1',
        // 10,000 sockets over 50 owners: 200 each.
        WS_MAX_SOCKETS_PER_USER: '250',
      }),
      spawn: spawnServer,
      waitUntilServing,
      stop: stopServer,
      freePort,
      rssMb,
      seedPassword: PASSWORD,
    });
  }

  if (outcomes.length > 0) printTable(outcomes);
  const [small, large] = search;
  if (small && large) printSearchTable(small, large);
  if (realtime !== null) printRealtimeTable(realtime);
  if (verification !== null) {
    console.log(`  ${describeVerification(verification)}`);
    if (!ledgerVerified(verification)) throw new Error('the ledger does not check out after the ledger scenario (see above): a correctness failure, not a slow run');
  }
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  if (!interrupted) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = 1;
  }
} finally {
  try {
    await cleanup();
  } catch (error) {
    console.error(`bench: cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = 1;
  }
}
// Explicit: a stray handle (a pool, a timer) must not keep a finished bench alive.
if (!interrupted) process.exit(exitCode);
