/**
 * The demo marketplace `bun run db:seed` loads: people with filled-in profiles, wallets funded
 * through the ledger, and bounties in every state with their history, requests and reviews.
 *
 * Nothing is inserted behind the lifecycle's back: every bounty is created, published, applied
 * to, accepted, submitted, disputed, cancelled and reviewed by the service functions the routes
 * call (src/modules/bounties/actions.ts, requests/service.ts, profiles/reviews.ts), on a
 * DatabaseSession, with a seed clock that starts 30 days ago and moves forward step by step.
 * Each time it moves, the due timers fire (fireDueTimers, as the `bounties.timers` job does), so
 * the expiry and the auto-approval below are the timers' own work. Only the payout accounts are
 * written directly, as the Connect webhook (`account.updated`) would leave them.
 *
 * Idempotent as a whole: when the demo bounties exist, nothing is done (see seedMarketplace).
 */
import { and, eq, inArray } from 'drizzle-orm';
import type { AppConfig } from '../../src/config/env';
import { bounties, connectAccounts, type DatabaseCluster, type DatabaseSession, type UserRole, users } from '../../src/db';
import {
  acceptMutualCancel,
  approveWork,
  cancelBounty,
  type LifecycleDeps,
  openDisputeOn,
  proposeMutualCancel,
  publishFromWallet,
  requestChanges,
  resolveDispute,
  respondToDispute,
  submitWork,
} from '../../src/modules/bounties/actions';
import { createBounty, type NewBounty } from '../../src/modules/bounties/service';
import { fireDueTimers } from '../../src/modules/bounties/timers';
import { creditFromStripe } from '../../src/modules/ledger';
import { createReview } from '../../src/modules/profiles/reviews';
import type { ProfileChanges } from '../../src/modules/profiles/schemas';
import { updateOwnProfile } from '../../src/modules/profiles/service';
import { acceptRequest, applyToBounty, withdrawRequest } from '../../src/modules/requests/service';
import { HttpError } from '../../src/lib/errors';
import type { Logger } from '../../src/lib/logger';
import { describeDatabaseError } from './describe';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export type DemoPerson = {
  email: string;
  name: string;
  role: UserRole;
  /** What the person fills in on their profile (PATCH /profiles/me). */
  profile?: ProfileChanges;
  /** Payouts enabled (a Stripe Connect account as onboarding leaves it): needed to be accepted. */
  payouts?: boolean;
  /** Demo money put in their wallet, in cents (a deposit's ledger posting). */
  funds?: number;
};

export const DEMO_PEOPLE: DemoPerson[] = [
  { email: 'admin@bountyexpo.dev', name: 'Ada Admin', role: 'admin' },
  { email: 'moderator@bountyexpo.dev', name: 'Mo Derator', role: 'moderator' },
  {
    email: 'alice@bountyexpo.dev',
    name: 'Alice Hunter',
    role: 'user',
    payouts: true,
    profile: {
      headline: 'Backend developer: APIs, databases, data clean-up',
      bio: 'Ten years of Python and TypeScript. I like small, well-specified jobs and I write down what I changed.',
      skills: ['TypeScript', 'PostgreSQL', 'Python', 'Data cleaning'],
      remote: true,
      location: { name: 'Berlin, Germany', latitude: 52.52, longitude: 13.405 },
      links: [{ label: 'GitHub', url: 'https://github.com/alice-hunter-demo' }],
    },
  },
  {
    email: 'bob@bountyexpo.dev',
    name: 'Bob Poster',
    role: 'user',
    funds: 100_000,
    profile: {
      headline: 'Runs a bike repair shop in Kreuzberg',
      bio: 'I post the jobs I never get round to: the website, the paperwork, the odd errand across town.',
      skills: ['Bikes', 'Small business'],
      remote: false,
      location: { name: 'Berlin, Germany', latitude: 52.4986, longitude: 13.4031 },
    },
  },
  {
    email: 'carol@bountyexpo.dev',
    name: 'Carol Baker',
    role: 'user',
    funds: 120_000,
    profile: {
      headline: 'Owner of two bakeries in Lisbon',
      bio: 'Pastries by day, spreadsheets by night. I hire for design, photos and the online shop.',
      skills: ['Baking', 'Retail'],
      remote: false,
      location: { name: 'Lisbon, Portugal', latitude: 38.7139, longitude: -9.1394 },
    },
  },
  {
    email: 'dave@bountyexpo.dev',
    name: 'Dave Okafor',
    role: 'user',
    payouts: true,
    profile: {
      headline: 'Full-stack developer, e-commerce and integrations',
      bio: 'Shopify, Stripe, newsletters, anything with a webhook. Based in Lagos, working remotely across time zones.',
      skills: ['JavaScript', 'React', 'Stripe', 'Email marketing'],
      remote: true,
      location: { name: 'Lagos, Nigeria', latitude: 6.5244, longitude: 3.3792 },
      links: [{ label: 'Portfolio', url: 'https://dave-okafor-demo.example.com' }],
    },
  },
  {
    email: 'erin@bountyexpo.dev',
    name: 'Erin Novak',
    role: 'user',
    payouts: true,
    profile: {
      headline: 'Designer and photographer',
      bio: 'Brand identities, menus, product photos. Happy to travel for a shoot within Europe.',
      skills: ['Illustration', 'Photography', 'Figma', 'German'],
      remote: true,
      location: { name: 'Lisbon, Portugal', latitude: 38.7223, longitude: -9.1393 },
      links: [{ label: 'Dribbble', url: 'https://dribbble.com/erin-novak-demo' }],
    },
  },
  {
    email: 'frank@bountyexpo.dev',
    name: 'Frank Meyer',
    role: 'user',
    // No payouts yet: his applications carry the "set up payouts" warning and cannot be accepted.
    profile: {
      headline: 'Copywriter, new here',
      bio: 'Product copy and short descriptions in English and German.',
      skills: ['Copywriting', 'German'],
      remote: true,
    },
  },
];

/** The demo marketplace's bounties (by title): they exist once it is seeded. */
type Story = { title: string; poster: string; bountyId: string; hunter: string | null; requests: Map<string, string> };

type PlannedStep = { at: number; order: number; what: string; run: () => Promise<void> };

export type MarketplaceSeedResult = { seeded: boolean; note: string };

/**
 * Seeds the marketplace once. `ids` maps each DEMO_PEOPLE email to its user id. Returns whether
 * it seeded; when every demo bounty exists already it does nothing, and when only some do (an
 * earlier run stopped half-way) it does nothing either and says how to start over.
 */
export async function seedMarketplace(
  database: DatabaseCluster,
  config: AppConfig,
  ids: ReadonlyMap<string, string>,
  log: (line: string) => void,
  /** Where a timer that fails is logged (fireDueTimers retries it later and goes on). */
  logger?: Logger,
): Promise<MarketplaceSeedResult> {
  const id = (email: string): string => {
    const found = ids.get(email);
    if (!found) throw new Error(`db:seed: no user ${email}`);
    return found;
  };
  const actor = (email: string) => ({ id: id(email), role: DEMO_PEOPLE.find((person) => person.email === email)?.role ?? 'user' });

  const planned: Array<{ poster: string; title: string }> = [];
  const plan = buildPlan((poster, title) => planned.push({ poster, title }));
  const existing = await database.primary
    .select({ title: bounties.title, posterId: bounties.posterId })
    .from(bounties)
    .where(and(inArray(bounties.posterId, [...new Set(planned.map((story) => id(story.poster)))]), inArray(bounties.title, planned.map((story) => story.title))));
  if (existing.length >= planned.length) return { seeded: false, note: 'the demo marketplace exists' };
  if (existing.length > 0) {
    return {
      seeded: false,
      note: `only ${existing.length} of the ${planned.length} demo bounties exist (an earlier run stopped half-way?): left as they are; bun run db:reset, then db:seed, starts over`,
    };
  }

  // The seed clock: 30 days ago, at midnight UTC; steps happen at given days and hours after it.
  const realNow = Date.now();
  const start = Math.floor((realNow - 30 * DAY_MS) / DAY_MS) * DAY_MS;
  let current = start;
  const now = () => new Date(current);
  const session = (): DatabaseSession => database.session();
  const deps = (): LifecycleDeps => ({ db: session(), marketplace: { settings: config.marketplace }, now });
  const settings = config.marketplace;

  // Payout accounts, as Stripe's account.updated leaves a finished onboarding.
  for (const person of DEMO_PEOPLE.filter((candidate) => candidate.payouts)) {
    await database.primary
      .insert(connectAccounts)
      .values({
        userId: id(person.email),
        stripeAccountId: `acct_demo_${person.email.split('@')[0]}`,
        detailsSubmitted: true,
        chargesEnabled: true,
        payoutsEnabled: true,
        stateAt: new Date(start),
      })
      .onConflictDoNothing();
  }

  // Profiles, through the owner's own update.
  for (const person of DEMO_PEOPLE) {
    if (!person.profile) continue;
    const [owner] = await database.primary.select({ id: users.id, name: users.name, createdAt: users.createdAt }).from(users).where(eq(users.id, id(person.email)));
    if (owner) await updateOwnProfile(session(), owner, person.profile, new Date(start));
  }

  // Wallets: one demo deposit each, keyed so that it can only ever be posted once.
  for (const person of DEMO_PEOPLE) {
    if (!person.funds) continue;
    const userId = id(person.email);
    const effectKey = `seed:demo-funds:${userId}`;
    await database.primary.transaction((tx) =>
      creditFromStripe(tx, {
        userId,
        amount: person.funds ?? 0,
        currency: 'usd',
        effectKey,
        description: 'Demo funds (db:seed)',
        reference: { type: 'seed', id: effectKey },
      }),
    );
  }

  // The stories, step by step in one timeline; due timers fire each time the clock moves.
  const steps = plan.steps({
    at: (day, hour = 10) => start + day * DAY_MS + hour * HOUR_MS,
    fromNow: (days) => Math.floor(realNow / DAY_MS) * DAY_MS + days * DAY_MS + 18 * HOUR_MS,
    actor,
    deps,
    session,
    now,
    settings,
  });
  steps.sort((a, b) => a.at - b.at || a.order - b.order);
  for (const step of steps) {
    if (step.at > realNow) throw new Error(`db:seed: step "${step.what}" is planned in the future`);
    if (step.at > current) {
      current = step.at;
      await fireDueTimers(database.primary, { settings, now }, logger);
    }
    try {
      await step.run();
    } catch (error) {
      // Without `cause`: the script prints the innermost error's message, and this one names the step.
      const reason = error instanceof HttpError ? `${error.code}: ${error.message}` : describeDatabaseError(error);
      throw new Error(`step "${step.what}" failed: ${reason}`);
    }
  }
  log(`db:seed: demo marketplace: ${planned.length} bounties over the last 30 days`);
  return { seeded: true, note: 'the demo marketplace was created' };
}

type PlanTools = {
  /** A moment `day` days (and `hour` hours) after the seed clock's start. */
  at: (day: number, hour?: number) => number;
  /** 18:00 UTC, `days` days from today (deadlines of the bounties that stay open). */
  fromNow: (days: number) => number;
  actor: (email: string) => { id: string; role: UserRole };
  deps: () => LifecycleDeps;
  session: () => DatabaseSession;
  now: () => Date;
  settings: AppConfig['marketplace'];
};

type BountyInput = Omit<NewBounty, 'title' | 'deadline' | 'maxRevisions' | 'tags' | 'remote' | 'reward' | 'location'> & {
  reward: number;
  tags?: string[];
  location?: NewBounty['location'];
  maxRevisions?: number;
};

const ALICE = 'alice@bountyexpo.dev';
const BOB = 'bob@bountyexpo.dev';
const CAROL = 'carol@bountyexpo.dev';
const DAVE = 'dave@bountyexpo.dev';
const ERIN = 'erin@bountyexpo.dev';
const FRANK = 'frank@bountyexpo.dev';
const ADMIN = 'admin@bountyexpo.dev';

const BERLIN = { name: 'Kreuzberg, Berlin', latitude: 52.4986, longitude: 13.4031, radiusKm: 5 };
const LISBON = { name: 'Baixa, Lisbon', latitude: 38.7107, longitude: -9.1366, radiusKm: 10 };

/**
 * The stories. `declare` is called with each bounty's poster and title first (to find out whether
 * they exist); `steps` then turns them into dated steps.
 */
function buildPlan(declare: (poster: string, title: string) => void) {
  type Builder = (tools: PlanTools, story: Story, add: (at: number, what: string, run: () => Promise<void>) => void) => void;
  const stories: Array<{ story: Story; build: Builder }> = [];
  const story = (poster: string, title: string, build: Builder) => {
    declare(poster, title);
    stories.push({ story: { title, poster, bountyId: '', hunter: null, requests: new Map() }, build });
  };

  // Step helpers, each one service call on behalf of one person.
  const create = (tools: PlanTools, s: Story, input: BountyInput, deadline: number) => async () => {
    const bounty = await createBounty(
      tools.session(),
      tools.actor(s.poster).id,
      {
        title: s.title,
        description: input.description,
        criteria: input.criteria,
        reward: { amount: input.reward, currency: 'usd' },
        category: input.category,
        tags: input.tags ?? [],
        remote: input.location === undefined,
        location: input.location,
        deadline: new Date(deadline).toISOString(),
        maxRevisions: input.maxRevisions ?? 2,
      },
      tools.now(),
    );
    s.bountyId = bounty.id;
  };
  const publish = (tools: PlanTools, s: Story) => async () => {
    await publishFromWallet(tools.deps(), tools.actor(s.poster), s.bountyId);
  };
  const apply = (tools: PlanTools, s: Story, hunter: string, message: string, extra: { approach?: string; etaDays?: number } = {}) => async () => {
    const request = await applyToBounty(tools.session(), { settings: tools.settings }, tools.actor(hunter), s.bountyId, { message, ...extra }, tools.now());
    s.requests.set(hunter, request.id);
  };
  const accept = (tools: PlanTools, s: Story, hunter: string) => async () => {
    const requestId = s.requests.get(hunter);
    if (!requestId) throw new Error(`${hunter} has not applied to "${s.title}"`);
    await acceptRequest(tools.session(), { settings: tools.settings }, tools.actor(s.poster), requestId, tools.now());
    s.hunter = hunter;
  };
  const hunterOf = (s: Story): string => {
    if (!s.hunter) throw new Error(`"${s.title}" has no hunter`);
    return s.hunter;
  };
  const submit = (tools: PlanTools, s: Story, message: string, links: string[]) => async () => {
    await submitWork(tools.deps(), tools.actor(hunterOf(s)), s.bountyId, { message, links });
  };
  const review = (tools: PlanTools, s: Story, side: 'poster' | 'hunter', rating: number, text: string) => async () => {
    const reviewer = side === 'poster' ? s.poster : hunterOf(s);
    await createReview(tools.session(), tools.actor(reviewer), s.bountyId, { rating, text }, { now: tools.now(), windowDays: tools.settings.reviewWindowDays });
  };

  // --- A draft ------------------------------------------------------------------------------------
  story(BOB, 'New logo for the bike shop', (t, s, add) => {
    add(t.at(28, 21), 'Bob drafts a logo bounty', create(t, s, {
      description: 'Our logo is a clip-art bicycle from 2009. I would like something simple that works on the shop sign, stickers and the website.',
      criteria: ['Three initial sketches', 'Final logo as SVG and PNG', 'Works in one colour'],
      reward: 25_000,
      category: 'design',
      tags: ['logo', 'branding'],
    }, t.fromNow(40)));
  });

  // --- Open, with requests (pending, one withdrawn, one from a hunter without payouts) -------------
  story(BOB, 'Fix the checkout page on small screens', (t, s, add) => {
    add(t.at(19), 'Bob drafts the checkout fix', create(t, s, {
      description: 'The checkout page of our web shop breaks below 400 px: the totals disappear and the pay button is cut off. Make it responsive.',
      criteria: ['Works at 320 px wide', 'Totals stay visible while scrolling', 'No new console errors'],
      reward: 15_000,
      category: 'development',
      tags: ['css', 'web', 'responsive'],
    }, t.fromNow(21)));
    add(t.at(19, 11), 'Bob publishes the checkout fix', publish(t, s));
    add(t.at(20, 9), 'Alice applies to the checkout fix', apply(t, s, ALICE, 'I fixed the same layout bug for two other shops last month.', { approach: 'CSS grid for the summary, sticky totals, test on real devices.', etaDays: 3 }));
    add(t.at(21, 15), 'Frank applies to the checkout fix', apply(t, s, FRANK, 'I am learning CSS and would love to try this one.'));
    add(t.at(22, 8), 'Dave applies to the checkout fix', apply(t, s, DAVE, 'Happy to help, I can start on Monday.', { etaDays: 5 }));
    add(t.at(23, 18), 'Dave withdraws his request', async () => {
      const requestId = s.requests.get(DAVE);
      if (requestId) await withdrawRequest(t.session(), t.actor(DAVE), requestId, t.now());
    });
  });

  story(CAROL, 'Photograph the new pastry counter', (t, s, add) => {
    add(t.at(24), 'Carol drafts the photo shoot', create(t, s, {
      description: 'We rebuilt the counter of our Baixa shop. I need 15 bright photos of it with the morning pastries, for the website and Instagram.',
      criteria: ['15 edited photos', 'Landscape and square crops', 'Shot before 10 am with the full display'],
      reward: 20_000,
      category: 'design',
      tags: ['photography', 'instagram'],
      location: LISBON,
    }, t.fromNow(14)));
    add(t.at(24, 12), 'Carol publishes the photo shoot', publish(t, s));
    add(t.at(25, 10), 'Erin applies to the photo shoot', apply(t, s, ERIN, 'I live ten minutes away and shoot food regularly.', { etaDays: 2 }));
  });

  story(BOB, 'Pick up a cargo bike from the workshop', (t, s, add) => {
    add(t.at(27), 'Bob drafts the errand', create(t, s, {
      description: 'A customer cargo bike is ready at our second workshop in Neukölln. Ride it back to the shop in Kreuzberg (about 4 km).',
      criteria: ['Bike delivered before closing time', 'Photo of the bike at the shop'],
      reward: 3_500,
      category: 'errands',
      tags: ['delivery', 'cycling'],
      location: BERLIN,
    }, t.fromNow(7)));
    add(t.at(27, 12), 'Bob publishes the errand', publish(t, s));
  });

  story(CAROL, 'Write descriptions for twelve pastries', (t, s, add) => {
    add(t.at(25, 14), 'Carol drafts the copywriting job', create(t, s, {
      description: 'Short, appetising descriptions (40-60 words) of twelve pastries for the online shop, in English. Ingredients list provided.',
      criteria: ['Twelve descriptions of 40-60 words', 'Allergens mentioned', 'Friendly, not over the top'],
      reward: 8_000,
      category: 'writing',
      tags: ['copywriting', 'food'],
    }, t.fromNow(20)));
    add(t.at(25, 15), 'Carol publishes the copywriting job', publish(t, s));
    add(t.at(26, 9), 'Frank applies to the copywriting job', apply(t, s, FRANK, 'Food writing is my favourite kind of copy.', { etaDays: 4 }));
  });

  story(BOB, "Analyse last year's repair tickets", (t, s, add) => {
    add(t.at(26), 'Bob drafts the data job', create(t, s, {
      description: 'We have a CSV export of 3,000 repair tickets from last year. Which repairs take longest, and which parts should we stock more of?',
      criteria: ['A short report with three charts', 'The cleaned CSV', 'The queries or notebook used'],
      reward: 12_000,
      category: 'data',
      tags: ['csv', 'sql', 'analysis'],
    }, t.fromNow(25)));
    add(t.at(26, 11), 'Bob publishes the data job', publish(t, s));
    add(t.at(27, 16), 'Alice applies to the data job', apply(t, s, ALICE, 'I can do this in pandas and hand over the notebook.', { etaDays: 4 }));
    add(t.at(28, 10), 'Dave applies to the data job', apply(t, s, DAVE, 'SQL is my thing: I will load it into SQLite and send the queries.', { etaDays: 6 }));
  });

  // --- In progress (the others' requests rejected as filled) ---------------------------------------
  story(CAROL, 'Set up online ordering on the bakery site', (t, s, add) => {
    add(t.at(22), 'Carol drafts online ordering', create(t, s, {
      description: 'Customers should be able to order cakes for pick-up on our website and pay by card. We use a simple static site today.',
      criteria: ['Order form with pick-up date', 'Card payment', 'Order e-mail to the shop', 'Works on phones'],
      reward: 40_000,
      category: 'development',
      tags: ['stripe', 'web', 'e-commerce'],
    }, t.fromNow(18)));
    add(t.at(22, 11), 'Carol publishes online ordering', publish(t, s));
    add(t.at(22, 17), 'Dave applies to online ordering', apply(t, s, DAVE, 'I have built pick-up ordering for three restaurants.', { approach: 'Stripe Checkout plus a small form; no new hosting needed.', etaDays: 10 }));
    add(t.at(23, 9), 'Alice applies to online ordering', apply(t, s, ALICE, 'Backend person, happy to do it with a simple serverless function.', { etaDays: 12 }));
    add(t.at(24, 10), 'Carol accepts Dave', accept(t, s, DAVE));
  });

  // --- Submitted (waiting for Bob's review; auto-approves a week after the submission) -------------
  story(BOB, "Translate the shop's website to German", (t, s, add) => {
    add(t.at(20), 'Bob drafts the translation', create(t, s, {
      description: 'Our website is English only. Translate the six pages (about 2,000 words) into German, keeping the bike terms right.',
      criteria: ['All six pages translated', 'Bike part names as German mechanics say them', 'Delivered as a shared document'],
      reward: 9_000,
      category: 'writing',
      tags: ['translation', 'german'],
    }, t.fromNow(10)));
    add(t.at(20, 10), 'Bob publishes the translation', publish(t, s));
    add(t.at(20, 14), 'Erin applies to the translation', apply(t, s, ERIN, 'German is my first language and I ride a lot.', { etaDays: 5 }));
    add(t.at(21, 9), 'Bob accepts Erin', accept(t, s, ERIN));
    add(t.at(27, 17), 'Erin submits the translation', submit(t, s, 'All six pages are translated; notes on two terms at the top of the document.', ['https://docs.example.com/d/bike-shop-de']));
  });

  // --- Changes requested --------------------------------------------------------------------------
  story(CAROL, 'Design a loyalty card', (t, s, add) => {
    add(t.at(13), 'Carol drafts the loyalty card', create(t, s, {
      description: 'A stamp card for our regulars: ten stamps, the tenth coffee free. Business-card size, printable at the shop next door.',
      criteria: ['Front and back design', 'Print-ready PDF with bleed', 'Matches our colours'],
      reward: 6_000,
      category: 'design',
      tags: ['print', 'branding'],
    }, t.fromNow(12)));
    add(t.at(13, 11), 'Carol publishes the loyalty card', publish(t, s));
    add(t.at(14, 10), 'Erin applies to the loyalty card', apply(t, s, ERIN, 'I designed the menus for two cafés in Alfama.', { etaDays: 4 }));
    add(t.at(15, 9), 'Carol accepts Erin', accept(t, s, ERIN));
    add(t.at(19, 16), 'Erin submits the loyalty card', submit(t, s, 'Two variants attached, both print-ready.', ['https://files.example.com/loyalty-card-v1.pdf']));
    add(t.at(21, 10), 'Carol asks for changes', async () => {
      await requestChanges(t.deps(), t.actor(CAROL), s.bountyId, { message: 'Lovely! But the teal is not ours: please use the colours from the brand sheet.', criteria: [3] });
    });
  });

  // --- Disputed (the poster disputes, the hunter answers; an admin rules next) ---------------------
  story(BOB, 'Build an inventory spreadsheet', (t, s, add) => {
    add(t.at(10), 'Bob drafts the inventory sheet', create(t, s, {
      description: 'A spreadsheet for our spare parts: stock levels, reorder points, and a sheet that lists what to order each Monday.',
      criteria: ['All 180 parts from our list', 'Reorder sheet updates by itself', 'Works in Google Sheets'],
      reward: 10_000,
      category: 'data',
      tags: ['spreadsheet', 'inventory'],
    }, t.fromNow(5)));
    add(t.at(10, 12), 'Bob publishes the inventory sheet', publish(t, s));
    add(t.at(11, 9), 'Alice applies to the inventory sheet', apply(t, s, ALICE, 'Spreadsheets with formulas that do not break: my speciality.', { etaDays: 5 }));
    add(t.at(12, 10), 'Bob accepts Alice', accept(t, s, ALICE));
    add(t.at(17, 18), 'Alice submits the inventory sheet', submit(t, s, 'Sheet shared; the Monday tab filters everything under its reorder point.', ['https://sheets.example.com/inventory']));
    add(t.at(19, 9), 'Bob asks for changes to the sheet', async () => {
      await requestChanges(t.deps(), t.actor(BOB), s.bountyId, { message: 'Only 150 of the 180 parts are in.', criteria: [1] });
    });
    add(t.at(22, 15), 'Alice submits the sheet again', submit(t, s, 'The remaining parts are in; some had duplicate numbers in your list, see the notes tab.', ['https://sheets.example.com/inventory']));
    add(t.at(27, 11), 'Bob disputes the sheet', async () => {
      await openDisputeOn(t.deps(), t.actor(BOB), s.bountyId, { reason: 'The reorder sheet still needs manual sorting, which is what I wanted to avoid.', criteria: [2] });
    });
    add(t.at(28, 9), 'Alice answers the dispute', async () => {
      await respondToDispute(t.deps(), t.actor(ALICE), s.bountyId, { message: 'It updates by itself; sorting is one click and was never in the criteria.' });
    });
  });

  // --- Completed: approved, reviewed by both sides ---------------------------------------------------
  story(CAROL, "Fix the bakery's opening-hours widget", (t, s, add) => {
    add(t.at(2), 'Carol drafts the widget fix', create(t, s, {
      description: 'The opening hours on our website show the wrong day after midnight. Fix the little script that shows them.',
      criteria: ['Right day and hours in Lisbon time', 'Holidays can be added in one place'],
      reward: 5_000,
      category: 'development',
      tags: ['javascript', 'bugfix'],
    }, t.at(12)));
    add(t.at(2, 11), 'Carol publishes the widget fix', publish(t, s));
    add(t.at(2, 15), 'Alice applies to the widget fix', apply(t, s, ALICE, 'Classic time-zone bug, I can fix it today.', { etaDays: 1 }));
    add(t.at(2, 17), 'Dave applies to the widget fix', apply(t, s, DAVE, 'I can take this one as well.', { etaDays: 2 }));
    add(t.at(3, 9), 'Carol accepts Alice', accept(t, s, ALICE));
    add(t.at(4, 16), 'Alice submits the widget fix', submit(t, s, 'Fixed: the script now uses Europe/Lisbon; holidays live in hours.json.', ['https://github.com/example/bakery-site/pull/12']));
    add(t.at(5, 10), 'Carol approves the widget fix', async () => {
      await approveWork(t.deps(), t.actor(CAROL), s.bountyId);
    });
    add(t.at(5, 18), 'Carol reviews Alice', review(t, s, 'poster', 5, 'Quick, clear, and explained the fix so I can change the hours myself.'));
    add(t.at(6, 9), 'Alice reviews Carol', review(t, s, 'hunter', 5, 'Precise description of the bug and paid the same day. Would work with again.'));
  });

  // --- Completed by the auto-approve timer, then reviewed by both -----------------------------------
  story(BOB, 'Record a 30-second video of the shop', (t, s, add) => {
    add(t.at(1), 'Bob drafts the video', create(t, s, {
      description: 'A 30-second vertical video of the shop for social media: the workshop, a repair in fast motion, and the team waving.',
      criteria: ['30 seconds, vertical, 1080p', 'Music we may use', 'Our logo at the end'],
      reward: 7_500,
      category: 'marketing',
      tags: ['video', 'social-media'],
      location: BERLIN,
    }, t.at(9)));
    add(t.at(1, 10), 'Bob publishes the video', publish(t, s));
    add(t.at(1, 16), 'Erin applies to the video', apply(t, s, ERIN, 'I will be in Berlin that week with my camera.', { etaDays: 3 }));
    add(t.at(2, 9), 'Bob accepts Erin for the video', accept(t, s, ERIN));
    add(t.at(4, 19), 'Erin submits the video', submit(t, s, 'Video attached, with a licence for the music.', ['https://video.example.com/bike-shop-30s']));
    // Bob never answers: the auto-approve timer pays Erin AUTO_APPROVE_DAYS later.
    add(t.at(4 + 8, 10), 'Erin reviews Bob', review(t, s, 'hunter', 4, 'Friendly shop and a great subject. Did not reply to the delivery, but it was paid on time.'));
    add(t.at(4 + 9, 12), 'Bob reviews Erin', review(t, s, 'poster', 5, 'Sorry for the silence: the video is great and already has 10k views.'));
  });

  // --- Cancelled by the poster ------------------------------------------------------------------
  story(BOB, 'Paint the shop sign', (t, s, add) => {
    add(t.at(3), 'Bob drafts the sign', create(t, s, {
      description: 'Repaint the wooden sign above the shop door, same letters, fresh colours. Paint and ladder are here.',
      criteria: ['Letters repainted', 'Two coats of varnish'],
      reward: 4_000,
      category: 'errands',
      tags: ['painting'],
      location: BERLIN,
    }, t.at(20)));
    add(t.at(3, 11), 'Bob publishes the sign', publish(t, s));
    add(t.at(4, 10), 'Frank applies to the sign', apply(t, s, FRANK, 'I painted signs at my uncle\'s workshop.'));
    add(t.at(6, 9), 'Bob cancels the sign', async () => {
      await cancelBounty(t.deps(), t.actor(BOB), s.bountyId);
    });
  });

  // --- Cancelled by the expiry timer (deadline passed with nobody accepted) -----------------------
  story(CAROL, 'Survey ten cafés about oat milk', (t, s, add) => {
    add(t.at(0, 12), 'Carol drafts the survey', create(t, s, {
      description: 'Ask ten cafés in Lisbon which oat milk they use and what they pay per litre. A short table is enough.',
      criteria: ['Ten cafés', 'Brand and price per litre for each'],
      reward: 3_000,
      category: 'research',
      tags: ['survey', 'coffee'],
      location: LISBON,
    }, t.at(7)));
    add(t.at(0, 13), 'Carol publishes the survey', publish(t, s));
    add(t.at(1, 9), 'Dave applies to the survey', apply(t, s, DAVE, 'I can call them if they are fine with English.'));
    // Carol never accepts anyone: BOUNTY_EXPIRY_GRACE_H after the deadline, the timer refunds her.
  });

  // --- Cancelled together: the hunter proposes, the poster accepts, the escrow is split ------------
  story(BOB, 'Move the newsletter to a new provider', (t, s, add) => {
    add(t.at(6), 'Bob drafts the newsletter move', create(t, s, {
      description: 'Move our 1,200 newsletter subscribers and the two templates from the old provider to a cheaper one.',
      criteria: ['All subscribers moved with their consent records', 'Both templates rebuilt', 'A test send to the shop'],
      reward: 6_000,
      category: 'marketing',
      tags: ['newsletter', 'email'],
    }, t.at(25)));
    add(t.at(6, 12), 'Bob publishes the newsletter move', publish(t, s));
    add(t.at(7, 9), 'Dave applies to the newsletter move', apply(t, s, DAVE, 'Done this migration a dozen times.', { etaDays: 3 }));
    add(t.at(8, 10), 'Bob accepts Dave for the newsletter', accept(t, s, DAVE));
    add(t.at(10, 15), 'Dave proposes to cancel together', async () => {
      await proposeMutualCancel(t.deps(), t.actor(DAVE), s.bountyId, {
        hunterAmount: 1_500,
        reason: 'The old provider will not export consent records; I moved the templates, which took about a quarter of the work.',
      });
    });
    add(t.at(11, 9), 'Bob accepts the mutual cancel', async () => {
      await acceptMutualCancel(t.deps(), t.actor(BOB), s.bountyId);
    });
    add(t.at(11, 17), 'Bob reviews Dave', review(t, s, 'poster', 4, 'Honest about the blocker and fair about the split.'));
  });

  // --- Cancelled by an admin's ruling on a dispute: split ---------------------------------------------
  story(CAROL, 'Illustrate the winter menu', (t, s, add) => {
    add(t.at(4), 'Carol drafts the menu illustrations', create(t, s, {
      description: 'Six small ink illustrations for the winter menu: chestnuts, custard tarts, hot chocolate and friends.',
      criteria: ['Six illustrations', 'Black ink on white, scanned at 600 dpi', 'In the style of our summer menu'],
      reward: 9_000,
      category: 'design',
      tags: ['illustration', 'menu'],
      maxRevisions: 1,
    }, t.at(24)));
    add(t.at(4, 10), 'Carol publishes the menu illustrations', publish(t, s));
    add(t.at(5, 9), 'Erin applies to the menu illustrations', apply(t, s, ERIN, 'Ink illustration is how I started.', { etaDays: 6 }));
    add(t.at(5, 15), 'Carol accepts Erin for the menu', accept(t, s, ERIN));
    add(t.at(11, 18), 'Erin submits the illustrations', submit(t, s, 'Six scans attached.', ['https://files.example.com/winter-menu.zip']));
    add(t.at(12, 10), 'Carol asks for changes to the illustrations', async () => {
      await requestChanges(t.deps(), t.actor(CAROL), s.bountyId, { message: 'These are lovely but not in the style of the summer menu.', criteria: [3] });
    });
    add(t.at(13, 9), 'Erin disputes the change request', async () => {
      await openDisputeOn(t.deps(), t.actor(ERIN), s.bountyId, { reason: 'The summer menu was never shared with me, so I could not match its style.', criteria: [3] });
    });
    // Carol does not answer within DISPUTE_RESPONSE_DAYS: the escalation timer hands it to an admin.
    add(t.at(19, 11), 'An admin rules: split', async () => {
      await resolveDispute(t.deps(), t.actor(ADMIN), s.bountyId, {
        outcome: 'split',
        hunterAmount: 4_500,
        reason: 'The work meets criteria 1 and 2; the style was never specified with an example. Half of the reward to the illustrator.',
      });
    });
    add(t.at(20, 10), 'Erin reviews Carol', review(t, s, 'hunter', 3, 'Nice people, but share references before the work starts.'));
  });

  return {
    steps(tools: PlanTools): PlannedStep[] {
      const steps: PlannedStep[] = [];
      for (const { story: s, build } of stories) {
        build(tools, s, (at, what, run) => steps.push({ at, order: steps.length, what, run }));
      }
      return steps;
    },
  };
}
