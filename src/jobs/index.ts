/**
 * The job queue's entry: the queue (pg-boss over our pools, queue.ts) and its database adapter
 * (adapter.ts). The list of job types is src/job-definitions.ts, beside app.ts: it imports the
 * modules' job files, which import this entry.
 */
export { type DriverValue, executeSqlOn, type SqlExecutor, type SqlResult, toDriverParameters } from './adapter';
export {
  type AnyJobDefinition,
  DEFAULT_SCHEMA,
  type DeadLetter,
  deadLetterQueueOf,
  defineJob,
  type JobContext,
  type JobDefinition,
  JobPayloadError,
  JobQueue,
  persistentRetry,
  type JobQueueOptions,
  type JobSnapshot,
  type JobState,
  type QueueDepth,
  type RetryTiming,
  type SendJobOptions,
} from './queue';
