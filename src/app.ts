/**
 * Builds the application without listening: src/index.ts serves it, tests call app.handle().
 */
import { Elysia } from 'elysia';
import type { AppConfig } from './config/env';
import type { DatabaseCluster } from './config/database';
import type { Logger } from './lib/logger';
import { notFound } from './lib/errors';
import { healthRoutes } from './modules/health';
import { createLifecycle, type Lifecycle } from './modules/health/service';
import { metricsRoutes } from './modules/metrics';
import { corsPlugin } from './plugins/cors';
import { databasePlugin } from './plugins/database';
import { errorHandler } from './plugins/error-handler';
import { openapiPlugin } from './plugins/openapi';
import { requestContext } from './plugins/request-context';

export type AppDeps = {
  config: AppConfig;
  database: DatabaseCluster;
  logger: Logger;
  lifecycle?: Lifecycle;
};

export function createApp(deps: AppDeps) {
  const { config, database, logger } = deps;
  const lifecycle = deps.lifecycle ?? createLifecycle();
  return new Elysia()
    .use(requestContext({ logger }))
    .use(errorHandler({ logger, isProduction: config.isProduction, bodyLimitBytes: config.bodyLimitBytes }))
    .use(corsPlugin(config.corsOrigins))
    .use(openapiPlugin({ version: config.version, enabled: config.swaggerEnabled }))
    .use(
      databasePlugin({
        database,
        tokenSecret: config.auth.secret,
        tokenTtlS: config.database.lsnTokenTtlS,
        debugHeaders: config.debugHeaders,
        secureCookies: config.auth.baseUrl.startsWith('https://'),
      }),
    )
    .use(healthRoutes({ database, lifecycle, version: config.version }))
    .use(metricsRoutes({ database }))
    .all('*', () => {
      throw notFound('No route matches this path');
    }, { detail: { hide: true } });
}

export type App = ReturnType<typeof createApp>;
