/**
 * Local PostgreSQL primary + streaming-replica cluster for development and the
 * test suite. Used by `bun run db:cluster` (scripts/db-cluster.ts) and by tests
 * that need a real replica (read routing, replica lag, failover).
 *
 * Layout of a cluster dir:
 *   <dir>/primary/        primary data dir (initdb)
 *   <dir>/replica/        replica data dir (pg_basebackup -R)
 *   <dir>/primary.log     server logs (outside the data dirs so base backups skip them)
 *   <dir>/replica.log
 *   <dir>/cluster.json    ports + replica name, so status/down need no flags
 *   <dir>/.s.PGSQL.<port> unix sockets
 *
 * This is a throwaway dev/test cluster: durability is traded for speed.
 */
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { formatLsn, parseLsn, readYourWritesLsn } from '../../src/db/lsn';
import { basename, dirname, join, resolve } from 'node:path';

export interface ClusterOptions {
  dir: string;
  primaryPort: number;
  replicaPort: number;
  /** Shown as application_name in the primary's pg_stat_replication. Default 'replica1'. */
  replicaName?: string;
}

export interface ClusterInfo {
  dir: string;
  primaryPort: number;
  replicaPort: number;
  primaryDataDir: string;
  replicaDataDir: string;
  databaseUrl: string;
  replicaUrls: string[];
}

export interface NodeStatus {
  dataDir: string;
  /** Data dir has been initialised (PG_VERSION exists). */
  initialized: boolean;
  running: boolean;
  port: number | null;
}

export interface ReplicaNodeStatus extends NodeStatus {
  /** pg_is_in_recovery(); null when the replica is not running/reachable. */
  inRecovery: boolean | null;
  /** WAL receiver is in 'streaming' state; null when not running/reachable. */
  streaming: boolean | null;
}

export interface ClusterStatus {
  dir: string;
  exists: boolean;
  replicaName: string | null;
  primary: NodeStatus;
  replica: ReplicaNodeStatus;
}

export type StopMode = 'fast' | 'immediate';

export const DATABASE_NAME = 'bountyexpo';
export const DEFAULT_REPLICA_NAME = 'replica1';
const SUPERUSER = 'postgres';
const OS_USER = 'postgres';
const PRIMARY_SUBDIR = 'primary';
const REPLICA_SUBDIR = 'replica';
const META_FILE = 'cluster.json';

interface ClusterMeta {
  primaryPort: number;
  replicaPort: number;
  replicaName: string;
}

// ---------------------------------------------------------------------------
// Binary discovery
// ---------------------------------------------------------------------------

function hasInitdb(dir: string): boolean {
  return existsSync(join(dir, 'initdb'));
}

/** Numeric-aware compare so /usr/lib/postgresql/16 sorts after 9.6. */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Number.isNaN(d) ? a.localeCompare(b) : d;
  }
  return 0;
}

/**
 * Directory containing initdb/pg_ctl/postgres: PG_BIN_DIR, else newest
 * /usr/lib/postgresql/<v>/bin, else `pg_config --bindir`, else PATH.
 */
export function findPostgresBinDir(): string | null {
  const fromEnv = process.env.PG_BIN_DIR;
  if (fromEnv) return hasInitdb(fromEnv) ? resolve(fromEnv) : null;

  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => hasInitdb(join(debianRoot, v, 'bin')))
      .sort(compareVersions);
    const newest = versions[versions.length - 1];
    if (newest !== undefined) return join(debianRoot, newest, 'bin');
  }

  const pgConfig = Bun.which('pg_config');
  if (pgConfig) {
    try {
      const res = Bun.spawnSync([pgConfig, '--bindir'], { stdout: 'pipe', stderr: 'pipe' });
      const bindir = res.stdout.toString().trim();
      if (res.exitCode === 0 && bindir && hasInitdb(bindir)) return bindir;
    } catch {
      // fall through to PATH
    }
  }

  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && hasInitdb(dir)) return resolve(dir);
  }
  return null;
}

function requireBinDir(): string {
  const dir = findPostgresBinDir();
  if (!dir) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl) not found: set PG_BIN_DIR or install PostgreSQL server packages',
    );
  }
  return dir;
}

function bin(name: string): string {
  return join(requireBinDir(), name);
}

// ---------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** PostgreSQL refuses to run as root, so server binaries run as the postgres OS user. */
function asServerUser(cmd: string[]): string[] {
  if (!isRoot()) return cmd;
  const runuser = Bun.which('runuser');
  if (runuser) return [runuser, '-u', OS_USER, '--', ...cmd];
  const su = Bun.which('su') ?? 'su';
  return [su, '-s', '/bin/sh', '-c', cmd.map(shellQuote).join(' '), OS_USER];
}

interface RunOptions {
  /** Run as the postgres OS user when we are root. */
  serverUser?: boolean;
  cwd?: string;
  timeoutMs?: number;
  /** Return the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  /** Extra text for the error message (e.g. tail of a server log). */
  onFailureHint?: () => string;
}

interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function tailLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

// Deterministic, English messages from child tools; strip libpq env that could redirect connections.
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('PG')) continue;
    env[k] = v;
  }
  env.LC_ALL = 'C';
  env.LANG = 'C';
  return env;
}

async function run(cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = opts.serverUser ? asServerUser(cmd) : cmd;
  const label = cmd.map((c, i) => (i === 0 ? basename(c) : c)).join(' ');
  let proc: ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>;
  try {
    proc = Bun.spawn(full, {
      cwd: opts.cwd,
      env: childEnv(),
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    });
  } catch (err) {
    throw new Error(`${label}: could not start (${err instanceof Error ? err.message : String(err)})`);
  }
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          proc.kill('SIGKILL');
        }, opts.timeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (timer) clearTimeout(timer);
  if (timedOut) throw new Error(`${label}: timed out after ${opts.timeoutMs}ms`);
  if (exitCode !== 0 && !opts.allowFailure) {
    const detail = tailLines(stderr || stdout, 5);
    const hint = opts.onFailureHint?.() ?? '';
    throw new Error(
      `${label} failed (exit ${exitCode})${detail ? `:\n${detail}` : ''}${hint ? `\n${hint}` : ''}`,
    );
  }
  return { exitCode, stdout, stderr };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// SQL helpers (psql over TCP; trust auth, so no password handling)
// ---------------------------------------------------------------------------

/** Run SQL with psql and return unaligned, tuples-only output (trimmed). */
export async function psqlQuery(port: number, sql: string, database = 'postgres'): Promise<string> {
  const res = await run(
    [
      bin('psql'),
      '-X',
      '-q',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      SUPERUSER,
      '-d',
      database,
      '-c',
      sql,
    ],
    { timeoutMs: 30_000 },
  );
  return res.stdout.trim();
}

/** Like psqlQuery, but null instead of throwing (node down, still starting...). */
async function tryQuery(port: number, sql: string): Promise<string | null> {
  try {
    return await psqlQuery(port, sql);
  } catch {
    return null;
  }
}

function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

// ---------------------------------------------------------------------------
// Filesystem / ownership
// ---------------------------------------------------------------------------

interface OsUser {
  uid: number;
  gids: number[];
}

function lookupServerUser(): OsUser {
  const uid = Bun.spawnSync(['id', '-u', OS_USER], { stdout: 'pipe', stderr: 'pipe' });
  const gids = Bun.spawnSync(['id', '-G', OS_USER], { stdout: 'pipe', stderr: 'pipe' });
  if (uid.exitCode !== 0 || gids.exitCode !== 0) {
    throw new Error(`running as root but OS user '${OS_USER}' does not exist (PostgreSQL cannot run as root)`);
  }
  return {
    uid: Number(uid.stdout.toString().trim()),
    gids: gids.stdout.toString().trim().split(/\s+/).map(Number),
  };
}

function canTraverse(path: string, user: OsUser): boolean {
  const st = statSync(path);
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (user.gids.includes(st.gid)) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** Create the cluster dir; as root, hand it to postgres and check it is reachable. */
function prepareClusterDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (!isRoot()) return;
  const user = lookupServerUser();
  for (let p = dirname(dir); ; p = dirname(p)) {
    if (!canTraverse(p, user)) {
      throw new Error(
        `OS user '${OS_USER}' cannot traverse ${p} (needed to reach ${dir}); chmod o+x it or choose another DATA_DIR`,
      );
    }
    if (p === dirname(p)) break;
  }
  const st = statSync(dir);
  if (st.uid !== user.uid) chownSync(dir, user.uid, user.gids[0] ?? st.gid);
}

function readMeta(dir: string): ClusterMeta | null {
  const file = join(dir, META_FILE);
  if (!existsSync(file)) return null;
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.primaryPort !== 'number' || typeof r.replicaPort !== 'number' || typeof r.replicaName !== 'string') {
    return null;
  }
  return { primaryPort: r.primaryPort, replicaPort: r.replicaPort, replicaName: r.replicaName };
}

interface PidFile {
  pid: number;
  port: number;
  status: string;
}

/** postmaster.pid: line 1 pid, 4 port, 8 status ("ready", "standby", ...). */
function readPidFile(dataDir: string): PidFile | null {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null;
  return { pid, port, status: (lines[7] ?? '').trim() };
}

/** Last `port = N` in postgresql.conf / postgresql.auto.conf (later settings win). */
function configuredPort(dataDir: string): number | null {
  let port: number | null = null;
  for (const name of ['postgresql.conf', 'postgresql.auto.conf']) {
    const file = join(dataDir, name);
    if (!existsSync(file)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*port\s*=\s*'?(\d+)'?/gm)) {
      port = Number(m[1]);
    }
  }
  return port;
}

function nodePort(dataDir: string): number {
  const port = readPidFile(dataDir)?.port ?? configuredPort(dataDir);
  if (port === null) throw new Error(`cannot determine port of node ${dataDir}`);
  return port;
}

function logFileFor(dataDir: string): string {
  return join(dirname(dataDir), `${basename(dataDir)}.log`);
}

function logTail(dataDir: string, n = 8): string {
  const file = logFileFor(dataDir);
  if (!existsSync(file)) return '';
  return `last lines of ${file}:\n${tailLines(readFileSync(file, 'utf8'), n)}`;
}

function isInitialized(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

// Unix socket paths are capped at 107 bytes; beyond that, TCP only.
function socketDirSetting(dir: string, port: number): string {
  return `${dir}/.s.PGSQL.${port}.lock`.length <= 100 ? dir : '';
}

// ---------------------------------------------------------------------------
// Node-level helpers (also used by tests for fault injection)
// ---------------------------------------------------------------------------

/** True if a postmaster is running on this data dir (pg_ctl status). */
export async function isNodeRunning(dataDir: string): Promise<boolean> {
  if (!isInitialized(dataDir)) return false;
  // exit 0 = running, 3 = not running, 4 = no data dir
  const res = await run([bin('pg_ctl'), 'status', '-D', dataDir], {
    serverUser: true,
    cwd: dirname(dataDir),
    allowFailure: true,
    timeoutMs: 15_000,
  });
  return res.exitCode === 0;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
  });
}

/** Start a node (no-op if running); resolves once it accepts connections. */
export async function startNode(dataDir: string): Promise<void> {
  if (await isNodeRunning(dataDir)) return;
  // Clearer than postgres' "could not bind" buried in the log (e.g. another worktree's cluster).
  const port = configuredPort(dataDir);
  if (port !== null && !(await portIsFree(port))) {
    throw new Error(`port ${port} on 127.0.0.1 is already in use; cannot start ${dataDir}`);
  }
  await run([bin('pg_ctl'), 'start', '-w', '-t', '60', '-D', dataDir, '-l', logFileFor(dataDir)], {
    serverUser: true,
    cwd: dirname(dataDir),
    timeoutMs: 90_000,
    onFailureHint: () => logTail(dataDir),
  });
}

/** Stop a node (no-op if stopped). 'immediate' = crash-like stop, recovery runs on next start. */
export async function stopNode(dataDir: string, mode: StopMode): Promise<void> {
  if (!(await isNodeRunning(dataDir))) return;
  await run([bin('pg_ctl'), 'stop', '-w', '-t', '30', '-m', mode, '-D', dataDir], {
    serverUser: true,
    cwd: dirname(dataDir),
    timeoutMs: 45_000,
    onFailureHint: () => logTail(dataDir),
  });
}

/** Promote a standby to primary; resolves once it accepts writes. */
export async function promoteNode(dataDir: string): Promise<void> {
  await run([bin('pg_ctl'), 'promote', '-w', '-t', '60', '-D', dataDir], {
    serverUser: true,
    cwd: dirname(dataDir),
    timeoutMs: 90_000,
    onFailureHint: () => logTail(dataDir),
  });
}

/**
 * Set (e.g. '2s', '500ms') or clear (null) recovery_min_apply_delay on a running
 * replica. Note PostgreSQL only delays replay of COMMIT records, measured from
 * the primary's commit timestamp.
 */
export async function setReplicaApplyDelay(dataDir: string, delay: string | null): Promise<void> {
  const port = nodePort(dataDir);
  const before = await psqlQuery(port, 'select pg_conf_load_time()');
  await psqlQuery(
    port,
    delay === null
      ? 'alter system reset recovery_min_apply_delay'
      : `alter system set recovery_min_apply_delay = ${sqlLiteral(delay)}`,
  );
  await psqlQuery(port, 'select pg_reload_conf()');
  // Reload is asynchronous (SIGHUP); wait until the postmaster has re-read the config.
  const deadline = Date.now() + 10_000;
  while ((await psqlQuery(port, 'select pg_conf_load_time()')) === before) {
    if (Date.now() > deadline) throw new Error(`replica ${dataDir} did not reload its configuration`);
    await sleep(20);
  }
}

/** Wait until the replica is in recovery and the primary reports it as streaming. */
export async function waitForReplicaStreaming(options: {
  primaryPort: number;
  replicaPort: number;
  replicaName?: string;
  timeoutMs?: number;
}): Promise<void> {
  const name = options.replicaName ?? DEFAULT_REPLICA_NAME;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const inRecovery = await tryQuery(options.replicaPort, 'select pg_is_in_recovery()');
    const state = await tryQuery(
      options.primaryPort,
      `select state from pg_stat_replication where application_name = ${sqlLiteral(name)}`,
    );
    if (inRecovery === 't' && state === 'streaming') return;
    last = `replica in recovery: ${inRecovery ?? 'unreachable'}, primary sees '${name}': ${state || 'no'}`;
    if (Date.now() > deadline) {
      throw new Error(`replica did not start streaming within ${timeoutMs}ms (${last})`);
    }
    await sleep(100);
  }
}

/** Wait until the replica has replayed everything the primary has written so far. */
export async function waitForReplicaCatchUp(options: {
  primaryPort: number;
  replicaPort: number;
  timeoutMs?: number;
}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  // The INSERT position, not pg_current_wal_lsn(): with synchronous_commit = off (this cluster's
  // setting) a commit can sit in WAL buffers past the write position, and a replica "caught up"
  // to that position still lacks it (a test then found a just-created table missing there).
  const [insertText = '', blockText = ''] = (
    await psqlQuery(options.primaryPort, "select pg_current_wal_insert_lsn() || '|' || current_setting('wal_block_size')")
  ).split('|');
  const insertLsn = parseLsn(insertText);
  if (insertLsn === null) throw new Error(`unexpected WAL position from the primary: ${insertText}`);
  const target = formatLsn(readYourWritesLsn(insertLsn, Number(blockText)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const caughtUp = await tryQuery(
      options.replicaPort,
      `select pg_last_wal_replay_lsn() >= ${sqlLiteral(target)}::pg_lsn`,
    );
    if (caughtUp === 't') return;
    if (Date.now() > deadline) throw new Error(`replica did not replay up to ${target} within ${timeoutMs}ms`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------
// Cluster lifecycle
// ---------------------------------------------------------------------------

function clusterInfo(dir: string, primaryPort: number, replicaPort: number): ClusterInfo {
  return {
    dir,
    primaryPort,
    replicaPort,
    primaryDataDir: join(dir, PRIMARY_SUBDIR),
    replicaDataDir: join(dir, REPLICA_SUBDIR),
    databaseUrl: `postgres://${SUPERUSER}@127.0.0.1:${primaryPort}/${DATABASE_NAME}`,
    replicaUrls: [`postgres://${SUPERUSER}@127.0.0.1:${replicaPort}/${DATABASE_NAME}`],
  };
}

/** Replication slot names allow only [a-z0-9_]. */
function slotName(replicaName: string): string {
  return replicaName.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
}

async function initPrimary(dir: string, dataDir: string, port: number): Promise<void> {
  await run(
    [bin('initdb'), '-D', dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { serverUser: true, cwd: dir, timeoutMs: 120_000 },
  );
  // initdb's default pg_hba.conf already trusts replication connections from 127.0.0.1.
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    [
      '',
      '# --- bountyexpo dev/test cluster (scripts/lib/pg-cluster.ts) ---',
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${socketDirSetting(dir, port)}'`,
      "cluster_name = 'primary'",
      'max_connections = 200',
      'wal_level = replica',
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      // Slot keeps WAL for a stopped replica; cap it so a dead replica cannot fill the disk.
      "wal_keep_size = '256MB'",
      "max_slot_wal_keep_size = '2GB'",
      'hot_standby = on',
      'hot_standby_feedback = on',
      // Throwaway dev/test cluster: trade durability for speed. Do NOT copy to production.
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'logging_collector = off',
      "log_line_prefix = '%m [%p] %q%a '",
      '',
    ].join('\n'),
  );
}

async function createReplica(
  dir: string,
  primaryPort: number,
  replicaDataDir: string,
  replicaPort: number,
  replicaName: string,
): Promise<void> {
  // Leftover from an interrupted base backup: pg_basebackup needs an empty/missing target.
  if (existsSync(replicaDataDir)) rmSync(replicaDataDir, { recursive: true, force: true });
  const slot = slotName(replicaName);
  // A slot from a previous replica incarnation would make `-C` fail. Its walsender
  // may take a moment to exit after that replica stopped, so wait for it to go idle.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const active = await psqlQuery(
      primaryPort,
      `select active from pg_replication_slots where slot_name = ${sqlLiteral(slot)}`,
    );
    if (active === '') break;
    if (active === 'f') {
      await psqlQuery(primaryPort, `select pg_drop_replication_slot(${sqlLiteral(slot)})`);
      break;
    }
    if (Date.now() > deadline) throw new Error(`replication slot '${slot}' on the primary is still in use`);
    await sleep(100);
  }
  await run(
    [
      bin('pg_basebackup'),
      '-h',
      '127.0.0.1',
      '-p',
      String(primaryPort),
      '-U',
      SUPERUSER,
      '-D',
      replicaDataDir,
      '-R', // writes standby.signal + primary_conninfo
      '-X',
      'stream',
      '-C', // create a physical slot so the primary keeps WAL while the replica is down
      '-S',
      slot,
      '-c',
      'fast', // immediate checkpoint instead of a spread one (seconds faster)
      '--no-sync',
    ],
    { serverUser: true, cwd: dir, timeoutMs: 300_000 },
  );
  // Appended after the copied primary settings, so these win.
  appendFileSync(
    join(replicaDataDir, 'postgresql.conf'),
    [
      '',
      '# --- replica overrides ---',
      `port = ${replicaPort}`,
      `unix_socket_directories = '${socketDirSetting(dir, replicaPort)}'`,
      // The WAL receiver uses cluster_name as its application_name -> pg_stat_replication.
      `cluster_name = ${sqlLiteral(replicaName)}`,
      // Reconnect quickly after a primary restart (default 5s makes failover tests slow).
      "wal_retrieve_retry_interval = '200ms'",
      '',
    ].join('\n'),
  );
}

/**
 * Create (if needed) and start a primary + streaming replica under `dir`.
 * Idempotent: an existing, running cluster is just reported; a stopped or
 * half-built one is completed.
 */
export async function clusterUp(options: ClusterOptions): Promise<ClusterInfo> {
  const dir = resolve(options.dir);
  const replicaName = options.replicaName ?? DEFAULT_REPLICA_NAME;
  const { primaryPort, replicaPort } = options;
  if (primaryPort === replicaPort) throw new Error(`primary and replica ports must differ (both ${primaryPort})`);
  requireBinDir();

  const info = clusterInfo(dir, primaryPort, replicaPort);
  const meta = readMeta(dir);
  if (meta && (meta.primaryPort !== primaryPort || meta.replicaPort !== replicaPort || meta.replicaName !== replicaName)) {
    throw new Error(
      `cluster at ${dir} was created with ports ${meta.primaryPort}/${meta.replicaPort} (replica '${meta.replicaName}'); ` +
        `use those or run 'down --destroy' first`,
    );
  }

  prepareClusterDir(dir);
  if (!meta) {
    const m: ClusterMeta = { primaryPort, replicaPort, replicaName };
    writeFileSync(join(dir, META_FILE), `${JSON.stringify(m, null, 2)}\n`);
  }

  if (!isInitialized(info.primaryDataDir)) {
    // A partial initdb leaves a non-empty dir that initdb refuses to reuse.
    rmSync(info.primaryDataDir, { recursive: true, force: true });
    // Without a primary, any existing replica belongs to another timeline/system.
    rmSync(info.replicaDataDir, { recursive: true, force: true });
    await initPrimary(dir, info.primaryDataDir, primaryPort);
  }
  await startNode(info.primaryDataDir);

  const exists = await psqlQuery(primaryPort, `select 1 from pg_database where datname = ${sqlLiteral(DATABASE_NAME)}`);
  if (exists !== '1') await psqlQuery(primaryPort, `create database ${DATABASE_NAME}`);

  // No standby.signal = never finished, or promoted (e.g. by a failover test) and
  // now diverged from the primary: rebuild it from a fresh base backup.
  const replicaUsable =
    isInitialized(info.replicaDataDir) && existsSync(join(info.replicaDataDir, 'standby.signal'));
  if (!replicaUsable) {
    await stopNode(info.replicaDataDir, 'immediate');
    await createReplica(dir, primaryPort, info.replicaDataDir, replicaPort, replicaName);
  }
  await startNode(info.replicaDataDir);
  await waitForReplicaStreaming({ primaryPort, replicaPort, replicaName });
  return info;
}

/** Stop both nodes (fast, falling back to immediate). `destroy` also deletes the cluster dir. */
export async function clusterDown(options: { dir: string; destroy?: boolean }): Promise<void> {
  const dir = resolve(options.dir);
  const errors: string[] = [];
  if (existsSync(dir)) {
    // Replica first, so it does not spin on reconnecting to a stopped primary.
    for (const sub of [REPLICA_SUBDIR, PRIMARY_SUBDIR]) {
      const dataDir = join(dir, sub);
      if (!isInitialized(dataDir)) continue;
      try {
        await stopNode(dataDir, 'fast');
      } catch {
        try {
          await stopNode(dataDir, 'immediate');
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    }
  }
  if (errors.length > 0) throw new Error(`could not stop cluster at ${dir}:\n${errors.join('\n')}`);
  if (options.destroy) rmSync(dir, { recursive: true, force: true });
}

/** Running state, port and (replica) recovery/streaming state of each node. */
export async function clusterStatus(options: { dir: string }): Promise<ClusterStatus> {
  const dir = resolve(options.dir);
  const meta = readMeta(dir);
  const node = async (sub: string, metaPort: number | undefined): Promise<NodeStatus> => {
    const dataDir = join(dir, sub);
    const running = await isNodeRunning(dataDir);
    const port = readPidFile(dataDir)?.port ?? metaPort ?? (isInitialized(dataDir) ? configuredPort(dataDir) : null);
    return { dataDir, initialized: isInitialized(dataDir), running, port };
  };
  const primary = await node(PRIMARY_SUBDIR, meta?.primaryPort);
  const replicaBase = await node(REPLICA_SUBDIR, meta?.replicaPort);
  let inRecovery: boolean | null = null;
  let streaming: boolean | null = null;
  if (replicaBase.running && replicaBase.port !== null) {
    const rec = await tryQuery(replicaBase.port, 'select pg_is_in_recovery()');
    inRecovery = rec === null ? null : rec === 't';
    const recv = await tryQuery(replicaBase.port, 'select status from pg_stat_wal_receiver');
    streaming = recv === null ? null : recv === 'streaming';
  }
  return {
    dir,
    exists: existsSync(dir),
    replicaName: meta?.replicaName ?? null,
    primary,
    replica: { ...replicaBase, inRecovery, streaming },
  };
}
