/**
 * Posts. Visibility is one rule applied in SQL: published posts are public; drafts are visible
 * to their author and admins. Changes are one statement whose WHERE carries the permission
 * (author or admin), so "not yours" and "not there" are the same outcome, without a race.
 */
import { and, desc, eq, or, type SQL, sql } from 'drizzle-orm';
import { type DatabaseSession, type Post, posts, type UserRole } from '../../db';
import { definedFields, type KeysetCursor, keysetPage } from '../../lib/validation';
import type { PostView } from './schemas';

/** Who is asking: null for anonymous. */
export type Viewer = { id: string; role: UserRole } | null;

export const toPostView = (post: Post): PostView => ({
  id: post.id,
  authorId: post.authorId,
  title: post.title,
  content: post.content,
  published: post.published,
  createdAt: post.createdAt,
  updatedAt: post.updatedAt,
});

function visibleTo(viewer: Viewer): SQL | undefined {
  if (viewer?.role === 'admin') return undefined;
  if (viewer) return or(eq(posts.published, true), eq(posts.authorId, viewer.id));
  return eq(posts.published, true);
}

/** Author or admin; undefined means "no extra condition". */
function editableBy(actor: NonNullable<Viewer>): SQL | undefined {
  return actor.role === 'admin' ? undefined : eq(posts.authorId, actor.id);
}

export type PostPage = { items: PostView[]; nextCursor: string | null };

export async function listPosts(db: DatabaseSession, viewer: Viewer, options: { limit: number; cursor: KeysetCursor | null }): Promise<PostPage> {
  const conditions = [visibleTo(viewer)];
  if (options.cursor) {
    conditions.push(sql`(${posts.createdAt}, ${posts.id}) < (${options.cursor.t}::timestamptz, ${options.cursor.i}::uuid)`);
  }
  const rows = await db.read((reader) =>
    reader
      .select({ post: posts, cursorAt: sql<string>`${posts.createdAt}::text` })
      .from(posts)
      .where(and(...conditions))
      .orderBy(desc(posts.createdAt), desc(posts.id))
      .limit(options.limit + 1),
  );
  return keysetPage(rows, options.limit, (row) => toPostView(row.post), (row) => ({ t: row.cursorAt, i: row.post.id }));
}

export async function findVisiblePost(db: DatabaseSession, viewer: Viewer, id: string): Promise<PostView | null> {
  const [row] = await db.read((reader) => reader.select().from(posts).where(and(eq(posts.id, id), visibleTo(viewer))).limit(1));
  return row ? toPostView(row) : null;
}

export type NewPost = { title: string; content: string; published?: boolean | undefined };

export async function createPost(db: DatabaseSession, authorId: string, input: NewPost): Promise<PostView> {
  const [row] = await db.write((writer) =>
    writer.insert(posts).values({ authorId, title: input.title, content: input.content, published: input.published ?? false }).returning(),
  );
  if (!row) throw new Error('insert into posts returned no row');
  return toPostView(row);
}

export type PostChanges = { title?: string | undefined; content?: string | undefined; published?: boolean | undefined };

export async function updatePost(db: DatabaseSession, actor: NonNullable<Viewer>, id: string, changes: PostChanges): Promise<PostView | null> {
  const values = { ...definedFields(changes), updatedAt: new Date() };
  const [row] = await db.write((writer) =>
    writer.update(posts).set(values).where(and(eq(posts.id, id), editableBy(actor))).returning(),
  );
  return row ? toPostView(row) : null;
}

export async function deletePost(db: DatabaseSession, actor: NonNullable<Viewer>, id: string): Promise<boolean> {
  const deleted = await db.write((writer) =>
    writer.delete(posts).where(and(eq(posts.id, id), editableBy(actor))).returning({ id: posts.id }),
  );
  return deleted.length > 0;
}
