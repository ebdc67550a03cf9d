/**
 * Fault-matrix rows (faults.test.ts): the Secrets Manager stub. They run in this order: the row after the
 * malformed secret checks that the bad value was not cached.
 */
import { open, rotateKeys, type Row } from './faults-support';

export const SECRETS_ROWS: Row[] = [
  {
    name: 'secret rotated to new keys: the rejected signature makes the broker re-read it once, 201',
    arrange: async (suite) => {
      const rotated = rotateKeys(suite);
      suite.broker.secrets.putSecret(suite.broker.secretId, JSON.stringify(rotated));
      return [];
    },
    act: async (suite) => {
      const reads = suite.broker.secrets.calls()[suite.broker.secretId] ?? 0;
      const answer = await open(suite);
      expect((suite.broker.secrets.calls()[suite.broker.secretId] ?? 0) - reads).toBe(1);
      expect(suite.broker.emulator.calls().byOutcome).toEqual({ unauthorized: 1, ok: 1 });
      return { answer };
    },
    status: 201,
    record: { status: 'active' },
    proxy: 'live',
  },
  {
    name: 'Secrets Manager unavailable when the broker must re-read the secret: 503 with Retry-After, failed, nothing opened',
    arrange: async (suite) => {
      const rotated = rotateKeys(suite);
      suite.broker.secrets.putSecret(suite.broker.secretId, JSON.stringify(rotated));
      suite.broker.secrets.setFailure({ status: 500, type: 'InternalServiceError' });
      return [];
    },
    act: async (suite) => ({ answer: await open(suite) }),
    cleanup: (suite) => suite.broker.secrets.setFailure(undefined),
    status: 503,
    title: 'Service unavailable',
    retryAfter: '1',
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'secret rotated to malformed JSON: 500 without detail, failed, nothing opened',
    arrange: async (suite) => {
      const rotated = rotateKeys(suite);
      suite.broker.secrets.putSecret(suite.broker.secretId, `{"developerKey":"${rotated.developerKey}","secretAccessKey":"${rotated.secretAccessKey}"`);
      suite.heldBackSecret = JSON.stringify(rotated);
      return [];
    },
    act: async (suite) => ({ answer: await open(suite) }),
    cleanup: (suite) => suite.broker.secrets.putSecret(suite.broker.secretId, suite.heldBackSecret ?? ''),
    status: 500,
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'secret fixed after a malformed value: the next request reads it afresh (the bad value was not cached), 201',
    act: async (suite) => {
      const reads = suite.broker.secrets.calls()[suite.broker.secretId] ?? 0;
      const answer = await open(suite);
      expect((suite.broker.secrets.calls()[suite.broker.secretId] ?? 0) - reads).toBe(1);
      return { answer };
    },
    status: 201,
    record: { status: 'active' },
    proxy: 'live',
  },
];
