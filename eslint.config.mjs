import js from '@eslint/js';
import jest from 'eslint-plugin-jest';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.local/', 'coverage/', '**/*.cjs', '**/*.mjs', 'jest.config.js'] },
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
