/**
 * Posts. Visibility is one rule applied in SQL: published posts are public; drafts are visible
 * to their author and admins. Changes are one statement whose WHERE carries the permission
 * (author or admin), so "not yours" and "not there" are the same outcome, without a race.
 */
import type { Viewer } from '../../lib/auth';
import { and, desc, eq, or, type SQL, sql } from 'drizzle-orm';
import { type DatabaseSession, type Post, posts, preparedPerHandle } from '../../db';
import { definedFields, type KeysetCursor, keysetPage } from '../../lib/validation';
import type { PostView } from './schemas';


export const toPostView = (post: Post): PostView => ({
  id: post.id,
  authorId: post.authorId,
  title: post.title,
  content: post.content,
  published: post.published,
  createdAt: post.createdAt,
  updatedAt: post.updatedAt,
});

/** Who sees what, as one of three fixed shapes (so each shape's query can be prepared once). */
type Audience = 'anonymous' | 'member' | 'admin';
const audienceOf = (viewer: Viewer): Audience => (viewer === null ? 'anonymous' : viewer.role === 'admin' ? 'admin' : 'member');

/** The visibility rule in SQL; a member's own id is the `viewerId` placeholder. */
function visibleTo(audience: Audience): SQL | undefined {
  if (audience === 'admin') return undefined;
  if (audience === 'member') return or(eq(posts.published, true), eq(posts.authorId, sql.placeholder('viewerId')));
  return eq(posts.published, true);
}

const perAudience = <T>(make: (audience: Audience) => T): Record<Audience, T> => ({
  anonymous: make('anonymous'),
  member: make('member'),
  admin: make('admin'),
});

const findQueries = perAudience((audience) =>
  preparedPerHandle((db) =>
    db.select().from(posts).where(and(eq(posts.id, sql.placeholder('id')), visibleTo(audience))).limit(1).prepare(`posts_find_${audience}`),
  ),
);

const pageQuery = (audience: Audience, afterCursor: boolean) =>
  preparedPerHandle((db) =>
    db
      .select({ post: posts, cursorAt: sql<string>`${posts.createdAt}::text` })
      .from(posts)
      .where(
        and(
          visibleTo(audience),
          afterCursor ? sql`(${posts.createdAt}, ${posts.id}) < (${sql.placeholder('t')}::timestamptz, ${sql.placeholder('i')}::uuid)` : undefined,
        ),
      )
      .orderBy(desc(posts.createdAt), desc(posts.id))
      .limit(sql.placeholder('limit'))
      .prepare(`posts_page_${audience}${afterCursor ? '_after' : ''}`),
  );
const firstPageQueries = perAudience((audience) => pageQuery(audience, false));
const nextPageQueries = perAudience((audience) => pageQuery(audience, true));

/** Author or admin; undefined means "no extra condition". */
function editableBy(actor: NonNullable<Viewer>): SQL | undefined {
  return actor.role === 'admin' ? undefined : eq(posts.authorId, actor.id);
}

export type PostPage = { items: PostView[]; nextCursor: string | null };

export async function listPosts(db: DatabaseSession, viewer: Viewer, options: { limit: number; cursor: KeysetCursor | null }): Promise<PostPage> {
  const audience = audienceOf(viewer);
  const { cursor } = options;
  const values = { viewerId: viewer?.id, limit: options.limit + 1 };
  const rows = await db.read((reader) =>
    cursor ? nextPageQueries[audience](reader).execute({ ...values, t: cursor.t, i: cursor.i }) : firstPageQueries[audience](reader).execute(values),
  );
  return keysetPage(rows, options.limit, (row) => toPostView(row.post), (row) => ({ t: row.cursorAt, i: row.post.id }));
}

export async function findVisiblePost(db: DatabaseSession, viewer: Viewer, id: string): Promise<PostView | null> {
  const [row] = await db.read((reader) => findQueries[audienceOf(viewer)](reader).execute({ id, viewerId: viewer?.id }));
  return row ? toPostView(row) : null;
}

export type NewPost = { title: string; content: string; published?: boolean | undefined };

const insertPost = preparedPerHandle((db) =>
  db
    .insert(posts)
    .values({
      authorId: sql.placeholder('authorId'),
      title: sql.placeholder('title'),
      content: sql.placeholder('content'),
      published: sql.placeholder('published'),
    })
    .returning()
    .prepare('posts_insert'),
);

export async function createPost(db: DatabaseSession, authorId: string, input: NewPost): Promise<PostView> {
  const [row] = await db.write((writer) =>
    insertPost(writer).execute({ authorId, title: input.title, content: input.content, published: input.published ?? false }),
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
