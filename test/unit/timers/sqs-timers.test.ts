import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  createSqsLeaseTimers,
  delaySecondsFor,
  InvalidTimerMessageError,
  MAX_DELAY_SECONDS,
  parseTimerMessage,
  timerMessage,
} from '../../../lambdas/timers/sqs-timers';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/timers';
const LEASE_END = '2030-01-01T00:15:00.000Z';
const LEASE_END_MS = Date.parse(LEASE_END);
const ID = '01JTEST0000000000000000001';

const sqs = mockClient(SQSClient);
beforeEach(() => sqs.reset());

describe('SQS lease timers', () => {
  describe('delaySecondsFor', () => {
    it.each([
      ['a lease ending in 60 s', LEASE_END_MS - 60_000, 60],
      ['a lease ending in 59.8 s (rounded down: the timer waits out the rest)', LEASE_END_MS - 59_800, 59],
      ['a lease ending in 0.3 s', LEASE_END_MS - 300, 0],
      ['a lease that ended already', LEASE_END_MS + 5_000, 0],
      ['a lease ending in 15 min exactly', LEASE_END_MS - 900_000, 900],
      ['a lease ending in an hour (SQS waits at most 900 s)', LEASE_END_MS - 3_600_000, MAX_DELAY_SECONDS],
    ])('%s', (_name, nowMs, expected) => {
      expect(delaySecondsFor(LEASE_END, nowMs)).toBe(expected);
    });
  });

  describe('arm', () => {
    it('sends one message, delayed until the lease end, carrying only the id and the lease end', async () => {
      // Arrange
      sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
      const timers = createSqsLeaseTimers({ client: new SQSClient({ region: 'us-east-1' }), queueUrl: QUEUE_URL, now: () => LEASE_END_MS - 42_500 });

      // Act
      await timers.arm({ id: ID, leaseExpiresAt: LEASE_END });

      // Assert
      expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
      expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: QUEUE_URL, DelaySeconds: 42 });
      const body = JSON.parse(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '{}') as unknown;
      expect(body).toEqual({ v: 1, id: ID, leaseExpiresAt: LEASE_END });
    });

    it('sends a lock stop at once, carrying the id, the lock and who placed it', async () => {
      sqs.on(SendMessageCommand).resolves({ MessageId: 'm-2' });
      const timers = createSqsLeaseTimers({ client: new SQSClient({ region: 'us-east-1' }), queueUrl: QUEUE_URL, now: () => LEASE_END_MS - 42_500 });

      await timers.arm({ id: ID, lockId: 'L-1', lockedBy: 'arn:aws:sts::123456789012:assumed-role/admin/alice' });

      expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: QUEUE_URL, DelaySeconds: 0 });
      const body = JSON.parse(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '{}') as unknown;
      expect(body).toEqual({ v: 1, id: ID, lockId: 'L-1', lockedBy: 'arn:aws:sts::123456789012:assumed-role/admin/alice' });
    });

    it('throws when SQS refuses, so the caller can try again', async () => {
      sqs.on(SendMessageCommand).rejects(new Error('ServiceUnavailable'));
      const timers = createSqsLeaseTimers({ client: new SQSClient({ region: 'us-east-1' }), queueUrl: QUEUE_URL, now: () => LEASE_END_MS });
      await expect(timers.arm({ id: ID, leaseExpiresAt: LEASE_END })).rejects.toThrow('ServiceUnavailable');
    });
  });

  describe('parseTimerMessage', () => {
    it('reads back what arm writes', () => {
      expect(parseTimerMessage(timerMessage({ id: ID, leaseExpiresAt: LEASE_END }))).toEqual({ id: ID, leaseExpiresAt: LEASE_END });
    });

    it('reads back a lock stop', () => {
      const stop = { id: ID, lockId: 'L-1', lockedBy: 'arn:aws:sts::123456789012:assumed-role/admin/alice' };
      expect(parseTimerMessage(timerMessage(stop))).toEqual(stop);
    });

    it.each([
      ['not JSON', '{oops', 'the body is not JSON'],
      ['another version', JSON.stringify({ v: 2, id: ID, leaseExpiresAt: LEASE_END }), 'v:'],
      ['no id', JSON.stringify({ v: 1, leaseExpiresAt: LEASE_END }), 'id:'],
      ['a lease end that is no timestamp', JSON.stringify({ v: 1, id: ID, leaseExpiresAt: 'soon' }), 'leaseExpiresAt:'],
      ['a lock stop without who placed the lock', JSON.stringify({ v: 1, id: ID, lockId: 'soon' }), 'lockedBy:'],
      ['a lock stop that also carries a lease end', JSON.stringify({ v: 1, id: ID, lockId: 'L', lockedBy: 'a', leaseExpiresAt: LEASE_END }), 'leaseExpiresAt'],
    ])('refuses %s, naming what is wrong without echoing the body', (_name, body, detail) => {
      let caught: unknown;
      try {
        parseTimerMessage(body);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(InvalidTimerMessageError);
      expect((caught as Error).message).toContain(detail);
      expect((caught as Error).message).not.toContain('soon');
    });
  });
});
