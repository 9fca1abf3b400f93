import { z } from 'zod';
import { emailSchema, newPasswordSchema, passwordSchema, personNameSchema } from '../../lib/validation';

export const signUpBody = z.object({
  email: emailSchema,
  password: newPasswordSchema,
  name: personNameSchema,
});

export const loginBody = z.object({
  email: emailSchema,
  password: passwordSchema,
});

export const signedOutSchema = z.object({ signedOut: z.literal(true) });

export type SignUpInput = z.infer<typeof signUpBody>;
export type LoginInput = z.infer<typeof loginBody>;
