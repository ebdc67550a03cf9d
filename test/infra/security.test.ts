/**
 * The deployed attack surface, read from the synthesised template: the HTTP API's routes are exactly the
 * API's, each behind IAM; nothing else can invoke a function (no function URL, no unauthorised route, no other
 * API's permission); the sweeper is reachable only from its schedule, the timer and audit functions only from
 * their event source mappings; no secret value is in any environment.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { BrokerStack } from '../../infra/broker-stack';
import { API_ROUTES } from '../../lambdas/handlers/routes';
import { functionId, render, resourcesOfType, testApp } from './support';

const policy = {
  rules: [{ principals: ['arn:aws:iam::123456789012:role/app-*'], services: ['80:00:00:00:01:*'], modes: ['latching' as const, 'public' as const] }],
  admins: ['arn:aws:iam::123456789012:role/broker-admin'],
};

let template: Template;
beforeAll(() => {
  const stack = new BrokerStack(testApp({ bundling: false }), 'Broker', { broker: { policy } });
  template = Template.fromStack(stack);
});

describe('ConnectionBroker attack surface', () => {
  it('serves exactly the API\'s routes, every one with AWS_IAM authorization and no custom authorizer', () => {
    const routes = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route')).map((route) => [
      route.Properties?.RouteKey,
      route.Properties?.AuthorizationType,
    ]);

    expect(routes.sort()).toEqual(API_ROUTES.map((route) => [route.routeKey, 'AWS_IAM']).sort());
    expect(routes.map(([key]) => key)).not.toContain('$default');
    expect(resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer')).toEqual({});
  });

  it('lets only this API invoke the API functions and only the schedule invoke the sweeper, with no function URL anywhere', () => {
    const [apiId] = Object.keys(resourcesOfType(template, 'AWS::ApiGatewayV2::Api'));
    const sweeper = functionId(template, 'remote.it broker: stops');
    const apiFunctions = [functionId(template, 'remote.it broker: GET'), functionId(template, 'remote.it broker: opens'), functionId(template, 'remote.it broker: renews')];
    const permissions = Object.values(resourcesOfType(template, 'AWS::Lambda::Permission')).map((permission) => ({
      fn: render(permission.Properties?.FunctionName).replace(/\.Arn$/, ''),
      principal: permission.Properties?.Principal,
      source: render(permission.Properties?.SourceArn),
    }));

    const allowed = (permission: (typeof permissions)[number]) =>
      permission.fn === sweeper
        ? permission.principal === 'events.amazonaws.com' && /Schedule|Rule/.test(permission.source)
        : apiFunctions.includes(permission.fn) && permission.principal === 'apigateway.amazonaws.com' && permission.source.includes(`${apiId}/`);

    expect(permissions.length).toBeGreaterThan(0);
    expect(permissions.filter((permission) => !allowed(permission))).toEqual([]);
    expect(permissions.some((permission) => permission.fn === sweeper)).toBe(true);
    expect(resourcesOfType(template, 'AWS::Lambda::Url')).toEqual({});
  });

  it('invokes the timer and audit functions only through their event source mappings: no resource policy lets anyone call them', () => {
    const mappedFunctions = [
      functionId(template, 'remote.it broker: arms'),
      functionId(template, 'remote.it broker: fires'),
      functionId(template, 'remote.it broker: publishes'),
    ];
    const permitted = Object.values(resourcesOfType(template, 'AWS::Lambda::Permission')).map((permission) =>
      render(permission.Properties?.FunctionName).replace(/\.Arn$/, ''),
    );
    const mapped = Object.values(resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')).map((mapping) =>
      render(mapping.Properties?.FunctionName),
    );

    expect(permitted.filter((fn) => mappedFunctions.includes(fn))).toEqual([]);
    expect([...new Set(mapped)].sort()).toEqual([...mappedFunctions].sort());
  });

  it('puts no secret value into any function\'s environment, only the secret\'s name', () => {
    const environments = Object.values(resourcesOfType(template, 'AWS::Lambda::Function')).map(
      (fn) => ((fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}),
    );
    const names = environments.flatMap((variables) => Object.keys(variables));
    const values = JSON.stringify(environments);

    expect(names.filter((name) => /SECRET|KEY|PASSWORD|TOKEN/i.test(name)).sort()).toEqual(
      Array(names.filter((name) => name === 'REMOTEIT_SECRET_ID').length).fill('REMOTEIT_SECRET_ID'),
    );
    expect(values).not.toMatch(/secretAccessKey|password|developerKey|SecretString/i);
  });
});
