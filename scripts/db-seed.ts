/**
 * bun run db:seed — idempotent demo data: an admin, a moderator and two users (created through
 * Better-Auth's API, so passwords are hashed and credential accounts linked as in a real sign-up),
 * and a few posts, published and draft. Running it again changes nothing. Refuses in production.
 */
import { and, eq } from 'drizzle-orm';
import { DatabaseCluster, posts, type UserRole, users } from '../src/db';
import { loadConfig } from '../src/config/env';
import { createAuth } from '../src/lib/auth';
import { createLogger } from '../src/lib/logger';
import { describeDatabaseError } from './lib/describe';

const config = loadConfig();
if (config.isProduction) {
  console.error('db:seed: refused: NODE_ENV=production');
  process.exit(1);
}
// Demo accounts only: a shared, printed password is the point.
// `||`: an empty SEED_PASSWORD (a blank line in .env) must not create accounts nobody can sign in to.
const password = process.env.SEED_PASSWORD || 'bountyexpo-demo-password';

const people: Array<{ email: string; name: string; role: UserRole }> = [
  { email: 'admin@bountyexpo.dev', name: 'Ada Admin', role: 'admin' },
  { email: 'moderator@bountyexpo.dev', name: 'Mo Derator', role: 'moderator' },
  { email: 'alice@bountyexpo.dev', name: 'Alice Hunter', role: 'user' },
  { email: 'bob@bountyexpo.dev', name: 'Bob Poster', role: 'user' },
];

const demoPosts: Array<{ author: string; title: string; content: string; published: boolean }> = [
  { author: 'alice@bountyexpo.dev', title: 'Welcome to BOUNTYExpo', content: 'Post bounties, claim them, get paid.', published: true },
  { author: 'alice@bountyexpo.dev', title: 'Draft: my next bounty', content: 'Only Alice and admins can see this.', published: false },
  { author: 'bob@bountyexpo.dev', title: 'Fix my bike', content: 'Flat tyre, 20 EUR bounty.', published: true },
  { author: 'admin@bountyexpo.dev', title: 'House rules', content: 'Be kind. No spam.', published: true },
];

const logger = createLogger({ level: 'error', name: 'db:seed' });
let database: DatabaseCluster | null = null;
try {
  database = await DatabaseCluster.open(config.database, logger);
  const primary = database.primary;
  const auth = createAuth({ config, database, logger });
  const ids = new Map<string, string>();
  for (const person of people) {
    const [existing] = await primary.select({ id: users.id }).from(users).where(eq(users.email, person.email));
    if (existing) {
      ids.set(person.email, existing.id);
      console.log(`db:seed: ${person.email} exists`);
      continue;
    }
    const { user } = await auth.api.createUser({ body: { email: person.email, password, name: person.name, role: person.role } });
    ids.set(person.email, user.id);
    console.log(`db:seed: created ${person.role} ${person.email}`);
  }
  for (const post of demoPosts) {
    const authorId = ids.get(post.author);
    if (!authorId) continue;
    const [existing] = await primary.select({ id: posts.id }).from(posts).where(and(eq(posts.authorId, authorId), eq(posts.title, post.title)));
    if (existing) continue;
    await primary.insert(posts).values({ authorId, title: post.title, content: post.content, published: post.published });
    console.log(`db:seed: post "${post.title}"`);
  }
  console.log(`db:seed: done. Sign in (POST /auth/login) as any of ${people.map((person) => person.email).join(', ')} with password "${password}"`);
  await database.close();
} catch (error) {
  console.error(`db:seed: failed: ${describeDatabaseError(error)}`);
  await database?.close();
  process.exit(1);
}
