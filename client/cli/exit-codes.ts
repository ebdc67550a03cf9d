/** Exit codes a script can branch on (listed in `rbroker --help` and the README). */
import { constants } from 'node:os';
import { BrokerApiError, CredentialsError } from '../errors';
import { UsageError } from './args';

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  denied: 3,
  notFound: 4,
  remoteit: 5,
} as const;

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof CredentialsError) return EXIT.denied;
  if (!(error instanceof BrokerApiError)) return EXIT.failure;
  if (error.status === 400) return EXIT.usage;
  if (error.status === 401 || error.status === 403) return EXIT.denied;
  if (error.status === 404) return EXIT.notFound;
  // Only the broker's own 502/503/504 speak for remote.it; API Gateway's say the function failed or was throttled.
  if (error.fromBroker && error.status >= 502 && error.status <= 504) return EXIT.remoteit;
  return EXIT.failure;
}

/** 128 + the signal's number, as a shell reports a process a signal ended. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
