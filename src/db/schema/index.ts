/** The one schema: every table of the service, a file per domain. */
export * from './auth';
export * from './ledger';
export * from './payments';
export * from './posts';
export * from './marketplace';
export * from './realtime';
export * from './trust';
export * from './rate-limits';
export * from './analytics';
