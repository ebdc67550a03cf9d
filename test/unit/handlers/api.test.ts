/**
 * apiHandler counts every 5xx it answers as the broker's own fault (`ApiFaults`, which pages operators) or as
 * remote.it's (`ApiUpstreamFailures`, which a caller can cause at will with an offline device and must not
 * page anyone). Real Powertools Logger and Metrics; the EMF they print is what CloudWatch reads.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ConnectionNotFoundError, UpstreamRefusedError, UpstreamTimeoutError, UpstreamUnavailableError } from '../../../lambdas/broker/errors';
import { apiHandler } from '../../../lambdas/handlers/http/api';
import { StoreUnavailableError } from '../../../lambdas/store/errors';
import { apiEvent, lambdaContext } from '../../fixtures/api-events';

let printed: string[];
let spy: jest.SpyInstance;

beforeEach(() => {
  printed = [];
  spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(...String(chunk).split('\n').filter((line) => line.trim() !== ''));
    return true;
  });
});

afterEach(() => {
  spy.mockRestore();
});

/** The metric names one request published. */
async function metricsOf(error: Error): Promise<string[]> {
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  try {
    const metrics = new Metrics({ namespace: 'RemoteitBrokerTest', serviceName: 'remoteit-broker' });
    const handler = apiHandler({ 'POST /connections': () => Promise.reject(error) }, { logger: new Logger({ logLevel: 'SILENT' }), metrics });
    await handler(apiEvent({ routeKey: 'POST /connections', body: {} }), lambdaContext());
  } finally {
    process.env.POWERTOOLS_METRICS_DISABLED = previous;
  }
  return printed
    .map((line) => JSON.parse(line) as { _aws?: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> } })
    .flatMap((entry) => entry._aws?.CloudWatchMetrics ?? [])
    .flatMap((directive) => directive.Metrics.map((metric) => metric.Name));
}

describe('apiHandler 5xx metrics', () => {
  it.each([
    ['an unexpected error (500)', new Error('boom')],
    ['its database unavailable (503)', new StoreUnavailableError({ cause: new Error('throttled') })],
  ])('counts %s as ApiFaults', async (_name, error) => {
    expect(await metricsOf(error)).toEqual(['ApiFaults']);
  });

  it.each([
    ['remote.it refusing (502)', new UpstreamRefusedError('device offline')],
    ['remote.it unavailable (503)', new UpstreamUnavailableError()],
    ['remote.it timing out (504)', new UpstreamTimeoutError()],
  ])('counts %s as ApiUpstreamFailures, never ApiFaults', async (_name, error) => {
    expect(await metricsOf(error)).toEqual(['ApiUpstreamFailures']);
  });

  it('counts no 4xx', async () => {
    expect(await metricsOf(new ConnectionNotFoundError('01JDTESTCONNECTION00000001'))).toEqual([]);
  });
});
