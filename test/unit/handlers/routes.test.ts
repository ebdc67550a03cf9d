import { API_ROUTES } from '../../../lambdas/handlers/routes';

describe('API_ROUTES', () => {
  beforeAll(() => {
    Object.assign(process.env, {
      CONNECTIONS_TABLE_NAME: 'connections',
      IDEMPOTENCY_TABLE_NAME: 'idempotency',
      LOCKS_TABLE_NAME: 'locks',
      REMOTEIT_SECRET_ID: 'remoteit',
      POLICY_APPCONFIG_APPLICATION: 'remoteit-broker',
      POLICY_APPCONFIG_ENVIRONMENT: 'test',
      POLICY_APPCONFIG_PROFILE: 'policy',
    });
  });

  it.each(['connections-read', 'connections-write'] as const)('are exactly the routes the %s function dispatches', (name) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the env its config reads
    const { routes } = require(`../../../lambdas/handlers/${name}`) as { routes: Record<string, unknown> };

    const expected = API_ROUTES.filter((route) => route.function === name).map((route) => route.routeKey);

    expect(Object.keys(routes).sort()).toEqual(expected.sort());
  });
});
