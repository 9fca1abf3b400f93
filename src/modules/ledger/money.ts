/**
 * Amounts as the API takes them, `{ amount, currency }` like Stripe: an integer number of minor
 * units (cents) and a lower-case ISO currency. Anything else (0, -1, 1.5, "10", 1e309, past 2^53
 * or past MONEY_MAX_AMOUNT) is a 422 at the edge.
 */
import { z } from 'zod';

/** Currencies the service takes today; the ledger's schema holds any three-letter code. */
export const SUPPORTED_CURRENCIES = ['usd'] as const;
export type Currency = (typeof SUPPORTED_CURRENCIES)[number];
export const DEFAULT_CURRENCY: Currency = 'usd';

export const currencySchema = z.enum(SUPPORTED_CURRENCIES).describe('ISO 4217 code, lower case; `usd` today');

/** A positive amount of at most `max` minor units. */
export const amountInputSchema = (max: number, min = 1) =>
  z.object({
    amount: z
      .number()
      .int('must be a whole number of minor units (cents)')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`)
      .describe('Minor units (cents): 5000 is $50.00'),
    currency: currencySchema,
  });

export const moneySchema = z.object({
  amount: z.number().int().describe('Minor units (cents)'),
  currency: z.string().max(3),
});
export type Money = z.infer<typeof moneySchema>;

export const money = (amount: number, currency: string): Money => ({ amount, currency });
