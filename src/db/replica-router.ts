/**
 * Chooses where a read runs and keeps a state per replica from a periodic probe.
 *
 * State machine per replica:
 *   healthy  -> lagging   when lag exceeds MAX_REPLICA_LAG_MS or MAX_REPLICA_LAG_BYTES
 *   lagging  -> healthy   after two probes under half the thresholds (hysteresis, no flapping)
 *   any      -> down      after a refused connection or three failed probes (circuit open)
 *   down     -> (probe)   half-open probes with exponential backoff; a success closes the circuit
 *   any      -> promoted  when pg_is_in_recovery() is false: never used as a replica again
 *
 * This file opens no connection: src/config/database.ts hands it the pools and probe functions.
 */
import type { Logger } from '../lib/logger';
import type { Lsn } from './lsn';

export type ReplicaState = 'healthy' | 'lagging' | 'down' | 'promoted';
export type ReadReason = 'caught-up' | 'token-ahead' | 'lagging' | 'down' | 'no-replica' | 'fallback-capped' | 'retry';

export type ReplicaProbeResult = {
  inRecovery: boolean;
  replayLsn: Lsn | null;
  receiveLsn: Lsn | null;
  replayAgeMs: number;
};

export type RouterOptions = {
  maxLagMs: number;
  maxLagBytes: number;
  fallbackMaxInflight: number;
  probeIntervalMs: number;
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
  // Until the first probe answers we know no replay position, so token-carrying reads skip it.
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

/** Lag of a replica behind the primary's last known WAL position (or its own receive position). */
export function computeReplicaLag(primaryLsn: Lsn | null, probe: ReplicaProbeResult): { lagBytes: number; lagMs: number } {
  const reference = primaryLsn ?? probe.receiveLsn;
  const behind =
    reference !== null && probe.replayLsn !== null && reference > probe.replayLsn ? reference - probe.replayLsn : 0n;
  // pg_last_xact_replay_timestamp() only means lag while there is WAL left to replay;
  // on an idle primary it just grows, so lag is 0 when nothing is behind.
  return { lagBytes: Number(behind), lagMs: behind === 0n ? 0 : Math.max(0, Math.round(probe.replayAgeMs)) };
}

const FAILURES_TO_OPEN = 3;
const MAX_BACKOFF_MS = 5_000;

export class ReplicaRouter<TDatabase> {
  private timer: ReturnType<typeof setInterval> | null = null;
  private probing = false;
  private roundRobin = 0;
  primaryLsn: Lsn | null = null;
  primaryReachable = true;
  fallbackInflight = 0;
  readonly readsByTarget = new Map<string, number>();
  readonly readsByReason = new Map<ReadReason, number>();

  constructor(
    readonly replicas: ReplicaNode<TDatabase>[],
    private readonly primaryLsnProbe: () => Promise<Lsn | null>,
    private readonly options: RouterOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer || this.replicas.length === 0) return;
    this.timer = setInterval(() => void this.probeAll(), this.options.probeIntervalMs);
    // The probe must never keep a finished process (a script, a test) alive.
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One probe round; overlapping rounds are skipped so a hung replica cannot pile them up. */
  async probeAll(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      try {
        this.primaryLsn = await this.primaryLsnProbe();
        this.primaryReachable = true;
      } catch {
        // Keep the last known primary LSN: lag in bytes stays meaningful while the primary is away.
        this.primaryReachable = false;
      }
      await Promise.all(this.replicas.map((node) => this.probeReplica(node)));
    } finally {
      this.probing = false;
    }
  }

  private async probeReplica(node: ReplicaNode<TDatabase>): Promise<void> {
    if (node.state === 'promoted') return;
    if (node.state === 'down' && Date.now() < node.nextProbeAt) return;
    let result: ReplicaProbeResult;
    try {
      result = await node.probe();
    } catch (error) {
      this.recordProbeFailure(node, error);
      return;
    }
    node.probed = true;
    node.consecutiveFailures = 0;
    node.backoffMs = 0;
    node.lastError = null;
    if (!result.inRecovery) {
      node.state = 'promoted';
      this.logger.error({ replica: node.name }, 'replica is no longer in recovery (promoted); it will never serve reads as a replica again');
      return;
    }
    node.replayLsn = result.replayLsn;
    const lag = computeReplicaLag(this.primaryLsn, result);
    node.lagBytes = lag.lagBytes;
    node.lagMs = lag.lagMs;
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
    node.consecutiveFailures += 1;
    node.lastError = error instanceof Error ? error.message : String(error);
    if (node.state === 'down' || node.consecutiveFailures >= FAILURES_TO_OPEN) this.openCircuit(node);
  }

  /** A request saw this replica fail to connect: open the circuit now instead of waiting for probes. */
  reportConnectionFailure(node: ReplicaNode<TDatabase>, error: unknown): void {
    node.lastError = error instanceof Error ? error.message : String(error);
    if (node.state !== 'down' && node.state !== 'promoted') this.openCircuit(node);
  }

  private openCircuit(node: ReplicaNode<TDatabase>): void {
    const wasDown = node.state === 'down';
    node.state = 'down';
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
      return { kind: 'primary', reason: 'token-ahead', countsAsFallback: false };
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
    this.readsByTarget.set(target, (this.readsByTarget.get(target) ?? 0) + 1);
    this.readsByReason.set(reason, (this.readsByReason.get(reason) ?? 0) + 1);
  }
}
