/**
 * The cdk-nag rule packs every synth runs. Shared by the app and the tests so both check the same rules.
 */
import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks, type NagPack } from 'cdk-nag';

/** Registers the packs as validation plugins: an unacknowledged error-level finding fails `cdk synth`. */
export function addNagPacks(app: App): NagPack[] {
  const packs = [new AwsSolutionsChecks(app, { verbose: true }), new ServerlessChecks(app, { verbose: true })];
  Validations.of(app).addPlugins(...packs);
  return packs;
}
