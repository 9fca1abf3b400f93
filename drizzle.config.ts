import { defineConfig } from 'drizzle-kit';

// Only `bun run db:generate` uses this file: it diffs src/db/schema against drizzle/ and writes SQL.
// Migrations are applied by scripts/db-migrate.ts (advisory lock, replica wait), not by drizzle-kit.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './drizzle',
});
