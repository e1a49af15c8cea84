import { DEMO_PASSWORD } from '../../platform/demo-city.ts';
import { z } from '../../platform/validation.ts';

export const phoneSchema = z.string().trim().regex(/^\+[1-9]\d{7,14}$/, 'must be an E.164 phone number, e.g. +201001234567');
export const passwordSchema = z.string().min(10, 'must be at least 10 characters').max(128, 'must be at most 128 characters');

/**
 * The demo city's password is published (README, `npm start`'s banner): only development and tests
 * accept it (`acceptDemoPassword: !config.production`). Elsewhere sign-up and create-admin refuse it
 * and log-in treats it as a wrong password (AccountsService.logIn).
 */
export interface DemoPasswordPolicy {
  /** Default false: refused unless a caller outside production says otherwise. */
  acceptDemoPassword?: boolean;
}
export const isDemoPassword = (password: string) => password === DEMO_PASSWORD;
const notDemoPasswordSchema = passwordSchema.refine((password) => !isDemoPassword(password), 'must not be the published demo password');
/** The rule for a new password under the policy. */
export const newPasswordSchema = (policy: DemoPasswordPolicy) => (policy.acceptDemoPassword ? passwordSchema : notDemoPasswordSchema);

export const nameSchema = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');

export const signUpInputSchema = z.object({
  phone: phoneSchema,
  password: passwordSchema,
  name: nameSchema,
  role: z.enum(['RIDER', 'DRIVER']),
});
export type SignUpInput = z.infer<typeof signUpInputSchema>;
const signUpInputWithoutDemoPasswordSchema = signUpInputSchema.extend({ password: notDemoPasswordSchema });
export const signUpInputSchemaFor = (policy: DemoPasswordPolicy) => (policy.acceptDemoPassword ? signUpInputSchema : signUpInputWithoutDemoPasswordSchema);
