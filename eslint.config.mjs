import js from '@eslint/js';
import jest from 'eslint-plugin-jest';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.local/', 'coverage/', 'dist/', 'client/dist/', '**/*.cjs', '**/*.mjs', 'jest.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  { files: ['lambdas/**/*.ts'], rules: { 'no-console': 'error' } },
  {
    // The domain depends on nothing else in lambdas/ but the zod helper: adapters and handlers point into it.
    files: ['lambdas/broker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../handlers', '../handlers/*', '../store', '../store/*', '../remoteit', '../remoteit/*', '../config'], message: 'broker/ imports nothing from the rest of lambdas/ but ../zod: put the type in broker/ and let the adapter point in.' },
            { group: ['@aws-sdk/*', '@aws-lambda-powertools/*', 'aws-lambda'], message: 'broker/ knows no AWS: speak through its ports.' },
          ],
        },
      ],
    },
  },
  {
    // client/ is a package of its own (@remoteit-broker/client): what it imports ships with it, and lambdas/ and
    // dev/ do not. Its types are its own; test/unit/client/contract.test.ts keeps them equal to the API's.
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/lambdas', '**/lambdas/*', '**/dev', '**/dev/*', '**/infra', '**/infra/*', '**/bench', '**/bench/*', '**/test', '**/test/*'],
              message: 'client/ is published on its own: import nothing from the rest of the repository (write the type in client/types.ts; the contract test keeps it in step).',
            },
          ],
        },
      ],
    },
  },
  {
    // The client/ directory is a package whose main is its build (client/dist/): importing the directory from the
    // rest of the repository would load a stale build, or none. Name the module: '../client/index'.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'dev/**/*.ts', 'infra/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+client/?$', message: 'import client/index (or a client module), not the client/ directory: its package.json main is the build.' }] }],
    },
  },
  {
    files: ['test/**/*.ts'],
    ...jest.configs['flat/recommended'],
    rules: {
      ...jest.configs['flat/recommended'].rules,
      'jest/no-focused-tests': 'error',
      'jest/no-disabled-tests': 'error',
      'jest/expect-expect': ['error', { assertFunctionNames: ['expect*', 'assert*'] }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
