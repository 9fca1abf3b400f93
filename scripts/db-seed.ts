/**
 * bun run db:seed — idempotent demo data: an admin, a moderator and six users (created through
 * Better-Auth's API, so passwords are hashed and credential accounts linked as in a real sign-up),
 * a few posts, and a lived-in marketplace (scripts/lib/demo-marketplace.ts): profiles, funded
 * wallets, bounties in every state with their history, requests and reviews, all made by the
 * service functions on a clock that starts 30 days ago. The ledger is checked at the end (exit 1
 * if anything is off). Running it again changes nothing. Refuses in production.
 */
import { and, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { DatabaseCluster, posts, selectRows, users } from '../src/db';
import { loadConfig } from '../src/config/env';
import { createAuth } from '../src/lib/auth';
import { createLogger } from '../src/lib/logger';
import { RateLimitStore } from '../src/lib/rate-limit-store';
import { checkLedger } from '../src/modules/ledger';
import { DEMO_PEOPLE, seedMarketplace } from './lib/demo-marketplace';
import { describeDatabaseError } from './lib/describe';

const config = loadConfig();
if (config.isProduction) {
  console.error('db:seed: refused: NODE_ENV=production');
  process.exit(1);
}
// Demo accounts only: a shared, printed password is the point.
// `||`: an empty SEED_PASSWORD (a blank line in .env) must not create accounts nobody can sign in to.
const password = process.env.SEED_PASSWORD || 'bountyexpo-demo-password';

const demoPosts: Array<{ author: string; title: string; content: string; published: boolean }> = [
  { author: 'alice@bountyexpo.dev', title: 'Welcome to BOUNTYExpo', content: 'Post bounties, claim them, get paid.', published: true },
  { author: 'alice@bountyexpo.dev', title: 'Draft: my next bounty', content: 'Only Alice and admins can see this.', published: false },
  { author: 'bob@bountyexpo.dev', title: 'Fix my bike', content: 'Flat tyre, 20 EUR bounty.', published: true },
  { author: 'admin@bountyexpo.dev', title: 'House rules', content: 'Be kind. No spam.', published: true },
];

const countsRow = z.object({ key: z.string(), n: z.coerce.number() });

const logger = createLogger({ level: 'error', name: 'db:seed' });
let database: DatabaseCluster | null = null;
try {
  database = await DatabaseCluster.open(config.database, logger);
  const primary = database.primary;
  const auth = createAuth({ config, database, logger, rateLimitStore: RateLimitStore.overCluster(database, logger) });
  const ids = new Map<string, string>();
  for (const person of DEMO_PEOPLE) {
    const [existing] = await primary.select({ id: users.id }).from(users).where(eq(users.email, person.email));
    if (existing) {
      ids.set(person.email, existing.id);
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

  const marketplace = await seedMarketplace(database, config, ids, (line) => console.log(line), logger);
  if (!marketplace.seeded) console.log(`db:seed: marketplace: ${marketplace.note}`);

  // Every balance must equal its entries and every transaction balance: else the seed is wrong.
  const check = await checkLedger(primary);
  if (check.balanceMismatches.length > 0 || check.unbalancedTransactions.length > 0) {
    console.error(`db:seed: failed: the ledger check found problems: ${JSON.stringify(check)}`);
    await database.close();
    process.exit(1);
  }

  const states = await selectRows(primary, sql`select state || coalesce(' (' || cancel_reason || ')', '') as key, count(*) as n from bounties group by 1 order by 1`, countsRow);
  const requests = await selectRows(primary, sql`select status as key, count(*) as n from bounty_requests group by status order by status`, countsRow);
  const [reviews] = await selectRows(primary, sql`select 'reviews' as key, count(*) as n from bounty_reviews`, countsRow);
  const list = (rows: Array<{ key: string; n: number }>) => rows.map((row) => `${row.key} ${row.n}`).join(', ') || 'none';
  console.log(`db:seed: bounties by state: ${list(states)}`);
  console.log(`db:seed: requests by status: ${list(requests)}; reviews: ${reviews?.n ?? 0}; ledger check: clean`);
  console.log(`db:seed: done. Sign in (POST /auth/login) with password "${password}" as:`);
  for (const person of DEMO_PEOPLE) {
    const what = person.role !== 'user' ? person.role : person.funds ? 'poster, funded wallet' : person.payouts ? 'hunter, payouts enabled' : 'hunter, no payouts yet';
    console.log(`  ${person.email.padEnd(26)} ${person.name} (${what})`);
  }
  await database.close();
} catch (error) {
  console.error(`db:seed: failed: ${describeDatabaseError(error)}`);
  await database?.close();
  process.exit(1);
}
