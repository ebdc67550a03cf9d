import { join } from 'node:path';
import { EmulatorConfigError, loadEmulatorConfig, parseEmulatorOptions } from '../../../dev/emulator';
import { TCP_SERVICE, testAccount } from './helpers';

const service = { serviceId: TCP_SERVICE, name: 'echo', kind: 'tcp' as const, target: '127.0.0.1:7000' };

describe('remote.it emulator options', () => {
  describe('loadEmulatorConfig', () => {
    it('loads the example services file with upper-case service ids', async () => {
      const config = await loadEmulatorConfig(join(__dirname, '../../../dev/emulator/services.example.json'));

      expect(config.services?.map((entry) => entry.kind)).toEqual(['tcp', 'http']);
      expect(config.services?.every((entry) => entry.serviceId === entry.serviceId.toUpperCase())).toBe(true);
    });

    it('throws EmulatorConfigError when the file does not exist', async () => {
      await expect(loadEmulatorConfig(join(__dirname, 'missing.json'))).rejects.toBeInstanceOf(EmulatorConfigError);
    });
  });

  describe('parseEmulatorOptions', () => {
    it('fills remote.it-like defaults when only accounts and services are given', () => {
      const config = parseEmulatorOptions({ accounts: [testAccount], services: [{ ...service, serviceId: TCP_SERVICE.toLowerCase() }] });

      expect(config).toMatchObject({
        host: '127.0.0.1',
        port: 0,
        proxyHost: '127.0.0.1',
        lifetimeSeconds: 28_800,
        idleSeconds: 900,
        tokenLifetimeSeconds: 3600,
        stopRefusalReason: 'connectionid incorrect or missing',
        services: [{ serviceId: TCP_SERVICE }],
      });
    });

    it('keeps a stop refusal reason given in the options and rejects an empty one', () => {
      const config = parseEmulatorOptions({ accounts: [testAccount], stopRefusalReason: 'connection not found' });

      expect(config.stopRefusalReason).toBe('connection not found');
      expect(() => parseEmulatorOptions({ accounts: [testAccount], stopRefusalReason: '' })).toThrow(/stopRefusalReason/);
    });

    it('names the duplicated service id when a service is listed twice', () => {
      expect(() => parseEmulatorOptions({ accounts: [testAccount], services: [service, service] })).toThrow(
        /services\.1\.serviceId: is listed twice/,
      );
    });

    it('rejects an access key without its secret and keeps secrets out of the message', () => {
      const parse = () =>
        parseEmulatorOptions({ accounts: [{ developerKey: 'very-secret-dev-key', accessKeyId: 'KEY' }], services: [service] });

      expect(parse).toThrow(EmulatorConfigError);
      expect(parse).toThrow(/accessKeyId and secretAccessKey go together/);
      expect(parse).not.toThrow(/very-secret-dev-key/);
    });

    it('rejects a target without a port', () => {
      expect(() => parseEmulatorOptions({ accounts: [testAccount], services: [{ ...service, target: 'localhost' }] })).toThrow(
        /services\.0\.target: must be host:port/,
      );
    });
  });
});
