/**
 * The bare baseline for `bun run bench`: a minimal Bun.serve + postgres-js answering the same
 * queries as the app's /health and GET /posts, with no framework, validation, auth or routing.
 * Deliberately outside src/: it exists only to be compared against.
 */
import postgres from 'postgres';

const port = Number(process.env.BENCH_PORT);
const sql = postgres(process.env.BENCH_DATABASE_URL ?? '', { max: 20, onnotice: () => {} });

const server = Bun.serve({
  port,
  hostname: '127.0.0.1',
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === '/health') return Response.json({ status: 'ok' });
    if (pathname === '/posts') {
      const rows = await sql`select id, author_id, title, content, published, created_at, updated_at
                             from posts where published order by created_at desc, id desc limit 20`;
      return Response.json({ success: true, data: rows });
    }
    return new Response('not found', { status: 404 });
  },
});
process.on('SIGTERM', async () => {
  await server.stop(true);
  await sql.end({ timeout: 1 });
  process.exit(0);
});
