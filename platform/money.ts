/** Money is integer minor units in storage and an exact decimal string on the wire; never a float. */
export interface Money {
  amount: string;
  currency: string;
}

const MINOR_DIGITS: Record<string, number> = { EGP: 2, USD: 2, EUR: 2, SAR: 2, AED: 2, KWD: 3, JPY: 0 };

/** The ISO 4217 codes SmartLine handles (the allow-list every edge validates against). */
export const CURRENCIES: readonly string[] = Object.freeze(Object.keys(MINOR_DIGITS));

export const isCurrency = (code: unknown): code is string => typeof code === 'string' && Object.hasOwn(MINOR_DIGITS, code);

export function minorDigits(currency: string): number {
  const digits = MINOR_DIGITS[currency];
  if (digits === undefined) throw new Error(`Unsupported currency ${currency}`);
  return digits;
}

export function toMoney(minor: bigint | number, currency: string): Money {
  const value = BigInt(minor);
  const digits = minorDigits(currency);
  const negative = value < 0n;
  const abs = (negative ? -value : value).toString().padStart(digits + 1, '0');
  const amount = digits === 0 ? abs : `${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
  return { amount: negative ? `-${amount}` : amount, currency };
}

/** Parses an exact decimal string ("42.5", "42.50") into minor units; null when it is not one. */
export function parseMinor(amount: string, currency: string): bigint | null {
  const digits = minorDigits(currency);
  const match = /^(-)?(\d{1,15})(?:\.(\d+))?$/.exec(amount.trim());
  if (!match) return null;
  const fraction = match[3] ?? '';
  if (fraction.length > digits) return null;
  const minor = BigInt(match[2]) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, '0') || '0');
  return match[1] ? -minor : minor;
}
