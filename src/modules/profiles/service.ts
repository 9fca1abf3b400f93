/**
 * Profiles: one row per account (created with it by a trigger, drizzle/0006_marketplace_rules.sql).
 * The owner reads and changes theirs; anyone reads the public part with statistics computed from
 * the bounty history (stats.ts). Reads go to a replica (`db.read`), the change to the primary.
 */
import { eq, sql } from 'drizzle-orm';
import { type DatabaseSession, preparedPerHandle, profiles, users } from '../../db';
import type { ProfileChanges, ProfileView, PublicProfileView } from './schemas';
import { profileStats } from './stats';

/** The account fields a profile falls back on (the display name starts as the account's name). */
type Profile = typeof profiles.$inferSelect;

export type Owner = Readonly<{ id: string; name: string; createdAt: Date }>;

const locationOf = (row: Profile, precision?: number): ProfileView['location'] => {
  if (row.latitude === null || row.longitude === null) return null;
  const shown = (value: number) => (precision === undefined ? value : Math.round(value * 10 ** precision) / 10 ** precision);
  return { name: row.locationName, latitude: shown(row.latitude), longitude: shown(row.longitude) };
};

export const toProfileView = (row: Profile): ProfileView => ({
  userId: row.userId,
  displayName: row.displayName,
  headline: row.headline,
  bio: row.bio,
  avatarUrl: row.avatarUrl,
  skills: row.skills,
  remote: row.remote,
  location: locationOf(row),
  links: row.links,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

/** What an account without a profile row shows (the trigger makes one; this is the fallback). */
const defaultProfile = (owner: Owner): Profile => ({
  userId: owner.id,
  displayName: owner.name.slice(0, 100),
  headline: null,
  bio: null,
  avatarUrl: null,
  skills: [],
  remote: true,
  locationName: null,
  latitude: null,
  longitude: null,
  links: [],
  createdAt: owner.createdAt,
  updatedAt: owner.createdAt,
});

const findProfile = preparedPerHandle((db) =>
  db.select().from(profiles).where(eq(profiles.userId, sql.placeholder('userId'))).limit(1).prepare('profiles_find'),
);

const findOwnerAndProfile = preparedPerHandle((db) =>
  db
    .select({ id: users.id, name: users.name, createdAt: users.createdAt, profile: profiles })
    .from(users)
    .leftJoin(profiles, eq(profiles.userId, users.id))
    .where(eq(users.id, sql.placeholder('userId')))
    .limit(1)
    .prepare('profiles_find_with_owner'),
);

export async function findOwnProfile(db: DatabaseSession, owner: Owner): Promise<ProfileView> {
  const [row] = await db.read((reader) => findProfile(reader).execute({ userId: owner.id }));
  return toProfileView(row ?? defaultProfile(owner));
}

/** Skills as given, without blanks and without repeats that differ only in case. */
function distinctSkills(skills: readonly string[]): string[] {
  const seen = new Set<string>();
  return skills.filter((skill) => {
    const key = skill.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Applies the owner's changes, creating the row if it is somehow missing (an upsert). Only the
 * fields named here are ever written: the route's body cannot reach any other column.
 */
export async function updateOwnProfile(db: DatabaseSession, owner: Owner, changes: ProfileChanges, now: Date): Promise<ProfileView> {
  const values: Partial<typeof profiles.$inferInsert> = { updatedAt: now };
  if (changes.displayName !== undefined) values.displayName = changes.displayName;
  if (changes.headline !== undefined) values.headline = changes.headline;
  if (changes.bio !== undefined) values.bio = changes.bio;
  if (changes.avatarUrl !== undefined) values.avatarUrl = changes.avatarUrl;
  if (changes.skills !== undefined) values.skills = distinctSkills(changes.skills);
  if (changes.remote !== undefined) values.remote = changes.remote;
  if (changes.links !== undefined) values.links = changes.links.map((link) => ({ label: link.label, url: link.url }));
  if (changes.location !== undefined) {
    values.locationName = changes.location?.name ?? null;
    values.latitude = changes.location?.latitude ?? null;
    values.longitude = changes.location?.longitude ?? null;
  }
  const [row] = await db.write((writer) =>
    writer
      .insert(profiles)
      .values({ ...defaultProfile(owner), createdAt: now, ...values })
      .onConflictDoUpdate({ target: profiles.userId, set: values })
      .returning(),
  );
  if (!row) throw new Error('the profile upsert returned no row');
  return toProfileView(row);
}

/** The public profile with its statistics, or null when there is no such account. */
export async function findPublicProfile(db: DatabaseSession, userId: string, now: Date): Promise<PublicProfileView | null> {
  return db.read(async (reader) => {
    const [owner] = await findOwnerAndProfile(reader).execute({ userId });
    if (!owner) return null;
    const profile = owner.profile ?? defaultProfile(owner);
    const stats = await profileStats(reader, userId, now);
    return {
      userId: owner.id,
      displayName: profile.displayName,
      headline: profile.headline,
      bio: profile.bio,
      avatarUrl: profile.avatarUrl,
      skills: profile.skills,
      remote: profile.remote,
      // About a kilometre: enough to match in-person work, not a home address.
      location: locationOf(profile, 2),
      links: profile.links,
      memberSince: owner.createdAt,
      stats,
    };
  });
}

const findOwner = preparedPerHandle((db) =>
  db.select({ id: users.id }).from(users).where(eq(users.id, sql.placeholder('userId'))).limit(1).prepare('profiles_owner_exists'),
);

export async function userExists(reader: Parameters<typeof findOwner>[0], userId: string): Promise<boolean> {
  const [row] = await findOwner(reader).execute({ userId });
  return row !== undefined;
}
