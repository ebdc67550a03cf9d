/**
 * Shared setup of the client tests (client.*.test.ts): a remote.it stub per test, a client aimed at it with a
 * fixed clock, a fixed jitter draw and recorded sleeps, the credentials they sign with, and remote.it's replies.
 */
import { RemoteitFailure } from '../../../lambdas/broker/ports';
import { createRemoteitClient, type RemoteitClientOptions } from '../../../lambdas/remoteit/client';
import type { AccessKeyCredentials, CredentialsSource, PasswordCredentials, RemoteitCredentials } from '../../../lambdas/remoteit/credentials';
import { startRemoteitStub, type RemoteitStub, type StubReply } from '../../fixtures/remoteit-stub-server';

export const SERVICE_ID = '80:00:00:00:01:02:03:04';
export const NOW_MS = Date.parse('2026-03-01T12:00:00.000Z');
export const NOW_S = NOW_MS / 1000;

export const accessKeys: AccessKeyCredentials = {
  kind: 'access_key',
  developerKey: 'DEVKEY-5f1c2e9a7b',
  accessKeyId: 'AKID-CLIENT-TEST',
  secretAccessKey: Buffer.from('client-test-secret-key-0123456789').toString('base64'),
};
export const rotatedKeys: AccessKeyCredentials = {
  ...accessKeys,
  accessKeyId: 'AKID-ROTATED',
  secretAccessKey: Buffer.from('rotated-secret-key-9876543210').toString('base64'),
};
export const passwordCredentials: PasswordCredentials = {
  kind: 'password',
  developerKey: 'DEVKEY-5f1c2e9a7b',
  username: 'ops@example.com',
  password: 'pw-Very-Secret-42',
};

// remote.it's wire text: the proxy URL arrives with JSON-escaped slashes.
const CONNECT_OK_WIRE =
  '{"status":"true","connectionid":"CONN-1","connection":{"deviceaddress":"80:00:00:00:01:02:03:04","connectionid":"CONN-1",' +
  '"proxy":"http:\\/\\/proxy18.rt3.io:38575","proxyport":"38575","expirationsec":"28797","idleLeft":900,"status":"running"}}';
export const connectOk: StubReply = { body: CONNECT_OK_WIRE };
export const stopOk: StubReply = { body: { status: 'true', connectionid: 'CONN-1' } };
export const unauthorized = (reason = 'invalid signature'): StubReply => ({ status: 401, body: { status: 'false', reason } });

/** The credentials probe's path (at the stub's origin, not below /apv/v27). */
export const PROBE = '/graphql/v1';
/** A GraphQL `login` answer naming `developerKey` as the account's key. */
export const probeAnswer = (developerKey: string): StubReply => ({
  body: { data: { login: { id: 'USER-1f2e3d', apiKey: { key: developerKey } } } },
});
/** The probe says the harness' developer key is this account's. */
export const probeValid: StubReply = probeAnswer('DEVKEY-5f1c2e9a7b');
/** What remote.it's GraphQL is believed to answer for bad credentials (remote.it's Go SDK reads this text). */
export const probeUnauthorized: StubReply = { status: 401, headers: { 'content-type': 'text/plain' }, body: 'Unauthorized' };
/** A stop refusal in words the adapter does not know. */
export const UNFAMILIAR = 'connectionid incorrect or missing';

/** Credentials whose refresh() moves to the next value (a rotated secret). */
export function credentialsSequence(...values: RemoteitCredentials[]) {
  let index = 0;
  const calls = { get: 0, refresh: 0 };
  const source: CredentialsSource = {
    get: async () => {
      calls.get++;
      return values[index]!;
    },
    refresh: async () => {
      calls.refresh++;
      index = Math.min(index + 1, values.length - 1);
      return values[index]!;
    },
  };
  return { source, calls };
}

/** The failure `promise` rejects with; fails the test unless it is the port's RemoteitFailure. */
export async function rejection(promise: Promise<unknown>): Promise<RemoteitFailure> {
  const outcome: unknown = await promise.then(
    () => 'resolved',
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(RemoteitFailure);
  return outcome as RemoteitFailure;
}

export interface ClientHarness {
  /** This test's remote.it stub (a new one per test). */
  readonly stub: RemoteitStub;
  /** The delays the client slept, in order (it never really sleeps). */
  readonly sleeps: number[];
  /** A client on the stub: cavage signing, NOW_MS, random() = 0.5, 3 attempts from 100 ms up to 5 s. */
  clientFor(credentials: CredentialsSource, overrides?: Partial<RemoteitClientOptions>): ReturnType<typeof createRemoteitClient>;
}

/** Registers the hooks that start and close a stub around every test of the calling describe block. */
export function useClientHarness(): ClientHarness {
  let stub: RemoteitStub | undefined;
  let sleeps: number[] = [];

  beforeEach(async () => {
    stub = await startRemoteitStub();
    sleeps = [];
  });

  afterEach(async () => {
    await stub?.close();
    stub = undefined;
  });

  const harness: ClientHarness = {
    get stub() {
      if (!stub) throw new Error('the remote.it stub runs only inside a test');
      return stub;
    },
    get sleeps() {
      return sleeps;
    },
    clientFor(credentials, overrides = {}) {
      return createRemoteitClient({
        apiUrl: harness.stub.apiUrl,
        credentials,
        signatureScheme: 'cavage',
        timeoutMs: 2_000,
        now: () => NOW_MS,
        random: () => 0.5,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 5_000 },
        ...overrides,
      });
    },
  };
  return harness;
}
