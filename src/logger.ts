// The daemon's pino logger. Secrets never reach a log line: Authorization headers and API
// keys are redacted wherever they might appear.
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'faasd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'authorization', '*.authorization', 'key', '*.key', 'api_key', '*.api_key'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };
