import { createServer, type AddressInfo } from 'node:net';
import { parseCommandLine } from '../../../client/cli/args';
import { assertPortsFree, curlCommand, DEFAULT_PORTS, describeStartError, formatBanner, formatEventLog, formatSweepLog, parseStartArgs, UsageError, type BannerInput } from '../../../dev/start';
import type { AuditEnvelope } from '../../../dev/stack';
import { JavaMissingError } from '../../../dev/dynamodb-local';
import type { SweepSummary } from '../../../lambdas/broker/sweeper';

const app = {
  name: 'app',
  accessKeyId: 'AKIAAPPAPPAPPAPPAPP1',
  secretAccessKey: 'appsecretappsecretappsecretappsecret0000',
  principal: 'arn:aws:sts::000000000000:assumed-role/local-app/local',
  admin: false,
};

const banner = (overrides: Partial<BannerInput> = {}): BannerInput => ({
  apiUrl: 'http://127.0.0.1:4000',
  region: 'us-east-1',
  emulatorUrl: 'http://127.0.0.1:4100/apv/v27',
  remoteitApiUrl: 'http://127.0.0.1:4100/apv/v27',
  dynamoDbEndpoint: 'http://127.0.0.1:4200',
  stackFile: '/repo/.local/stack.json',
  identities: [app, { ...app, name: 'admin', admin: true, accessKeyId: 'AKIAADMINADMINADMIN1' }],
  services: [
    { serviceId: '80:00:00:00:00:00:00:01', name: 'demo-echo', kind: 'tcp', target: '127.0.0.1:1234' },
    { serviceId: '80:00:00:00:00:00:00:02', name: 'demo-web', kind: 'http', target: '127.0.0.1:1235' },
  ],
  sweepSeconds: 10,
  ...overrides,
});

const summary = (overrides: Partial<SweepSummary> = {}): SweepSummary => ({
  scanned: 0, due: 0, swept: 0, expired: 0, retried: 0, stopFailed: 0, settledPending: 0, skipped: 0, errors: 0, backlog: 0, lagSeconds: 0, budgetExhausted: false,
  ...overrides,
});

describe('start', () => {
  describe('parseStartArgs', () => {
    it('takes the defaults when no option is given', () => {
      expect(parseStartArgs([])).toEqual({
        reset: false,
        help: false,
        quiet: false,
        events: false,
        sweepSeconds: 10,
        apiPort: DEFAULT_PORTS.api,
        emulatorPort: DEFAULT_PORTS.emulator,
        dynamodbPort: DEFAULT_PORTS.dynamodb,
        policyFile: undefined,
        servicesFile: undefined,
        timers: true,
      });
    });

    it('prints the audit events with --events', () => {
      expect(parseStartArgs(['--events'])).toMatchObject({ events: true });
    });

    it('runs the sweeper alone with --no-timers', () => {
      expect(parseStartArgs(['--no-timers'])).toMatchObject({ timers: false });
    });

    it('reads every option when they are given', () => {
      const args = parseStartArgs(['--reset', '--sweep-seconds', '0.5', '--api-port', '0', '--emulator-port=4101', '--policy', 'p.json']);

      expect(args).toMatchObject({ reset: true, sweepSeconds: 0.5, apiPort: 0, emulatorPort: 4101, policyFile: 'p.json' });
    });

    it.each([
      [['--sweep-seconds', '0']],
      [['--sweep-seconds', 'often']],
      [['--api-port', '70000']],
      [['--unknown']],
      [['positional']],
    ])('refuses %j with a usage error', (argv) => {
      expect(() => parseStartArgs(argv)).toThrow(UsageError);
    });
  });

  describe('curlCommand', () => {
    it('builds a signed JSON POST when a body is given', () => {
      expect(curlCommand(app, 'us-east-1', 'http://127.0.0.1:4000/connections', { body: { serviceId: '80:00:00:00:00:00:00:01' } })).toBe(
        `curl --aws-sigv4 "aws:amz:us-east-1:execute-api" --user "AKIAAPPAPPAPPAPPAPP1:appsecretappsecretappsecretappsecret0000" ` +
          `-H 'content-type: application/json' -d '{"serviceId":"80:00:00:00:00:00:00:01"}' http://127.0.0.1:4000/connections`,
      );
    });

    it('sets the method when one is given', () => {
      expect(curlCommand(app, 'us-east-1', 'http://h/connections/1', { method: 'DELETE' })).toContain('-X DELETE http://h/connections/1');
    });
  });

  describe('formatEventLog', () => {
    it('prints an audit event as one line: its envelope as JSON', () => {
      const event = {
        version: '0',
        id: 'e-1',
        'detail-type': 'Connection Stopped',
        source: 'remoteit-broker',
        account: '000000000000',
        time: '2030-01-01T00:00:00Z',
        region: 'us-east-1',
        resources: [],
        detail: { connectionId: '01JDTESTCONNECTION00000001', stopReason: 'requested', actor: 'arn:aws:sts::000000000000:assumed-role/local-app/local' },
      } as unknown as AuditEnvelope;

      const line = formatEventLog(event);

      expect(line).not.toContain('\n');
      expect(line.startsWith('[event] ')).toBe(true);
      expect(JSON.parse(line.slice('[event] '.length))).toEqual(event);
    });
  });

  describe('formatBanner', () => {
    it('names where the audit events go, and how to see them', () => {
      const quiet = formatBanner(banner({ audit: { busName: 'remoteit-broker-local', eventsFile: '/repo/.local/events.jsonl', printed: false } }));
      const printed = formatBanner(banner({ audit: { busName: 'remoteit-broker-local', eventsFile: '/repo/.local/events.jsonl', printed: true } }));

      expect(quiet).toContain('  audit events                            /repo/.local/events.jsonl (EventBridge bus remoteit-broker-local; --events prints them here)');
      expect(printed).toContain('/repo/.local/events.jsonl (EventBridge bus remoteit-broker-local; printed here too)');
    });

    it('offers rbroker commands that the CLI accepts', () => {
      // Arrange
      const text = formatBanner(banner());

      // Act
      const commands = text
        .split('\n')
        .filter((line) => line.startsWith('  npx rbroker '))
        .map((line) => (line.slice('  npx rbroker '.length).match(/'[^']*'|\S+/g) ?? []).map((word) => word.replace(/^'(.*)'$/, '$1')));

      // Assert
      expect(commands.map((argv) => parseCommandLine(argv.map((word) => word.replace('<id>', '01JDTESTCONNECTION00000001'))))).toEqual([
        expect.objectContaining({ command: expect.objectContaining({ name: 'connect', serviceId: '80:00:00:00:00:00:00:01', exec: undefined }) }),
        expect.objectContaining({ command: expect.objectContaining({ name: 'ls' }) }),
        expect.objectContaining({ command: { name: 'stop', id: '01JDTESTCONNECTION00000001' } }),
        expect.objectContaining({ command: expect.objectContaining({ name: 'connect', serviceId: '80:00:00:00:00:00:00:02', exec: 'curl -s {url}/hello' }) }),
      ]);
    });

    it('prints the first command to open a connection to the echo service as the app identity', () => {
      const text = formatBanner(banner());

      expect(text).toContain(curlCommand(app, 'us-east-1', 'http://127.0.0.1:4000/connections', { body: { serviceId: '80:00:00:00:00:00:00:01' } }));
      expect(text).toContain('http://127.0.0.1:4100/apv/v27');
      expect(text).toContain('AKIAADMINADMINADMIN1');
      expect(text).toContain('/repo/.local/stack.json');
    });

    it('names the remote.it endpoint and no first command when the emulator was replaced', () => {
      const text = formatBanner(banner({ emulatorUrl: undefined, remoteitApiUrl: 'https://api.remote.it/apv/v27', services: [] }));

      expect(text).toContain('remote.it (REMOTEIT_API_URL)            https://api.remote.it/apv/v27');
      expect(text).not.toContain('curl --aws-sigv4');
    });
  });

  describe('formatSweepLog', () => {
    it('says nothing when the sweep had nothing to do', () => {
      expect(formatSweepLog(summary({ scanned: 3 }))).toBeUndefined();
    });

    it('lists what the sweep did when it did something', () => {
      expect(formatSweepLog(summary({ swept: 2, retried: 1, lagSeconds: 3 }))).toBe('[sweeper] swept 2, retried 1 (lag 3 s)');
    });
  });

  describe('describeStartError', () => {
    const args = parseStartArgs([]);

    it('gives the message alone when Java is missing', () => {
      const error = new JavaMissingError('`java -version` failed');

      expect(describeStartError(error, args)).toBe(error.message);
    });

    it('names the flag to change when the gateway port is taken', () => {
      const error = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', port: DEFAULT_PORTS.api });

      expect(describeStartError(error, args)).toContain('--api-port');
    });
  });
  describe('assertPortsFree', () => {
    it('names the flag to change when a port is taken', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;

      try {
        await expect(assertPortsFree([{ port, flag: '--api-port' }])).rejects.toThrow(`port ${port} is in use`);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('skips port 0 (any free port) when asked to check it', async () => {
      await expect(assertPortsFree([{ port: 0, flag: '--api-port' }])).resolves.toBeUndefined();
    });
  });
});
