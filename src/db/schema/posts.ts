import { boolean, index, pgTable, text, timestamp, uuid, varchar } from 'drizzle-orm/pg-core';
import { users } from './auth';

export const posts = pgTable(
  'posts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    authorId: text('author_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: varchar('title', { length: 200 }).notNull(),
    content: text('content').notNull(),
    published: boolean('published').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // (created_at, id) serves the newest-first keyset pagination of GET /posts. NULLS FIRST is what
  // `ORDER BY ... DESC` means in PostgreSQL; drizzle's `.desc()` alone writes NULLS LAST, an index
  // the planner cannot use for that order (a Sort over a Seq Scan at 10,000 posts, issue 8).
  (table) => [
    index('posts_created_at_id_idx').on(table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('posts_author_id_idx').on(table.authorId),
  ],
);

export type Post = typeof posts.$inferSelect;
