import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandLine, parseDuration, UsageError } from '../../../client/cli/args';
import { expandPlaceholders, shellQuote } from '../../../client/cli/exec';
import { EXIT, exitCodeOf, signalExitCode } from '../../../client/cli/exit-codes';
import { formatConnectionTable, formatSpan, formatTable } from '../../../client/cli/format';
import { resolveTarget } from '../../../client/cli/target';
import { BrokerApiError, ClientConfigError, CredentialsError } from '../../../client/errors';
import type { Connection } from '../../../client/types';
import { connection, usage } from './support';


const apiError = (status: number, code?: string) =>
  new BrokerApiError({
    status,
    method: 'POST',
    path: '/connections',
    problem: code ? { type: `urn:remoteit-broker:problem:${code}`, title: code, status, detail: code } : { message: 'Gateway says' },
    retryAfterSeconds: undefined,
    requestId: undefined,
  });

describe('rbroker CLI', () => {
  describe('parseDuration', () => {
    it.each([
      ['15m', 900],
      ['900s', 900],
      ['1h', 3600],
      ['1h30m', 5400],
      ['2m5s', 125],
      ['900', 900],
    ])('reads %s as %i seconds', (text, seconds) => {
      expect(parseDuration(text, 'ttl')).toBe(seconds);
    });

    it.each(['', '0', '15x', 'm', '-5', '1.5h', '15 m', '1m1h'])('refuses %j naming the option', (text) => {
      expect(() => parseDuration(text, 'ttl')).toThrow(/--ttl must be a duration/);
    });
  });

  describe('parseCommandLine', () => {
    it('reads connect with every option and the global ones in any position', () => {
      const invocation = parseCommandLine([
        '--json', 'connect', '80:00:00:00:00:00:00:01', '--mode', 'ip', '--ttl', '15m', '--client-ip', '203.0.113.9',
        '--reuse', '--idempotency-key', 'k1', '--exec', 'nc {host} {port}', '--endpoint', 'local', '--as', 'admin',
      ]);

      expect(invocation).toEqual({
        help: false,
        options: { endpoint: 'local', stackFile: undefined, as: 'admin', json: true },
        command: {
          name: 'connect',
          serviceId: '80:00:00:00:00:00:00:01',
          mode: 'ip',
          ttlSeconds: 900,
          clientIp: '203.0.113.9',
          reuse: true,
          idempotencyKey: 'k1',
          exec: 'nc {host} {port}',
        },
      });
    });

    it('reads ls, get, renew and stop', () => {
      expect(parseCommandLine(['ls', '--status', 'active', '--limit', '5'])).toMatchObject({ command: { name: 'ls', status: 'active', limit: 5, serviceId: undefined } });
      expect(parseCommandLine(['ls'])).toMatchObject({ command: { name: 'ls', limit: 50 } });
      expect(parseCommandLine(['get', 'ID1'])).toMatchObject({ command: { name: 'get', id: 'ID1' } });
      expect(parseCommandLine(['renew', 'ID1', '--ttl', '1h'])).toMatchObject({ command: { name: 'renew', id: 'ID1', ttlSeconds: 3600 } });
      expect(parseCommandLine(['stop', 'ID1'])).toMatchObject({ command: { name: 'stop', id: 'ID1' } });
      expect(parseCommandLine(['--help'])).toEqual({ help: true });
      expect(parseCommandLine(['help'])).toEqual({ help: true });
    });

    it.each([
      [[], 'no command given'],
      [['open', 'x'], "unknown command 'open'"],
      [['connect'], 'connect needs <serviceId>'],
      [['connect', 'a', 'b'], "unexpected argument 'b' for connect"],
      [['connect', 'a', '--mode', 'wide'], '--mode must be one of latching, ip, public'],
      [['connect', 'a', '--status', 'active'], '--status does not apply to connect'],
      [['connect', 'a', '--exec', ' '], '--exec needs a command'],
      [['connect', 'a', '--frobnicate'], "Unknown option '--frobnicate'"],
      [['ls', '--status', 'alive'], '--status must be one of pending, active'],
      [['ls', '--limit', '0'], '--limit must be a whole number'],
      [['get'], 'get needs <id>'],
      [['get', ''], 'get needs <id>, got an empty one'],
      [['renew', 'ID1'], 'renew needs --ttl'],
      [['stop', 'ID1', '--ttl', '5m'], '--ttl does not apply to stop'],
      [['connect', 'a', '--ttl'], "Option '--ttl <value>' argument missing"],
    ])('refuses %j with a usage error', (argv, message) => {
      expect(usage(argv)).toContain(message);
    });
  });

  describe('exitCodeOf', () => {
    it.each([
      ['a usage error', new UsageError('x'), EXIT.usage],
      ['400 from the API', apiError(400, 'invalid_request'), EXIT.usage],
      ['API Gateway 403 (unsigned, bad signature)', apiError(403), EXIT.denied],
      ['403 policy', apiError(403, 'policy_denied'), EXIT.denied],
      ['no credentials', new CredentialsError('none'), EXIT.denied],
      ['404', apiError(404, 'connection_not_found'), EXIT.notFound],
      ['502 remote.it refused', apiError(502, 'upstream_refused'), EXIT.remoteit],
      ['503 remote.it unavailable', apiError(503, 'upstream_unavailable'), EXIT.remoteit],
      ['504 remote.it timed out', apiError(504, 'upstream_timeout'), EXIT.remoteit],
      ['503 from API Gateway', apiError(503), EXIT.failure],
      ['409 not active', apiError(409, 'connection_not_active'), EXIT.failure],
      ['a config error', new ClientConfigError('x'), EXIT.failure],
    ])('maps %s', (_, error, code) => {
      expect(exitCodeOf(error)).toBe(code);
    });

    it('reports a signal as 128 + its number', () => {
      expect([signalExitCode('SIGINT'), signalExitCode('SIGTERM')]).toEqual([130, 143]);
    });
  });

  describe('--exec placeholders', () => {
    it('replaces {host} {port} {url} {id} and quotes only values the shell would not take literally', () => {
      const opened = connection() as Connection;

      expect(expandPlaceholders('nc {host} {port} # {url} {id} {other}', opened)).toBe(
        'nc 127.0.0.1 40001 # tcp://127.0.0.1:40001 01JDTESTCONNECTION00000001 {other}',
      );
      expect(shellQuote("https://x.example/a?b=1&c='d'")).toBe(`'https://x.example/a?b=1&c='\\''d'\\'''`);
    });
  });

  describe('format', () => {
    it('pads columns to their widest cell', () => {
      expect(formatTable(['A', 'LONG'], [['wide cell', 'x'], ['y', 'z']])).toBe(['A          LONG', 'wide cell  x', 'y          z'].join('\n'));
    });

    it('shows spans in their two largest units', () => {
      expect([formatSpan(0), formatSpan(45), formatSpan(900), formatSpan(3_900), formatSpan(90_061)]).toEqual(['0s', '45s', '15m', '1h 5m', '1d 1h']);
    });

    it('adds an OWNER column only when connections belong to more than one caller', () => {
      const now = Date.parse('2026-11-26T14:05:00.000Z');
      const mine = [connection(), connection({ id: '01JDTESTCONNECTION00000002' })] as Connection[];
      const everyone = [...mine, connection({ owner: 'arn:aws:iam::000000000000:role/other', status: 'stopped' })] as Connection[];

      expect(formatConnectionTable(mine, now).split('\n')[0]).not.toContain('OWNER');
      expect(formatConnectionTable(everyone, now).split('\n')[0]).toContain('OWNER');
      expect(formatConnectionTable(mine, now).split('\n')[1]).toContain('ends in 10m');
    });
  });

  describe('resolveTarget', () => {
    let dir: string;
    let stackFile: string;
    const stack = {
      apiUrl: 'http://127.0.0.1:4555',
      region: 'us-east-1',
      identities: [
        { name: 'app', accessKeyId: 'AKIAAPP', secretAccessKey: 'app-secret', principal: 'arn:aws:sts::000000000000:assumed-role/local-app/local', admin: false },
        { name: 'admin', accessKeyId: 'AKIAADMIN', secretAccessKey: 'admin-secret', principal: 'arn:aws:sts::000000000000:assumed-role/local-admin/local', admin: true },
      ],
    };

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rbroker-target-'));
      stackFile = join(dir, 'stack.json');
    });

    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('uses the local stack and its app identity when no endpoint is named and the stack runs', async () => {
      await writeFile(stackFile, JSON.stringify(stack));

      const target = await resolveTarget({ endpoint: undefined, stackFile, as: undefined }, {});

      expect(target).toEqual({
        identity: 'app',
        client: { endpoint: 'http://127.0.0.1:4555', region: 'us-east-1', credentials: { accessKeyId: 'AKIAAPP', secretAccessKey: 'app-secret' } },
      });
    });

    it('signs as the named identity, also when the local URL is given explicitly (env)', async () => {
      await writeFile(stackFile, JSON.stringify(stack));

      const target = await resolveTarget({ endpoint: undefined, stackFile: undefined, as: 'admin' }, { RBROKER_ENDPOINT: 'http://127.0.0.1:4555/', RBROKER_STACK_FILE: stackFile });

      expect(target.client.credentials).toEqual({ accessKeyId: 'AKIAADMIN', secretAccessKey: 'admin-secret' });
    });

    it('leaves a deployed endpoint to the default credential chain and refuses --as there', async () => {
      await writeFile(stackFile, JSON.stringify(stack));
      const deployed = 'https://abc.execute-api.eu-west-1.amazonaws.com';

      await expect(resolveTarget({ endpoint: deployed, stackFile, as: undefined }, {})).resolves.toEqual({ client: { endpoint: deployed }, identity: undefined });
      await expect(resolveTarget({ endpoint: deployed, stackFile, as: 'admin' }, {})).rejects.toBeInstanceOf(UsageError);
    });

    it('says what is missing when the local stack is not running', async () => {
      await expect(resolveTarget({ endpoint: 'local', stackFile, as: undefined }, {})).rejects.toThrow(/local stack is not running/);
      await expect(resolveTarget({ endpoint: undefined, stackFile, as: undefined }, {})).rejects.toThrow(UsageError);
      await expect(resolveTarget({ endpoint: 'not a url', stackFile, as: undefined }, {})).rejects.toThrow(/--endpoint must be a URL/);
    });

    it('names an unknown identity and a malformed stack file', async () => {
      await writeFile(stackFile, JSON.stringify(stack));
      await expect(resolveTarget({ endpoint: 'local', stackFile, as: 'root' }, {})).rejects.toThrow("no identity 'root' (it has: app, admin)");

      await writeFile(stackFile, JSON.stringify({ apiUrl: 'x' }));
      await expect(resolveTarget({ endpoint: 'local', stackFile, as: undefined }, {})).rejects.toThrow(/is not a stack file: apiUrl/);
    });
  });
});
