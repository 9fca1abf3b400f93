/**
 * The OpenAPI 3.1 document at /swagger/json and Swagger UI at /swagger, built from the routes'
 * zod schemas. Dates become date-time strings (zod cannot represent Date in JSON Schema).
 */
import { openapi } from '@elysiajs/openapi';
import { z } from 'zod';

export const toJsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, {
    unrepresentable: 'any',
    io: 'output',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def;
      if (def.type === 'date') {
        ctx.jsonSchema.type = 'string';
        ctx.jsonSchema.format = 'date-time';
      }
    },
  });

export const openapiPlugin = (options: { version: string; enabled: boolean }) =>
  openapi({
    enabled: options.enabled,
    path: '/swagger',
    specPath: '/swagger/json',
    provider: 'swagger-ui',
    mapJsonSchema: { zod: toJsonSchema },
    exclude: { paths: ['/swagger', '/swagger/json'] },
    documentation: {
      info: {
        title: 'BOUNTYExpo API',
        version: options.version,
        description: 'The one BOUNTYExpo backend. Errors: { success: false, message, error, details? }.',
      },
      tags: [
        { name: 'health', description: 'Probes for load balancers' },
        { name: 'metrics', description: 'Prometheus metrics' },
      ],
    },
  });
