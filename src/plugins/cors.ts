import { cors } from '@elysiajs/cors';

/** CORS with credentials for the configured origins only; exposed headers are explicit, never echoed. */
export const corsPlugin = (origins: readonly string[]) =>
  cors({
    origin: [...origins],
    credentials: true,
    methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['content-type', 'x-request-id', 'x-db-lsn', 'idempotency-key', 'authorization'],
    exposeHeaders: ['x-request-id', 'x-db-lsn', 'x-db-target', 'retry-after', 'ratelimit'],
    maxAge: 600,
  });
