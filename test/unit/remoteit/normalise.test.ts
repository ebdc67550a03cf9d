import { DEFAULT_EXPIRATION_SECONDS, normaliseConnectResponse } from '../../../lambdas/remoteit/normalise';
import { RemoteitFailure } from '../../../lambdas/broker/ports';

const REQUESTED_AT_MS = 1_700_000_000_500;
const REQUESTED_AT_S = 1_700_000_000;

describe('normalise', () => {
  describe('normaliseConnectResponse', () => {
    it('builds a port proxy when the proxy is an escaped http URL with a port and expirationsec is a string', () => {
      // The wire text as remote.it sends it: `\/` escapes that JSON.parse undoes.
      const body: unknown = JSON.parse(
        '{"status":"true","connectionid":"c-1","connection":{"connectionid":"c-1","proxy":"http:\\/\\/proxy18.rt3.io:38575","expirationsec":"28797","proxyServerPort":38575}}',
      );

      const connection = normaliseConnectResponse(body, REQUESTED_AT_MS);

      expect(connection).toEqual({
        remoteConnectionId: 'c-1',
        proxy: { kind: 'port', url: 'tcp://proxy18.rt3.io:38575', host: 'proxy18.rt3.io', port: 38575 },
        expiresAt: REQUESTED_AT_S + 28_797,
        idleSeconds: 900,
        overridden: false,
      });
    });

    it.each<[string, unknown, number]>([
      ['idleLeft as remote.it sends it', 900, 900],
      ['a string idleLeft', '120', 120],
      ['a fractional idleLeft, floored', 59.9, 59],
      ['no idleLeft: remote.it\'s documented 15 minutes', undefined, 900],
      ['an unusable idleLeft: the documented 15 minutes', 'soon', 900],
      ['a zero idleLeft: the documented 15 minutes', 0, 900],
    ])('reads the idle window from %s', (_case, idleLeft, idleSeconds) => {
      const body = { status: 'true', connection: { connectionid: 'c-9', proxy: 'http://proxy18.rt3.io:38575', expirationsec: '60', ...(idleLeft !== undefined && { idleLeft }) } };

      expect(normaliseConnectResponse(body, REQUESTED_AT_MS).idleSeconds).toBe(idleSeconds);
    });

    it('still reads the proxy when its backslash escapes survived decoding', () => {
      const body = { status: 'true', connection: { connectionid: 'c-2', proxy: 'http:\\/\\/proxy18.rt3.io:38575', expirationsec: 60 } };

      const connection = normaliseConnectResponse(body, REQUESTED_AT_MS);

      expect(connection.proxy).toEqual({ kind: 'port', url: 'tcp://proxy18.rt3.io:38575', host: 'proxy18.rt3.io', port: 38575 });
      expect(connection.expiresAt).toBe(REQUESTED_AT_S + 60);
    });

    it('builds an https reverse proxy on 443 when the proxy URL has no port', () => {
      const body = { status: 'true', connectionid: 'c-3', connection: { proxy: 'https://xprbjalo.p18.rt3.io', reverseProxy: true } };

      const connection = normaliseConnectResponse(body, REQUESTED_AT_MS);

      expect(connection.proxy).toEqual({ kind: 'reverse', url: 'https://xprbjalo.p18.rt3.io', host: 'xprbjalo.p18.rt3.io', port: 443 });
    });

    it('builds an http reverse proxy on 80 when the proxy is http without a port', () => {
      const body = { status: 'true', connectionid: 'c-4', connection: { proxy: 'http://plain.p18.rt3.io' } };

      expect(normaliseConnectResponse(body, REQUESTED_AT_MS).proxy).toEqual({
        kind: 'reverse',
        url: 'http://plain.p18.rt3.io',
        host: 'plain.p18.rt3.io',
        port: 80,
      });
    });

    it('reads proxyURL when there is no proxy field', () => {
      const body = { status: 'true', connection: { connectionid: 'c-5', proxyURL: 'proxy7.rt3.io:33001' } };

      expect(normaliseConnectResponse(body, REQUESTED_AT_MS).proxy).toEqual({
        kind: 'port',
        url: 'tcp://proxy7.rt3.io:33001',
        host: 'proxy7.rt3.io',
        port: 33001,
      });
    });

    it('reads proxyserver with a string proxyport when neither proxy nor proxyURL is present', () => {
      const body = { status: 'true', connection: { connectionid: 'c-6', proxyserver: 'proxy9.rt3.io', proxyport: '40001', proxyExpirationSec: 100 } };

      const connection = normaliseConnectResponse(body, REQUESTED_AT_MS);

      expect(connection.proxy).toEqual({ kind: 'port', url: 'tcp://proxy9.rt3.io:40001', host: 'proxy9.rt3.io', port: 40001 });
      expect(connection.expiresAt).toBe(REQUESTED_AT_S + 100);
    });

    it('reads proxyserver with a numeric proxyServerPort when proxyport is absent', () => {
      const body = { status: 'true', connection: { connectionid: 'c-7', proxyserver: 'proxy9.rt3.io', proxyServerPort: 40002 } };

      expect(normaliseConnectResponse(body, REQUESTED_AT_MS).proxy.port).toBe(40002);
    });

    it('marks the connection overridden and keeps the previous id when remote.it replaced one', () => {
      const body = {
        status: 'true',
        connectionid: 'c-8',
        connection: { proxy: 'http://proxy1.rt3.io:30000', connectionOverridden: 'true', previousConnection: 'c-old' },
      };

      const connection = normaliseConnectResponse(body, REQUESTED_AT_MS);

      expect(connection.overridden).toBe(true);
      expect(connection.previousConnectionId).toBe('c-old');
    });

    it('falls back to the documented 8 hours when no expiry field is usable', () => {
      const body = { status: 'true', connectionid: 'c-9', connection: { proxy: 'http://proxy1.rt3.io:30000', expirationsec: 'soon' } };

      expect(normaliseConnectResponse(body, REQUESTED_AT_MS).expiresAt).toBe(REQUESTED_AT_S + DEFAULT_EXPIRATION_SECONDS);
    });

    it.each([
      ['there is no connectionid', { status: 'true', connection: { proxy: 'http://proxy1.rt3.io:30000' } }, /no connectionid/],
      ['there is no proxy', { status: 'true', connectionid: 'c-10', connection: { expirationsec: '10' } }, /no proxy address/],
      ['the port proxy has no port', { status: 'true', connectionid: 'c-11', connection: { proxyURL: 'proxy1.rt3.io' } }, /valid host and port/],
      ['the port is out of range', { status: 'true', connectionid: 'c-12', connection: { proxyserver: 'p.rt3.io', proxyport: '70000' } }, /valid host and port/],
      ['the body is not an object', 'nope', /not an object/],
    ])('throws an unusable RemoteitFailure when %s', (_case, body, message) => {
      expect(() => normaliseConnectResponse(body, REQUESTED_AT_MS)).toThrow(RemoteitFailure);
      expect(() => normaliseConnectResponse(body, REQUESTED_AT_MS)).toThrow(expect.objectContaining({ kind: 'unusable' }));
      expect(() => normaliseConnectResponse(body, REQUESTED_AT_MS)).toThrow(message);
    });

    it('keeps the connection id on the error when remote.it opened a connection without a usable proxy', () => {
      const body = { status: 'true', connectionid: 'c-13', connection: { expirationsec: '10' } };

      expect(() => normaliseConnectResponse(body, REQUESTED_AT_MS)).toThrow(expect.objectContaining({ remoteConnectionId: 'c-13' }));
    });
  });
});
