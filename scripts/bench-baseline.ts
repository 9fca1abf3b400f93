/**
 * The bare baseline for `bun run bench`: a minimal Bun.serve + postgres-js that runs the same
 * queries as the app, on the same nodes, and answers an equivalent JSON body, with no framework,
 * validation, auth, logging or routing layer. The bench's ratios are app / this, so the number
 * says what the app's own layers cost. Deliberately outside src/: it exists only to be compared against.
 *
 *   GET  /health          {status, uptime, version}
 *   GET  /posts           newest published page on the REPLICA (keyset order, limit PAGE_SIZE + 1)
 *   GET  /posts/:id       one published post by id on the REPLICA
 *   POST /posts           insert on the PRIMARY, as BENCH_AUTHOR_ID, returning the row
 *
 * Env: BENCH_PORT, BENCH_PRIMARY_URL, BENCH_REPLICA_URL, BENCH_AUTHOR_ID.
 */
import postgres from 'postgres';

const PAGE_SIZE = 20;
/** The app's DB_POOL_MAX default, so neither side has more connections to queue on. */
const POOL_MAX = 20;
const VERSION = '0.0.0-bare';

const port = Number(process.env.BENCH_PORT);
const authorId = process.env.BENCH_AUTHOR_ID ?? '';
const primary = postgres(process.env.BENCH_PRIMARY_URL ?? '', { max: POOL_MAX, onnotice: () => {} });
const replica = postgres(process.env.BENCH_REPLICA_URL ?? '', { max: POOL_MAX, onnotice: () => {} });
const startedAt = Date.now();

type PostRow = {
  id: string;
  author_id: string;
  title: string;
  content: string;
  published: boolean;
  created_at: Date;
  updated_at: Date;
};

// The app's item shape (camelCase), so both sides serialize the same amount of JSON.
const toView = (row: PostRow) => ({
  id: row.id,
  authorId: row.author_id,
  title: row.title,
  content: row.content,
  published: row.published,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

// The app's cursor: base64url JSON of the last item's (created_at as text, id).
const cursorOf = (row: PostRow & { cursor_at: string }): string =>
  Buffer.from(JSON.stringify({ t: row.cursor_at, i: row.id }), 'utf8').toString('base64url');

async function listPosts(): Promise<Response> {
  const rows = await replica<Array<PostRow & { cursor_at: string }>>`
    select id, author_id, title, content, published, created_at, updated_at, created_at::text as cursor_at
    from posts where published order by created_at desc, id desc limit ${PAGE_SIZE + 1}`;
  const shown = rows.slice(0, PAGE_SIZE);
  const last = shown.at(-1);
  const nextCursor = rows.length > PAGE_SIZE && last ? cursorOf(last) : null;
  return Response.json({ success: true, data: shown.map(toView), pagination: { nextCursor } });
}

async function postById(id: string): Promise<Response> {
  const [row] = await replica<PostRow[]>`
    select id, author_id, title, content, published, created_at, updated_at
    from posts where id = ${id} and published limit 1`;
  return row ? Response.json({ success: true, data: toView(row) }) : Response.json({ success: false }, { status: 404 });
}

type NewPost = { title: string; content: string; published: boolean };

async function createPost(request: Request): Promise<Response> {
  const body = (await request.json()) as NewPost;
  const [row] = await primary<PostRow[]>`
    insert into posts (author_id, title, content, published)
    values (${authorId}, ${body.title}, ${body.content}, ${body.published === true})
    returning id, author_id, title, content, published, created_at, updated_at`;
  return row ? Response.json({ success: true, data: toView(row) }, { status: 201 }) : new Response('no row', { status: 500 });
}

const server = Bun.serve({
  port,
  hostname: '127.0.0.1',
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === '/health') {
      return Response.json({ status: 'ok', uptime: Math.round((Date.now() - startedAt) / 100) / 10, version: VERSION });
    }
    if (pathname === '/posts') return request.method === 'POST' ? createPost(request) : listPosts();
    if (pathname.startsWith('/posts/')) return postById(pathname.slice('/posts/'.length));
    return new Response('not found', { status: 404 });
  },
  // A failed query is a 500 the bench counts as an error, not a crash of the baseline.
  error: (error) => new Response(error.message, { status: 500 }),
});

async function shutdown(): Promise<void> {
  await server.stop(true);
  await Promise.allSettled([primary.end({ timeout: 1 }), replica.end({ timeout: 1 })]);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
