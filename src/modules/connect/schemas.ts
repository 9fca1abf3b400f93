import { z } from 'zod';

export const connectAccountSchema = z.object({
  accountId: z.string().max(255).describe("The Stripe Express account's id"),
  detailsSubmitted: z.boolean(),
  chargesEnabled: z.boolean(),
  payoutsEnabled: z.boolean().describe('Withdrawals need this'),
  requirementsDue: z.array(z.string().max(200)).max(200).describe("What Stripe still needs (currently_due); finish it through an onboarding link"),
  disabledReason: z.string().max(200).nullable(),
  payoutFailureReason: z.string().max(500).nullable().describe("Why Stripe's last payout to your bank failed, until one succeeds"),
});
export type ConnectAccountView = z.infer<typeof connectAccountSchema>;

export const onboardingLinkSchema = z.object({
  url: z.url().max(2048).describe("Open in a browser: Stripe's hosted onboarding"),
  expiresAt: z.date(),
});
