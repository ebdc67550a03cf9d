// swc strips types only; `tsc --noEmit` is the type check (its own step in `npm test`).
/** @type {import('jest').Config['transform']} */
const transform = { '^.+\\.ts$': ['@swc/jest', {}] };
const shared = {
  transform,
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  clearMocks: true,
};

/** @type {import('jest').Config} */
module.exports = {
  reporters: ['default', '<rootDir>/test/summary-reporter.cjs'],
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
      setupFiles: ['<rootDir>/test/setup-env.ts', '<rootDir>/test/integration/setup-env.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/timeout-30s.ts'],
    },
    { ...shared, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/timeout-120s.ts'] },
  ],
};
