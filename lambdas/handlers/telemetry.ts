/**
 * What every function has, including those that touch no table (timer-arm): the logger, the metrics and the
 * clock, built once per cold start. ./runtime adds the DynamoDB client, the store and the events sink.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Clock } from '../broker/time';

export const logger = new Logger();
export const metrics = new Metrics();

/** The one clock of the function: the domain and the store read time from it. */
export const clock: Clock = Date.now;
