/**
 * Chooses where a read runs and keeps a state per replica from a periodic probe.
 *
 * State machine per replica:
 *   healthy  -> lagging   when lag exceeds MAX_REPLICA_LAG_MS or MAX_REPLICA_LAG_BYTES
 *   lagging  -> healthy   after two probes in a row under half the thresholds (hysteresis)
 *   any      -> down      after three failed probes, a failed first probe, or a read that could not
 *                         connect (circuit open)
 *   down     -> (probe)   half-open probes with exponential backoff; a success closes the circuit
 *   any      -> promoted  when pg_is_in_recovery() is false: terminal, never used as a replica again
 *
 * Lag is measured against a history of the primary's WAL position, sampled by the same probe:
 * lag in ms is how long ago the primary first had WAL that the replica has still not replayed.
 * That is 0 on an idle primary (pg_last_xact_replay_timestamp() would grow forever) and right
 * after a single write following a quiet spell (the replay timestamp would claim the whole quiet
 * spell as lag).
 *
 * This file opens no connection: src/db/cluster.ts hands it the pools and probe functions.
 */
import type { Logger } from '../lib/logger';
import type { Lsn } from './lsn';

export type ReplicaState = 'healthy' | 'lagging' | 'down' | 'promoted';
/**
 * Why a read went where it did. caught-up: a healthy replica that has the request's writes;
 * caught-up-after-wait: the same, after waiting (READ_YOUR_WRITES_WAIT_MS) for a replica to replay
 * them; token-ahead: healthy replicas exist but none has the request's writes yet (primary, uncapped);
 * lagging / down: no healthy replica (primary, capped); fallback-capped: refused, the cap was reached;
 * no-replica: none configured; retry: the second attempt after a read failed on a replica.
 */
export type ReadReason =
  | 'caught-up'
  | 'caught-up-after-wait'
  | 'token-ahead'
  | 'lagging'
  | 'down'
  | 'fallback-capped'
  | 'no-replica'
  | 'retry';

export type ReplicaProbeResult = {
  inRecovery: boolean;
  replayLsn: Lsn | null;
  receiveLsn: Lsn | null;
};

export type RouterOptions = {
  maxLagMs: number;
  maxLagBytes: number;
  fallbackMaxInflight: number;
  probeIntervalMs: number;
  /** A probe that has not answered by then counts as failed, so one hung node cannot stall the monitor. */
  probeTimeoutMs: number;
};

export class ReplicaNode<TDatabase> {
  state: ReplicaState = 'healthy';
  replayLsn: Lsn | null = null;
  lagBytes: number | null = null;
  lagMs: number | null = null;
  inflight = 0;
  readsServed = 0;
  lastError: string | null = null;
  consecutiveFailures = 0;
  nextProbeAt = 0;
  backoffMs = 0;
  // Probes in a row under half the thresholds: lagging -> healthy needs two.
  caughtUpProbes = 0;
  // Until a probe answers we know no replay position, so token-carrying reads skip the node.
  probed = false;

  constructor(
    readonly name: string,
    readonly db: TDatabase,
    readonly probe: () => Promise<ReplicaProbeResult>,
  ) {}
}

export type ReadTarget<TDatabase> =
  | { kind: 'primary'; reason: ReadReason; countsAsFallback: boolean }
  | { kind: 'replica'; node: ReplicaNode<TDatabase>; reason: ReadReason };

/** One reading of the primary: where the next record goes (a record end) and what is flushed. */
export type PrimaryWalPosition = { insertLsn: Lsn; flushLsn: Lsn };

/**
 * When the primary's WAL first reached each sampled position. The positions kept are insert
 * positions, i.e. record ends, which a replica's replay position can equal; the flush position
 * cannot serve, since it may stop mid-record at a page boundary for as long as the primary is idle
 * (the tail of a record nobody commits after), where no replica can ever replay to. Only samples
 * already flushed count (a replica cannot have more). Only increasing positions are kept, so an
 * idle primary adds nothing; samples older than the horizon are dropped except the newest of
 * them, so a replica further behind than the horizon still reads as >= horizon.
 */
export class PrimaryWalHistory {
  private samples: Array<{ lsn: Lsn; at: number }> = [];
  private flushed: Lsn = 0n;

  constructor(private readonly horizonMs: number) {}

  record(position: PrimaryWalPosition, at: number): void {
    if (position.flushLsn > this.flushed) this.flushed = position.flushLsn;
    const last = this.samples.at(-1);
    if (last && position.insertLsn <= last.lsn) return;
    this.samples.push({ lsn: position.insertLsn, at });
    const cutoff = at - this.horizonMs;
    while (this.samples.length > 1 && (this.samples[1]?.at ?? at) < cutoff) this.samples.shift();
  }

  /** The newest sampled record end the primary has flushed: what a caught-up replica has replayed. */
  get latest(): Lsn | null {
    let latest: Lsn | null = null;
    for (const sample of this.samples) {
      if (sample.lsn > this.flushed) break;
      latest = sample.lsn;
    }
    return latest;
  }

  /** Bytes and ms the replica is behind; ms has the resolution of the probe interval. */
  lag(replayLsn: Lsn | null, now: number): { lagBytes: number; lagMs: number } | null {
    const latest = this.latest;
    if (replayLsn === null) return null;
    // No sampled record end flushed yet (first probes): only "has it all" can be told.
    if (latest === null) return this.flushed > 0n && replayLsn >= this.flushed ? { lagBytes: 0, lagMs: 0 } : null;
    const firstMissing = this.samples.find((sample) => sample.lsn > replayLsn && sample.lsn <= this.flushed);
    return {
      lagBytes: latest > replayLsn ? Number(latest - replayLsn) : 0,
      lagMs: firstMissing ? Math.max(0, now - firstMissing.at) : 0,
    };
  }
}

const FAILURES_TO_OPEN = 3;
const MAX_BACKOFF_MS = 5_000;

function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

type ProbeOutcome = { ok: true; result: ReplicaProbeResult } | { ok: false; error: unknown } | { ok: 'skipped' };

export class ReplicaRouter<TDatabase> {
  private timer: ReturnType<typeof setInterval> | null = null;
  private probing = false;
  private roundRobin = 0;
  private roundWaiters = new Set<() => void>();
  readonly walHistory: PrimaryWalHistory;
  primaryReachable = true;
  fallbackInflight = 0;
  /** Reads served, by target then reason; refused reads are under target "none". */
  readonly readCounts = new Map<string, Map<ReadReason, number>>();
  /** Reads that failed on a target (each may have been retried elsewhere). */
  readonly readFailures = new Map<string, number>();

  constructor(
    readonly replicas: ReplicaNode<TDatabase>[],
    private readonly primaryProbe: () => Promise<PrimaryWalPosition | null>,
    private readonly options: RouterOptions,
    private readonly logger: Logger,
  ) {
    // Enough history to tell any lag up to well past the threshold.
    this.walHistory = new PrimaryWalHistory(Math.max(30_000, options.maxLagMs * 4));
  }

  get primaryLsn(): Lsn | null {
    return this.walHistory.latest;
  }

  start(): void {
    if (this.timer || this.replicas.length === 0) return;
    this.timer = setInterval(() => void this.probeAll(), this.options.probeIntervalMs);
    // The probe must never keep a finished process (a script, a test) alive.
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.releaseRoundWaiters();
  }

  /**
   * One probe round: the primary and every replica at once, each bounded by probeTimeoutMs, then
   * the states. A round still running when the next tick comes is not doubled up.
   */
  async probeAll(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const [, outcomes] = await Promise.all([
        this.probePrimary(),
        Promise.all(this.replicas.map((node) => this.probeOne(node))),
      ]);
      const now = Date.now();
      this.replicas.forEach((node, index) => {
        const outcome = outcomes[index];
        if (!outcome || outcome.ok === 'skipped') return;
        if (outcome.ok) this.recordProbeSuccess(node, outcome.result, now);
        else this.recordProbeFailure(node, outcome.error);
      });
    } finally {
      this.probing = false;
      this.releaseRoundWaiters();
    }
  }

  /** Resolves after the next completed probe round, or after `timeoutMs`, whichever is first. */
  nextProbeRound(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.roundWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.roundWaiters.add(done);
    });
  }

  private releaseRoundWaiters(): void {
    for (const done of [...this.roundWaiters]) done();
  }

  private async probePrimary(): Promise<void> {
    try {
      const position = await withDeadline(this.primaryProbe(), this.options.probeTimeoutMs, 'primary probe');
      if (position !== null) this.walHistory.record(position, Date.now());
      this.primaryReachable = true;
    } catch {
      // The history is kept: lag in bytes stays meaningful while the primary is away.
      this.primaryReachable = false;
    }
  }

  private async probeOne(node: ReplicaNode<TDatabase>): Promise<ProbeOutcome> {
    if (node.state === 'promoted') return { ok: 'skipped' };
    if (node.state === 'down' && Date.now() < node.nextProbeAt) return { ok: 'skipped' };
    try {
      return { ok: true, result: await withDeadline(node.probe(), this.options.probeTimeoutMs, `${node.name} probe`) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  private recordProbeSuccess(node: ReplicaNode<TDatabase>, result: ReplicaProbeResult, now: number): void {
    if (!result.inRecovery) {
      node.state = 'promoted';
      this.logger.error({ replica: node.name }, 'replica is no longer in recovery (promoted); it will never serve reads as a replica again');
      return;
    }
    node.probed = true;
    node.consecutiveFailures = 0;
    node.backoffMs = 0;
    node.lastError = null;
    node.replayLsn = result.replayLsn;
    const lag = this.walHistory.lag(result.replayLsn, now);
    node.lagBytes = lag?.lagBytes ?? null;
    node.lagMs = lag?.lagMs ?? null;
    this.applyLagState(node);
  }

  private applyLagState(node: ReplicaNode<TDatabase>): void {
    const lagMs = node.lagMs ?? 0;
    const lagBytes = node.lagBytes ?? 0;
    const over = lagMs > this.options.maxLagMs || lagBytes > this.options.maxLagBytes;
    const wellUnder = lagMs <= this.options.maxLagMs / 2 && lagBytes <= this.options.maxLagBytes / 2;
    const previous = node.state;
    if (over) {
      node.caughtUpProbes = 0;
      node.state = 'lagging';
    } else if (previous === 'lagging') {
      node.caughtUpProbes = wellUnder ? node.caughtUpProbes + 1 : 0;
      if (node.caughtUpProbes >= 2) node.state = 'healthy';
    } else {
      node.state = 'healthy';
    }
    if (previous !== node.state) {
      this.logger.warn({ replica: node.name, from: previous, to: node.state, lagMs, lagBytes }, 'replica state changed');
    }
  }

  private recordProbeFailure(node: ReplicaNode<TDatabase>, error: unknown): void {
    if (node.state === 'promoted') return;
    node.consecutiveFailures += 1;
    node.lastError = error instanceof Error ? error.message : String(error);
    // Never reached (e.g. down when the service starts): nothing says it is usable, so it is down now.
    if (node.state === 'down' || !node.probed || node.consecutiveFailures >= FAILURES_TO_OPEN) this.openCircuit(node);
  }

  /** A request saw this replica fail to connect: open the circuit now instead of waiting for probes. */
  reportConnectionFailure(node: ReplicaNode<TDatabase>, error: unknown): void {
    node.lastError = error instanceof Error ? error.message : String(error);
    if (node.state !== 'down' && node.state !== 'promoted') this.openCircuit(node);
  }

  private openCircuit(node: ReplicaNode<TDatabase>): void {
    const wasDown = node.state === 'down';
    node.state = 'down';
    node.caughtUpProbes = 0;
    node.backoffMs = Math.min(MAX_BACKOFF_MS, node.backoffMs === 0 ? this.options.probeIntervalMs : node.backoffMs * 2);
    node.nextProbeAt = Date.now() + node.backoffMs;
    if (!wasDown) this.logger.error({ replica: node.name, error: node.lastError }, 'replica marked down');
  }

  /**
   * The read target for a request whose own writes reach `minLsn` (null: no token).
   * A replica qualifies when it is healthy and its replay position, as last probed, is at or past
   * the token: the probed position only grows, so a stale probe can send a read to the primary
   * needlessly but never to a replica that lacks the write.
   */
  chooseRead(minLsn: Lsn | null, exclude?: ReplicaNode<TDatabase>): ReadTarget<TDatabase> {
    if (this.replicas.length === 0) return { kind: 'primary', reason: 'no-replica', countsAsFallback: false };
    const usable = this.replicas.filter((node) => node !== exclude && node.state === 'healthy');
    const caughtUp =
      minLsn === null ? usable : usable.filter((node) => node.probed && node.replayLsn !== null && node.replayLsn >= minLsn);
    if (caughtUp.length > 0) {
      return { kind: 'replica', node: this.leastBusy(caughtUp), reason: exclude ? 'retry' : 'caught-up' };
    }
    if (usable.length > 0) {
      // The replicas are fine, they just have not replayed this user's write yet: a normal read.
      return { kind: 'primary', reason: exclude ? 'retry' : 'token-ahead', countsAsFallback: false };
    }
    const reason: ReadReason = this.replicas.some((node) => node !== exclude && node.state === 'lagging') ? 'lagging' : 'down';
    return { kind: 'primary', reason: exclude ? 'retry' : reason, countsAsFallback: true };
  }

  private leastBusy(nodes: ReplicaNode<TDatabase>[]): ReplicaNode<TDatabase> {
    // Fewest reads in flight; ties rotate so an idle service still spreads load.
    this.roundRobin = (this.roundRobin + 1) % nodes.length;
    let best = nodes[this.roundRobin] as ReplicaNode<TDatabase>;
    for (const node of nodes) if (node.inflight < best.inflight) best = node;
    return best;
  }

  /** Fallback reads beyond the cap are refused so a replica outage cannot flatten the primary. */
  tryAcquireFallback(): boolean {
    if (this.fallbackInflight >= this.options.fallbackMaxInflight) return false;
    this.fallbackInflight += 1;
    return true;
  }

  releaseFallback(): void {
    this.fallbackInflight = Math.max(0, this.fallbackInflight - 1);
  }

  countRead(target: string, reason: ReadReason): void {
    let byReason = this.readCounts.get(target);
    if (!byReason) {
      byReason = new Map();
      this.readCounts.set(target, byReason);
    }
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }

  countFailure(target: string): void {
    this.readFailures.set(target, (this.readFailures.get(target) ?? 0) + 1);
  }

  /** Reads served per target (refused reads excluded). */
  readsByTarget(): Record<string, number> {
    const totals: Record<string, number> = {};
    for (const [target, byReason] of this.readCounts) {
      if (target === REFUSED_TARGET) continue;
      totals[target] = [...byReason.values()].reduce((sum, count) => sum + count, 0);
    }
    return totals;
  }

  /** Routing decisions per reason, refused reads (fallback-capped) included. */
  readsByReason(): Record<string, number> {
    const totals: Record<string, number> = {};
    for (const byReason of this.readCounts.values()) {
      for (const [reason, count] of byReason) totals[reason] = (totals[reason] ?? 0) + count;
    }
    return totals;
  }
}

/** The counter target of a read refused past the fallback cap. */
export const REFUSED_TARGET = 'none';
