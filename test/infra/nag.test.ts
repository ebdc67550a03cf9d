import { CfnResource, Validations, type App, type PolicyValidationPluginReport } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { createBrokerStack } from '../../infra/broker-app';
import { testApp } from './support';

/** Every finding of both packs, warnings included, as `RuleId at construct/path` lines a failure prints in full. */
function findings(scope: IConstruct): string[] {
  const reports: PolicyValidationPluginReport[] = [new AwsSolutionsChecks(), new ServerlessChecks()].map((pack) =>
    pack.validateScope(scope),
  );
  return reports.flatMap((report) =>
    report.violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
    ),
  );
}

/** Acknowledgements recorded in the tree: where, which rule, why. */
function acknowledgements(scope: IConstruct) {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ construct, id, reason })),
      ),
  );
}

describe('cdk-nag', () => {
  // One app, built exactly as `cdk synth` builds it (bundling skipped; the smoke test bundles).
  let app: App;
  beforeAll(() => {
    app = testApp({ bundling: false });
    createBrokerStack(app);
  });

  describe('AwsSolutions and Serverless packs', () => {
    it('report no unacknowledged finding, warnings included, when the broker app is checked', () => {
      expect(findings(app)).toEqual([]);
    });

    it('let the app synthesise when they run as validation plugins', () => {
      expect(() => app.synth()).not.toThrow();
    });
  });

  describe('acknowledgements', () => {
    it('sit on one CloudFormation resource each, name one rule and give a reason', () => {
      const recorded = acknowledgements(app);

      expect(recorded.length).toBeGreaterThan(0);
      for (const { construct, id, reason } of recorded) {
        expect({ path: construct.node.path, isResource: CfnResource.isCfnResource(construct) }).toEqual({
          path: construct.node.path,
          isResource: true,
        });
        expect(id).toMatch(/^Annotation::(AwsSolutions|Serverless)-[A-Za-z0-9]+(\[[^\]]+\])?$/);
        expect(reason.length).toBeGreaterThan(40);
      }
    });

    it('are written twice, once for each major of cdk-nag: every acknowledgement is also in the resource\'s cdk_nag metadata (2.x)', () => {
      const v3 = acknowledgements(app).map(({ construct, id }) => `${construct.node.path} ${id.replace(/^Annotation::/, '')}`);
      const v2 = app.node.findAll().filter(CfnResource.isCfnResource).flatMap((resource) => {
        const metadata = resource.getMetadata('cdk_nag') as { rules_to_suppress: { id: string; reason: string; applies_to?: string[] }[] } | undefined;
        return (metadata?.rules_to_suppress ?? []).flatMap((rule) => {
          // 2.x refuses a finding in the id and a reason under 10 characters.
          expect(rule.id).not.toMatch(/\[/);
          expect(rule.reason.length).toBeGreaterThanOrEqual(10);
          return (rule.applies_to ?? [undefined]).map((finding) => `${resource.node.path} ${rule.id}${finding === undefined ? '' : `[${finding}]`}`);
        });
      });

      expect(v2.sort()).toEqual(v3.sort());
    });

    it('leave a sibling resource checked when one is added beside the broker', () => {
      // Arrange: a fresh app with a queue that breaks AwsSolutions-SQS3/SQS4 next to the broker's own DLQ.
      const other = testApp({ bundling: false });
      const stack = createBrokerStack(other);
      new sqs.Queue(stack, 'Unacknowledged', { encryption: sqs.QueueEncryption.SQS_MANAGED });

      // Act
      const found = findings(other);

      // Assert: the broker's acknowledgements do not cover it, and synth fails on the error-level finding.
      expect(found).toEqual(
        expect.arrayContaining([
          `AwsSolutions-SQS3 at ${stack.stackName}/Unacknowledged/Resource`,
          `AwsSolutions-SQS4 at ${stack.stackName}/Unacknowledged/Resource`,
        ]),
      );
      expect(found.every((line) => line.includes('/Unacknowledged/'))).toBe(true);
      expect(() => other.synth()).toThrow(/AwsSolutions-SQS3/);
    });
  });
});
