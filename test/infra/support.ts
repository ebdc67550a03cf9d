/**
 * Shared by the infra tests: an App configured like `cdk synth` (cdk.json's context), optionally without
 * bundling, and readers that turn a synthesised template into what the assertions compare.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { marshall } from '@aws-sdk/util-dynamodb';
import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { ConnectionRecord } from '../../lambdas/broker/model';
import { toItem } from '../../lambdas/store/codec';

const cdkJson = JSON.parse(readFileSync(path.resolve(__dirname, '../../cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

/**
 * `bundling: false` sets CDK's own `aws:cdk:bundling-stacks` context to no stack: NodejsFunction keeps its
 * real configuration and only esbuild is not run. The smoke test bundles for real.
 */
export function testApp(options: { bundling: boolean; context?: Record<string, unknown>; outdir?: string }): App {
  return new App({
    ...(options.outdir && { outdir: options.outdir }),
    context: {
      ...cdkJson.context,
      ...(options.bundling ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    },
  });
}

type Resource = { Type: string; Properties?: Record<string, unknown> } & Record<string, unknown>;

export function resourcesOfType(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The logical id of the Lambda function whose description starts with `describes`. */
export function functionId(template: Template, describes: string): string {
  const matches = Object.entries(resourcesOfType(template, 'AWS::Lambda::Function')).filter(([, fn]) =>
    String(fn.Properties?.Description).startsWith(describes),
  );
  if (matches.length !== 1) throw new Error(`expected one function described '${describes}', found ${matches.length}`);
  return (matches[0] as [string, Resource])[0];
}

/**
 * CloudFormation intrinsic values rendered readably: `{Ref: X}` -> `X`, `{Fn::GetAtt: [X, Arn]}` -> `X.Arn`,
 * `{Fn::Join: ['', parts]}` -> the parts joined.
 */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if ('Ref' in object) return String(object.Ref);
    if ('Fn::GetAtt' in object) return (object['Fn::GetAtt'] as string[]).join('.');
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
  }
  return JSON.stringify(value);
}

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/**
 * Every action a function's role allows, with the resources it allows it on (rendered), from all the
 * policies attached to the role. Managed policies are returned separately so a test can insist on none.
 */
export function permissionsOf(template: Template, functionLogicalId: string) {
  const fn = resourcesOfType(template, 'AWS::Lambda::Function')[functionLogicalId];
  const roleId = render(fn?.Properties?.Role).replace(/\.Arn$/, '');
  const role = resourcesOfType(template, 'AWS::IAM::Role')[roleId];
  const actions = new Map<string, string[]>();
  for (const policy of Object.values(resourcesOfType(template, 'AWS::IAM::Policy'))) {
    const roles = asArray(policy.Properties?.Roles as unknown[]).map(render);
    if (!roles.includes(roleId)) continue;
    const document = policy.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] };
    for (const statement of document.Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asArray(statement.Action as string | string[])) {
        const resources = asArray(statement.Resource as unknown).map(render);
        actions.set(action, [...(actions.get(action) ?? []), ...resources].sort());
      }
    }
  }
  return {
    actions: Object.fromEntries([...actions].sort(([a], [b]) => a.localeCompare(b))),
    managedPolicies: asArray(role?.Properties?.ManagedPolicyArns as unknown[]),
  };
}

/** `template.hasResourceProperties` under a name the linter counts as an assertion. */
export function expectResourceProperties(template: Template, type: string, properties: unknown): void {
  template.hasResourceProperties(type, properties);
}

/** `template.hasResource` (properties plus DeletionPolicy and friends) under a name the linter counts. */
export function expectResource(template: Template, type: string, resource: unknown): void {
  template.hasResource(type, resource);
}

/**
 * Lambda event filtering's matching for the one operator the broker's stream filters use: a list of exact
 * values (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html).
 */
export function filterMatches(filter: unknown, event: unknown): boolean {
  if (Array.isArray(filter)) {
    const values: unknown[] = filter;
    return values.every((value) => typeof value === 'string') && values.some((value) => value === event);
  }
  if (!filter || typeof filter !== 'object' || !event || typeof event !== 'object') return false;
  return Object.entries(filter).every(([key, sub]) => filterMatches(sub, (event as Record<string, unknown>)[key]));
}

/** A stream record as DynamoDB writes it for a change of one item, with the items the store writes. */
export function streamRecord(eventName: 'INSERT' | 'MODIFY' | 'REMOVE', before?: ConnectionRecord, after?: ConnectionRecord) {
  return {
    eventName,
    dynamodb: {
      ...(before && { OldImage: marshall(toItem(before, 8)) }),
      ...(after && { NewImage: marshall(toItem(after, 8)) }),
    },
  };
}

/** The pattern of the one filter of an event source mapping's `FilterCriteria`, parsed. */
export function filterPatternOf(mapping: Record<string, unknown>): unknown {
  const criteria = mapping.FilterCriteria as { Filters: { Pattern: string }[] } | undefined;
  if (criteria?.Filters.length !== 1) throw new Error('expected exactly one filter');
  return JSON.parse(criteria.Filters[0]?.Pattern ?? 'null') as unknown;
}
