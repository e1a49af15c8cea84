import { pino, type Logger } from 'pino';
import type { ServiceConfig } from './config.ts';

export type { Logger };

/** Paths never written to a log line: credentials, tokens and personal phone numbers. */
export const REDACTED_PATHS = [
  'password',
  'phone',
  'accessToken',
  'refreshToken',
  'token',
  'authorization',
  '*.password',
  '*.phone',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'variables.*.password',
  'variables.*.phone',
  'variables.password',
  'variables.phone',
  'variables.refreshToken',
];

/**
 * The process logger: JSON in production, pretty in development. Per-request child loggers
 * (see context.ts) add `requestId` and `traceId` to every line.
 */
export function createLogger(config: Pick<ServiceConfig, 'service' | 'logLevel' | 'production' | 'env'>): Logger {
  const pretty = !config.production && config.env !== 'test' && process.stdout.isTTY;
  return pino({
    name: config.service,
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}
