/**
 * The replica state machine and the read choice, driven by scripted probes (no database): every
 * transition of src/db/replica-router.ts, deterministically. The same behaviour on the real
 * cluster is in tests/replica-routing.test.ts and tests/replica-failover.test.ts.
 */
import { describe, expect, test } from 'bun:test';
import type { Lsn } from '../src/db/lsn';
import {
  PrimaryWalHistory,
  type PrimaryWalPosition,
  type ReplicaProbeResult,
  ReplicaNode,
  ReplicaRouter,
  type RouterOptions,
} from '../src/db/replica-router';
import { captureLogs, LOG_LEVELS } from './support/logs';

type FakeDb = { name: string };

/** A replica whose next probe answers whatever the test last set (or throws, or hangs). */
class ScriptedReplica {
  answer: ReplicaProbeResult | Error | 'hang' = { inRecovery: true, replayLsn: 1_000n, receiveLsn: 1_000n };
  calls = 0;
  readonly node: ReplicaNode<FakeDb>;

  constructor(name: string) {
    this.node = new ReplicaNode<FakeDb>(name, { name }, () => {
      this.calls += 1;
      const answer = this.answer;
      if (answer === 'hang') return new Promise<never>(() => {});
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    });
  }

  replayAt(lsn: Lsn): void {
    this.answer = { inRecovery: true, replayLsn: lsn, receiveLsn: lsn };
  }
}

const baseOptions: RouterOptions = {
  maxLagMs: 60_000,
  maxLagBytes: 1_000,
  fallbackMaxInflight: 2,
  probeIntervalMs: 20,
  probeTimeoutMs: 200,
};

function setup(names: string[], options: Partial<RouterOptions> = {}) {
  const replicas = names.map((name) => new ScriptedReplica(name));
  let primary: PrimaryWalPosition | Error = { insertLsn: 1_000n, flushLsn: 1_000n };
  const { logger, lines } = captureLogs('warn');
  const router = new ReplicaRouter<FakeDb>(
    replicas.map((replica) => replica.node),
    () => (primary instanceof Error ? Promise.reject(primary) : Promise.resolve(primary)),
    { ...baseOptions, ...options },
    logger,
  );
  const primaryAt = (lsn: Lsn) => {
    primary = { insertLsn: lsn, flushLsn: lsn };
  };
  const primaryDown = () => {
    primary = new Error('connect ECONNREFUSED');
  };
  return { router, replicas, primaryAt, primaryDown, lines };
}

describe('lag measured from the primary WAL history', () => {
  test('an idle primary means no lag, however long ago the last write was', () => {
    // Guards the pg_last_xact_replay_timestamp() measure, which grows without bound on an idle primary.
    const history = new PrimaryWalHistory(30_000);
    history.record({ insertLsn: 500n, flushLsn: 500n }, 0);
    expect(history.lag(500n, 3_600_000)).toEqual({ lagBytes: 0, lagMs: 0 });
  });

  test('one write after a quiet hour lags by the time since that write, not the hour', () => {
    const history = new PrimaryWalHistory(30_000);
    history.record({ insertLsn: 500n, flushLsn: 500n }, 0);
    history.record({ insertLsn: 700n, flushLsn: 700n }, 3_600_000);
    expect(history.lag(500n, 3_600_040)).toEqual({ lagBytes: 200, lagMs: 40 });
    expect(history.lag(700n, 3_600_040)).toEqual({ lagBytes: 0, lagMs: 0 });
  });

  test('a stalled replica lags by the time since the first WAL it lacks, and more every probe', () => {
    const history = new PrimaryWalHistory(30_000);
    history.record({ insertLsn: 500n, flushLsn: 500n }, 0);
    history.record({ insertLsn: 600n, flushLsn: 600n }, 1_000);
    history.record({ insertLsn: 900n, flushLsn: 900n }, 2_000);
    expect(history.lag(500n, 2_500)).toEqual({ lagBytes: 400, lagMs: 1_500 });
    expect(history.lag(500n, 9_000)?.lagMs).toBe(8_000);
    expect(history.lag(650n, 2_500)).toEqual({ lagBytes: 250, lagMs: 500 });
  });

  test('WAL flushed only up to a page boundary mid-record is not lag', () => {
    // Seen on PostgreSQL 15: after pg_logical_emit_message() on an idle primary the flush position
    // stays at 0/301C000 inside the record, and no replica can replay past 0/301B848, forever.
    const history = new PrimaryWalHistory(30_000);
    history.record({ insertLsn: 0x301b848n, flushLsn: 0x301b848n }, 0);
    history.record({ insertLsn: 0x301d898n, flushLsn: 0x301c000n }, 100);
    expect(history.lag(0x301b848n, 60_000)).toEqual({ lagBytes: 0, lagMs: 0 });
    // Once flushed, the record counts from when it was first seen.
    history.record({ insertLsn: 0x301d898n, flushLsn: 0x301d898n }, 60_000);
    expect(history.lag(0x301b848n, 60_000)).toEqual({ lagBytes: 0x301d898 - 0x301b848, lagMs: 59_900 });
  });

  test('keeps enough history that a replica behind the horizon still reads as at least the horizon', () => {
    const history = new PrimaryWalHistory(1_000);
    for (let at = 0; at <= 10_000; at += 100) history.record({ insertLsn: BigInt(1_000 + at), flushLsn: BigInt(1_000 + at) }, at);
    expect(history.lag(1_000n, 10_000)?.lagMs).toBeGreaterThanOrEqual(1_000);
  });
});

describe('replica states', () => {
  test('lagging past the byte threshold, taken back only after two probes under half of it', async () => {
    const { router, replicas, primaryAt } = setup(['replica1']);
    const [replica] = replicas as [ScriptedReplica];
    primaryAt(1_000n);
    await router.probeAll();
    expect(replica.node.state).toBe('healthy');

    primaryAt(3_000n);
    await router.probeAll();
    expect(replica.node.state).toBe('lagging');
    expect(router.chooseRead(null)).toMatchObject({ kind: 'primary', reason: 'lagging', countsAsFallback: true });

    // Under the threshold but not under half of it: no flapping back.
    replica.replayAt(2_200n);
    await router.probeAll();
    expect(replica.node.state).toBe('lagging');
    replica.replayAt(2_600n);
    await router.probeAll();
    expect(replica.node.state).toBe('lagging');
    // One probe over half resets the count.
    replica.replayAt(2_400n);
    await router.probeAll();
    replica.replayAt(2_600n);
    await router.probeAll();
    expect(replica.node.state).toBe('lagging');
    await router.probeAll();
    expect(replica.node.state).toBe('healthy');
    expect(router.chooseRead(null)).toMatchObject({ kind: 'replica', reason: 'caught-up' });
  });

  test('down after three failed probes; half-open probes back off exponentially; a success closes it', async () => {
    const { router, replicas, lines } = setup(['replica1']);
    const [replica] = replicas as [ScriptedReplica];
    await router.probeAll();
    replica.answer = new Error('connect ECONNREFUSED');
    await router.probeAll();
    await router.probeAll();
    expect(replica.node.state).toBe('healthy');
    await router.probeAll();
    expect(replica.node.state).toBe('down');
    expect(lines.some((line) => line.level === LOG_LEVELS.error && line.msg === 'replica marked down')).toBe(true);
    expect(router.chooseRead(null)).toMatchObject({ kind: 'primary', reason: 'down', countsAsFallback: true });

    // Circuit open: no probe until the backoff has passed.
    const calls = replica.calls;
    await router.probeAll();
    expect(replica.calls).toBe(calls);
    const backoffs = [replica.node.backoffMs];
    for (let round = 0; round < 3; round += 1) {
      await Bun.sleep(replica.node.nextProbeAt - Date.now() + 1);
      await router.probeAll();
      backoffs.push(replica.node.backoffMs);
    }
    expect(backoffs).toEqual([20, 40, 80, 160]);

    replica.answer = { inRecovery: true, replayLsn: 1_000n, receiveLsn: 1_000n };
    await Bun.sleep(replica.node.nextProbeAt - Date.now() + 1);
    await router.probeAll();
    expect(replica.node.state).toBe('healthy');
    expect(replica.node.backoffMs).toBe(0);
  });

  test('a replica unreachable from the start is down at once, not after three probes', async () => {
    // Guards the first reads of a new instance going to a replica that was never reachable.
    const { router, replicas } = setup(['replica1']);
    const [replica] = replicas as [ScriptedReplica];
    replica.answer = new Error('connect ECONNREFUSED');
    await router.probeAll();
    expect(replica.node.state).toBe('down');
  });

  test('a read that could not connect opens the circuit at once', async () => {
    const { router, replicas } = setup(['replica1']);
    const [replica] = replicas as [ScriptedReplica];
    await router.probeAll();
    router.reportConnectionFailure(replica.node, new Error('write CONNECTION_CLOSED'));
    expect(replica.node.state).toBe('down');
  });

  test('a promoted replica is never used again, not even when it later claims to be in recovery', async () => {
    const { router, replicas, lines } = setup(['replica1', 'replica2']);
    const [first, second] = replicas as [ScriptedReplica, ScriptedReplica];
    await router.probeAll();
    first.answer = { inRecovery: false, replayLsn: null, receiveLsn: null };
    await router.probeAll();
    expect(first.node.state).toBe('promoted');
    expect(lines.filter((line) => line.level === LOG_LEVELS.error && String(line.msg).includes('promoted'))).toHaveLength(1);

    first.replayAt(1_000n);
    const calls = first.calls;
    for (let round = 0; round < 3; round += 1) await router.probeAll();
    expect(first.node.state).toBe('promoted');
    expect(first.calls).toBe(calls);
    for (let read = 0; read < 20; read += 1) {
      const target = router.chooseRead(null);
      expect(target.kind === 'replica' ? target.node.name : 'primary').toBe(second.node.name);
    }
    router.reportConnectionFailure(first.node, new Error('ECONNREFUSED'));
    expect(first.node.state).toBe('promoted');
  });

  test('one hung replica does not stall the monitor: the others keep being probed and it goes down', async () => {
    // Guards a probe with no client-side deadline: one black-holed node froze every state.
    const { router, replicas, primaryAt } = setup(['replica1', 'replica2'], { probeTimeoutMs: 30 });
    const [hung, live] = replicas as [ScriptedReplica, ScriptedReplica];
    await router.probeAll();
    hung.answer = 'hang';
    primaryAt(5_000n);
    await router.probeAll();
    expect(live.node.state).toBe('lagging');
    live.replayAt(5_000n);
    await router.probeAll();
    await router.probeAll();
    await router.probeAll();
    expect(live.node.state).toBe('healthy');
    expect(hung.node.state).toBe('down');
    expect(hung.node.lastError).toContain('timed out');
  });

  test('nextProbeRound resolves when a round completes, or at its timeout', async () => {
    const { router } = setup(['replica1']);
    let resolved = false;
    const waiting = router.nextProbeRound(10_000).then(() => {
      resolved = true;
    });
    await Bun.sleep(5);
    expect(resolved).toBe(false);
    await router.probeAll();
    await waiting;
    expect(resolved).toBe(true);
    await router.nextProbeRound(5);
  });
});

describe('read choice', () => {
  test('a token ahead of every replica goes to the primary uncapped; a replica that has replayed it qualifies', async () => {
    const { router, replicas } = setup(['replica1']);
    const [replica] = replicas as [ScriptedReplica];
    replica.replayAt(1_000n);
    await router.probeAll();
    expect(router.chooseRead(1_001n)).toEqual({ kind: 'primary', reason: 'token-ahead', countsAsFallback: false });
    expect(router.chooseRead(1_000n)).toMatchObject({ kind: 'replica', reason: 'caught-up' });
    expect(router.chooseRead(null)).toMatchObject({ kind: 'replica', reason: 'caught-up' });
  });

  test('a replica never probed successfully serves no token-carrying read', () => {
    const { router } = setup(['replica1']);
    expect(router.chooseRead(1n)).toMatchObject({ kind: 'primary', reason: 'token-ahead' });
  });

  test('the replica with the fewest reads in flight is chosen; ties rotate', async () => {
    const { router, replicas } = setup(['replica1', 'replica2', 'replica3']);
    await router.probeAll();
    const [a, b, c] = replicas.map((replica) => replica.node) as [ReplicaNode<FakeDb>, ReplicaNode<FakeDb>, ReplicaNode<FakeDb>];
    a.inflight = 3;
    b.inflight = 1;
    c.inflight = 2;
    for (let read = 0; read < 6; read += 1) {
      const target = router.chooseRead(null);
      expect(target.kind === 'replica' && target.node.name).toBe('replica2');
    }
    b.inflight = 3;
    c.inflight = 3;
    const chosen = new Set<string>();
    for (let read = 0; read < 6; read += 1) {
      const target = router.chooseRead(null);
      if (target.kind === 'replica') chosen.add(target.node.name);
    }
    expect([...chosen].sort()).toEqual(['replica1', 'replica2', 'replica3']);
  });

  test('a retry excludes the replica that failed', async () => {
    const { router, replicas } = setup(['replica1', 'replica2']);
    await router.probeAll();
    const [first] = replicas as [ScriptedReplica];
    for (let read = 0; read < 4; read += 1) {
      const target = router.chooseRead(null, first.node);
      expect(target).toMatchObject({ kind: 'replica', reason: 'retry' });
      expect(target.kind === 'replica' && target.node.name).toBe('replica2');
    }
  });

  test('fallback reads are capped', () => {
    const { router } = setup(['replica1']);
    expect(router.tryAcquireFallback()).toBe(true);
    expect(router.tryAcquireFallback()).toBe(true);
    expect(router.tryAcquireFallback()).toBe(false);
    router.releaseFallback();
    expect(router.tryAcquireFallback()).toBe(true);
  });

  test('counters: served reads by target and reason; refused ones only by reason', () => {
    const { router } = setup(['replica1']);
    router.countRead('replica1', 'caught-up');
    router.countRead('replica1', 'caught-up');
    router.countRead('primary', 'token-ahead');
    router.countRead('none', 'fallback-capped');
    expect(router.readsByTarget()).toEqual({ replica1: 2, primary: 1 });
    expect(router.readsByReason()).toEqual({ 'caught-up': 2, 'token-ahead': 1, 'fallback-capped': 1 });
  });

  test('with no replica configured every read is a plain primary read, never capped', () => {
    const { router } = setup([]);
    expect(router.chooseRead(123n)).toEqual({ kind: 'primary', reason: 'no-replica', countsAsFallback: false });
  });

  test('the primary being unreachable keeps the last known history (replicas stay usable)', async () => {
    const { router, replicas, primaryDown } = setup(['replica1']);
    await router.probeAll();
    primaryDown();
    await router.probeAll();
    expect(router.primaryReachable).toBe(false);
    expect(replicas[0]?.node.state).toBe('healthy');
    expect(router.chooseRead(null)).toMatchObject({ kind: 'replica' });
  });
});
