import { InvalidRequestError } from '../../../lambdas/broker/errors';
import {
  SERVICE,
  appCaller,
  createHarness,
  publicPolicy,
  rejectionOf,
} from './use-case-harness';


describe('openConnection client IP (hostIpFor)', () => {
  describe('mode ip', () => {
    it("sends the caller's source IP when no clientIp is given", async () => {
      const { service, remoteit } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: SERVICE, mode: 'ip' });

      expect(remoteit.connectCalls).toEqual([{ serviceId: SERVICE, hostIp: appCaller.sourceIp }]);
      expect(connection.hostIp).toBe(appCaller.sourceIp);
    });

    it('sends clientIp when it is given', async () => {
      const { service, remoteit } = createHarness();

      await service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp: '8.8.4.4' });

      expect(remoteit.connectCalls).toEqual([{ serviceId: SERVICE, hostIp: '8.8.4.4' }]);
    });

    it.each([
      ['private 10/8', '10.1.2.3'],
      ['private 172.16/12', '172.31.255.254'],
      ['private 192.168/16', '192.168.1.1'],
      ['loopback', '127.0.0.1'],
      ['link-local', '169.254.169.254'],
      ['CGNAT', '100.64.0.1'],
      ['documentation', '203.0.113.9'],
      ['multicast', '224.0.0.1'],
      ['reserved', '240.0.0.1'],
      ['broadcast', '255.255.255.255'],
      ['unspecified', '0.0.0.0'],
      ['this-network', '0.1.2.3'],
      ['IPv6', '2001:db8::1'],
      ['not an address', 'example.com'],
      ['three octets', '81.2.69'],
      ['leading zeros', '081.2.69.160'],
    ])('rejects clientIp naming the field when it is %s (%s)', async (_kind, clientIp) => {
      const { service, store, remoteit } = createHarness();

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp }));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).errors).toEqual([{ field: 'clientIp', message: expect.any(String) }]);
      expect(remoteit.connectCalls).toHaveLength(0);
      expect(store.records()).toHaveLength(0);
    });

    it.each(['81.2.69.160', '1.1.1.1', '100.63.255.255', '100.128.0.0', '172.32.0.1', '223.255.255.254'])(
      'accepts clientIp when it is the public unicast address %s',
      async (clientIp) => {
        const { service } = createHarness();

        const { connection } = await service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp });

        expect(connection.hostIp).toBe(clientIp);
      },
    );

    it('rejects asking for clientIp when the source IP is private and none is given', async () => {
      const { service } = createHarness();
      const caller = { ...appCaller, sourceIp: '10.0.0.5' };

      const error = await rejectionOf(service.open(caller, { serviceId: SERVICE, mode: 'ip' }));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).errors[0]).toEqual({
        field: 'clientIp',
        message: expect.stringMatching(/source address 10\.0\.0\.5.*give clientIp/),
      });
    });

    it.each(['127.0.0.2', '10.0.0.1', '192.168.0.10'])(
      'accepts the private address %s when the deployment allows private client IPs',
      async (clientIp) => {
        const { service } = createHarness({ allowPrivateClientIps: true });

        const { connection } = await service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp });

        expect(connection.hostIp).toBe(clientIp);
      },
    );

    it.each(['0.0.0.0', '255.255.255.255', '224.0.0.1'])(
      'still rejects %s when the deployment allows private client IPs',
      async (clientIp) => {
        const { service } = createHarness({ allowPrivateClientIps: true });

        await expect(service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp })).rejects.toThrow(InvalidRequestError);
      },
    );
  });

  describe('other modes', () => {
    it.each(['latching', 'public'] as const)('rejects clientIp naming the field when the mode is %s', async (mode) => {
      const { service, remoteit } = createHarness({ policy: publicPolicy });

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, mode, clientIp: '81.2.69.160' }));

      expect((error as InvalidRequestError).errors).toEqual([{ field: 'clientIp', message: "is only allowed with mode 'ip'" }]);
      expect(remoteit.connectCalls).toHaveLength(0);
    });
  });
});
