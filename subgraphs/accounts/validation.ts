import { z } from '../../platform/validation.ts';

export const phoneSchema = z.string().trim().regex(/^\+[1-9]\d{7,14}$/, 'must be an E.164 phone number, e.g. +201001234567');
export const passwordSchema = z.string().min(10, 'must be at least 10 characters').max(128, 'must be at most 128 characters');
export const nameSchema = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');

export const signUpInputSchema = z.object({
  phone: phoneSchema,
  password: passwordSchema,
  name: nameSchema,
  role: z.enum(['RIDER', 'DRIVER']),
});
export type SignUpInput = z.infer<typeof signUpInputSchema>;
