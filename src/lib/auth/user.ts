/** The signed-in user as the service sees it: one mapping from Better-Auth's user and our users rows. */
import { z } from 'zod';
import { type UserRole, userRoles } from '../../db';

/** A user as Better-Auth puts it in JSON (its responses, the cookie cache): dates as strings. */
export const betterAuthUserJson = z.looseObject({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  image: z.string().nullish(),
  emailVerified: z.boolean(),
  role: z.string().nullish(),
  banned: z.boolean().nullish(),
  banReason: z.string().nullish(),
  banExpires: z.string().nullish(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export type AuthUser = {
  id: string;
  email: string;
  name: string;
  image: string | null;
  emailVerified: boolean;
  role: UserRole;
  banned: boolean;
  banReason: string | null;
  banExpires: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

/** Who is asking, as services see it (what a permission in a WHERE needs): null for anonymous. */
export type Viewer = Readonly<Pick<AuthUser, 'id' | 'role'>> | null;

export type AuthSession = { id: string; userId: string; expiresAt: Date; createdAt: Date };

/** An unknown role grants nothing: it is read as the least privileged one. */
export const toRole = (value: unknown): UserRole =>
  userRoles.find((role) => role === value) ?? 'user';

const toDate = (value: Date | string | number): Date => (value instanceof Date ? value : new Date(value));
const toOptionalDate = (value: Date | string | number | null | undefined): Date | null =>
  value === null || value === undefined ? null : toDate(value);

type SessionUserLike = {
  id: string;
  email: string;
  name: string;
  image?: string | null;
  emailVerified: boolean;
  role?: string | null;
  banned?: boolean | null;
  banReason?: string | null;
  banExpires?: Date | string | null;
  createdAt: Date | string;
  updatedAt: Date | string;
};

export function toAuthUser(user: SessionUserLike): AuthUser {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    image: user.image ?? null,
    emailVerified: user.emailVerified,
    role: toRole(user.role),
    banned: user.banned === true,
    banReason: user.banReason ?? null,
    banExpires: toOptionalDate(user.banExpires),
    createdAt: toDate(user.createdAt),
    updatedAt: toDate(user.updatedAt),
  };
}

/** A ban is in force while it has no expiry or its expiry is ahead of `now`. */
export const isBanActive = (user: Pick<AuthUser, 'banned' | 'banExpires'>, now: Date = new Date()): boolean =>
  user.banned && (user.banExpires === null || user.banExpires.getTime() > now.getTime());

/** A Better-Auth session as the service sees it (dates as Dates, whatever the cache held). */
export const toAuthSession = (session: { id: string; userId: string; expiresAt: Date | string; createdAt: Date | string }): AuthSession => ({
  id: session.id,
  userId: session.userId,
  expiresAt: toDate(session.expiresAt),
  createdAt: toDate(session.createdAt),
});
