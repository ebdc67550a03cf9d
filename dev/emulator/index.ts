/** remote.it emulator for the local stack and integration tests: see emulator.ts. */
export { ADMIN_PREFIX, API_PREFIX, GRAPHQL_PATH, REASONS, startEmulator } from './emulator';
export type { CallLog, CallOutcome, CallRecord, Emulator } from './emulator';
export { startEchoServer, startHttpDemo } from './demo-services';
export type { DemoOptions, DemoService } from './demo-services';
export {
  DEFAULT_STOP_REFUSAL_REASON,
  EmulatorConfigError,
  emulatorFileSchema,
  emulatorOptionsSchema,
  faultsSchema,
  loadEmulatorConfig,
  parseEmulatorOptions,
} from './options';
export type { AccountConfig, EmulatorConfig, EmulatorOptions, Faults, ServiceConfig } from './options';
export type { AccessMode, EndReason, ProxySnapshot } from './proxies';
export { verifySignature } from './auth';
export type { SignatureCheck, SignedRequest } from './auth';
