import { verifyCavageSignature, verifyRfc9421Signature } from '../../fixtures/remoteit-stub-server';
import { accessKeys, connectOk, credentialsSequence, NOW_S, SERVICE_ID, stopOk, useClientHarness } from './client-harness';

// What the client sends to remote.it and what it makes of a success; failures are in client.errors.test.ts.
describe('client requests', () => {
  const harness = useClientHarness();

  describe('connect', () => {
    it('posts the documented body, signed and with the developer key, and returns the normalised connection when remote.it opens a port proxy', async () => {
      harness.stub.on('/device/connect', connectOk);
      const client = harness.clientFor(credentialsSequence(accessKeys).source);

      const connection = await client.connect(SERVICE_ID, '255.255.255.255');

      expect(connection).toEqual({
        remoteConnectionId: 'CONN-1',
        proxy: { kind: 'port', url: 'tcp://proxy18.rt3.io:38575', host: 'proxy18.rt3.io', port: 38575 },
        expiresAt: NOW_S + 28_797,
        idleSeconds: 900,
        overridden: false,
      });
      const [request] = harness.stub.requestsTo('/device/connect');
      expect(request?.json).toEqual({ deviceaddress: SERVICE_ID, wait: 'true', hostip: '255.255.255.255', concurrent: true });
      expect(request?.headers.developerkey).toBe(accessKeys.developerKey);
      expect(request?.headers.host).toBe(`127.0.0.1:${harness.stub.port}`);
      expect(verifyCavageSignature(request!, accessKeys.accessKeyId, accessKeys.secretAccessKey)).toBe(true);
    });

    it('signs with RFC 9421 headers that verify when the rfc9421 scheme is chosen', async () => {
      harness.stub.on('/device/connect', connectOk);
      const client = harness.clientFor(credentialsSequence(accessKeys).source, { signatureScheme: 'rfc9421' });

      await client.connect(SERVICE_ID, '0.0.0.0');

      const [request] = harness.stub.requestsTo('/device/connect');
      expect(request?.headers.authorization).toBeUndefined();
      expect(request?.headers.developerkey).toBe(accessKeys.developerKey);
      expect(verifyRfc9421Signature(request!, accessKeys.accessKeyId, accessKeys.secretAccessKey)).toBe(true);
    });

    it('returns a public reverse proxy marked overridden when remote.it replaced an earlier connection', async () => {
      harness.stub.on('/device/connect', {
        body: {
          status: 'true',
          connection: {
            connectionid: 'CONN-2',
            proxy: 'https://xprbjalo.p18.rt3.io',
            reverseProxy: true,
            proxyExpirationSec: 28_800,
            connectionOverridden: 'true',
            previousConnection: 'CONN-1',
          },
        },
      });
      const client = harness.clientFor(credentialsSequence(accessKeys).source);

      const connection = await client.connect(SERVICE_ID, '203.0.113.7');

      expect(connection).toEqual({
        remoteConnectionId: 'CONN-2',
        proxy: { kind: 'reverse', url: 'https://xprbjalo.p18.rt3.io', host: 'xprbjalo.p18.rt3.io', port: 443 },
        expiresAt: NOW_S + 28_800,
        idleSeconds: 900,
        overridden: true,
        previousConnectionId: 'CONN-1',
      });
    });
  });

  describe('stop', () => {
    it('posts deviceaddress and connectionid and resolves when remote.it confirms', async () => {
      harness.stub.on('/device/connect/stop', stopOk);

      await harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      const [request] = harness.stub.requestsTo('/device/connect/stop');
      expect(request?.json).toEqual({ deviceaddress: SERVICE_ID, connectionid: 'CONN-1' });
      expect(request?.headers.developerkey).toBe(accessKeys.developerKey);
      expect(verifyCavageSignature(request!, accessKeys.accessKeyId, accessKeys.secretAccessKey)).toBe(true);
    });
  });
});
