/**
 * Hears new outbox ids on the bus and enqueues their fan-out jobs (skeleton: being written).
 */
import type { JobQueue } from '../../jobs';
import type { Logger } from '../../lib/logger';
import type { BusSubscriber } from '../realtime/bus';

export const outboxRelay = (_deps: { jobs: JobQueue; logger: Logger }): BusSubscriber => ({
  onMessage() {},
});
