import { signRequest } from '../../../lambdas/remoteit/signing';
import { verifyCavageSignature, verifyRfc9421Signature, type RecordedRequest } from '../../fixtures/remoteit-stub-server';

// Test vectors of docs/remoteit-api.md.
const vectorKey = { accessKeyId: 'TESTKEYID', secretAccessKey: 'dGVzdHNlY3JldGtleTEyMzQ1Njc4OTA=' };
const vectorDate = new Date('Tue, 07 Jun 2022 20:51:35 GMT');
const vectorBody = '{"query":"{ login { email } }"}';

function asReceived(target: string, host: string, body: string, headers: Record<string, string>): RecordedRequest {
  return { method: 'POST', path: target, target, headers: { host, ...headers }, body, json: undefined };
}

describe('signing', () => {
  describe('signRequest (cavage)', () => {
    it('reproduces remote.it test vector A when signing the documented request', async () => {
      const headers = await signRequest('cavage', vectorKey, {
        method: 'POST',
        url: 'https://api.remote.it/graphql/v1',
        date: vectorDate,
        body: vectorBody,
      });

      expect(headers).toEqual({
        date: 'Tue, 07 Jun 2022 20:51:35 GMT',
        'content-type': 'application/json',
        'content-length': '31',
        authorization:
          'Signature keyId="TESTKEYID",algorithm="hmac-sha256",headers="(request-target) host date content-type content-length",signature="mTxtxpV+bEqcTFoJLcdrp18a2GUnL5tyN/TOWEjWct8="',
      });
    });

    it('signs the host with its port and the UTF-8 byte length when the API is local and the body is not ASCII', async () => {
      const body = JSON.stringify({ deviceaddress: '80:00:00:00:01:02:03:04', note: 'café ☕' });

      const headers = await signRequest('cavage', vectorKey, {
        method: 'post',
        url: 'http://127.0.0.1:8123/apv/v27/device/connect',
        date: vectorDate,
        body,
      });

      expect(headers['content-length']).toBe(String(Buffer.byteLength(body)));
      expect(Number(headers['content-length'])).toBeGreaterThan(body.length);
      const received = asReceived('/apv/v27/device/connect', '127.0.0.1:8123', body, headers);
      expect(verifyCavageSignature(received, 'TESTKEYID', vectorKey.secretAccessKey)).toBe(true);
      expect(verifyCavageSignature({ ...received, headers: { ...received.headers, host: '127.0.0.1' } }, 'TESTKEYID', vectorKey.secretAccessKey)).toBe(false);
    });

    it('leaves a default port out of the signed host when the URL names it', async () => {
      const headers = await signRequest('cavage', vectorKey, {
        method: 'POST',
        url: 'https://api.remote.it:443/graphql/v1',
        date: vectorDate,
        body: vectorBody,
      });

      expect(headers.authorization).toContain('signature="mTxtxpV+bEqcTFoJLcdrp18a2GUnL5tyN/TOWEjWct8="');
    });
  });

  describe('signRequest (rfc9421)', () => {
    it('reproduces remote.it test vector B when signing the documented request', async () => {
      const headers = await signRequest('rfc9421', vectorKey, {
        method: 'POST',
        url: 'https://api.remote.it/graphql/v1',
        date: vectorDate,
        created: new Date(1654634495 * 1000),
        body: vectorBody,
      });

      expect(headers.signature).toBe('remoteit=:ucg6N22rsazYzZZzUMMs+jEz6Mre6Ekks1UQnEt1VA8=:');
      expect(headers['signature-input']).toBe(
        'remoteit=("@method" "@authority" "@target-uri" "date");keyid="TESTKEYID";alg="hmac-sha256";created=1654634495;expires=1654634795',
      );
    });

    it('signs the authority with its port and uses the Date as created when no created time is given', async () => {
      const headers = await signRequest('rfc9421', vectorKey, {
        method: 'POST',
        url: 'http://127.0.0.1:8123/apv/v27/device/connect/stop',
        date: vectorDate,
        body: '{}',
      });

      expect(headers['signature-input']).toContain(';created=1654635095;expires=1654635395');
      const received = asReceived('/apv/v27/device/connect/stop', '127.0.0.1:8123', '{}', headers);
      expect(verifyRfc9421Signature(received, 'TESTKEYID', vectorKey.secretAccessKey)).toBe(true);
      expect(verifyRfc9421Signature({ ...received, headers: { ...received.headers, host: '127.0.0.1:8124' } }, 'TESTKEYID', vectorKey.secretAccessKey)).toBe(false);
    });
  });
});
