/**
 * How the construct acknowledges a cdk-nag finding on one of its own resources, so that both majors of cdk-nag
 * read it, and without depending on cdk-nag (an app brings whichever it uses, or none):
 *
 * - cdk-nag 3 runs as a CDK validation plugin and reads `Validations.of(construct).acknowledge(...)`: the
 *   `aws:cdk:acknowledged-rules` metadata of the resource or any construct above it, by the finding's full id
 *   (`AwsSolutions-IAM5[Resource::*]`, `Serverless-LambdaDLQ`). aws-cdk-lib has that API from 2.252.0; cdk-nag 3
 *   itself needs 2.257.0, so with an older aws-cdk-lib no cdk-nag 3 can be running and there is nothing to record.
 * - cdk-nag 2 runs as an Aspect and reads the resource's own CloudFormation metadata, `cdk_nag.rules_to_suppress`:
 *   `{id, reason, applies_to}`, where `id` is the rule alone (2.x refuses an id with a `[finding]` in it) and
 *   `applies_to` lists the findings (what `NagSuppressions.addResourceSuppressions` writes).
 *
 * Each acknowledgement names one rule (and finding) on one CloudFormation resource, never a stack or an app, so it
 * covers nothing an app adds beside the broker.
 */
import * as cdk from 'aws-cdk-lib';
import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One entry of cdk-nag 2's `cdk_nag.rules_to_suppress` metadata. */
interface NagV2Suppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: string[];
}

/**
 * Acknowledges `rule` (e.g. `AwsSolutions-IAM5`), or only its `finding` (e.g. `Resource::*`) when given, on the
 * construct's CloudFormation resource. The reason is ASCII (cdk-nag 2 base64-encodes anything else).
 */
export function acknowledgeNagFinding(construct: IConstruct, rule: string, reason: string, finding?: string): void {
  const resource = construct.node.defaultChild ?? construct;
  if (!CfnResource.isCfnResource(resource)) {
    throw new Error(`acknowledgeNagFinding: ${construct.node.path} is not a CloudFormation resource and has no default one`);
  }
  // cdk-nag 3: present from aws-cdk-lib 2.252.0 (looked up at run time, so an older aws-cdk-lib still works).
  const validations = (cdk as { Validations?: typeof cdk.Validations }).Validations;
  const scoped = validations?.of(resource);
  if (scoped && typeof scoped.acknowledge === 'function') {
    scoped.acknowledge({ id: finding === undefined ? rule : `${rule}[${finding}]`, reason });
  }
  // cdk-nag 2: merged into what the resource already carries (another finding of the same rule, another rule).
  const existing = resource.getMetadata('cdk_nag') as { rules_to_suppress?: NagV2Suppression[] } | undefined;
  const suppressions = [...(existing?.rules_to_suppress ?? [])];
  const same = suppressions.findIndex((entry) => entry.id === rule && entry.reason === reason && entry.applies_to !== undefined);
  if (finding !== undefined && same >= 0) {
    const entry = suppressions[same] as NagV2Suppression;
    suppressions[same] = { ...entry, applies_to: [...(entry.applies_to ?? []), finding] };
  } else {
    suppressions.push({ id: rule, reason, ...(finding !== undefined && { applies_to: [finding] }) });
  }
  resource.addMetadata('cdk_nag', { ...existing, rules_to_suppress: suppressions });
}
