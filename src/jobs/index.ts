/**
 * The job queue's entry: the queue (pg-boss over our pools, queue.ts) and its database adapter
 * (adapter.ts). The list of job types (registry.ts) is imported by the processes, not from here:
 * it imports the modules' job files, which import this entry.
 */
export { type DriverValue, executeSqlOn, type SqlExecutor, type SqlResult, toDriverParameters } from './adapter';
export {
  type AnyJobDefinition,
  DEFAULT_SCHEMA,
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
  type RetryTiming,
  type SendJobOptions,
} from './queue';
