// Lint rules of STYLE.md §9 and §1: typed rules on all TypeScript, and the purity fence
// around the Raft core and the contracts it uses (no I/O, clocks, timers or ambient randomness
// in agent/core or contracts/; the core imports only itself and contracts/, contracts/ only
// itself). test/ci/layers.test.ts checks the layering of every folder.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

const impureGlobals = [
  { name: 'Date', message: 'The core takes time as ticks; no clocks.' },
  { name: 'setTimeout', message: 'The core has no timers.' },
  { name: 'setInterval', message: 'The core has no timers.' },
  { name: 'setImmediate', message: 'The core has no timers.' },
  { name: 'process', message: 'The core has no process access.' },
  { name: 'console', message: 'The core does not log; it returns values.' },
  { name: 'crypto', message: 'The core takes randomness from an injected Prng.' },
  { name: 'performance', message: 'The core has no clocks.' },
];
/** The same globals reached through globalThis, which no-restricted-globals does not see. */
const impureGlobalProperties = impureGlobals.map(({ name, message }) => ({
  object: 'globalThis',
  property: name,
  message,
}));
const mathRandom = { object: 'Math', property: 'random', message: 'Use the injected Prng.' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'tmp/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-exports': [
        'error',
        {
          restrictDefaultExports: {
            direct: true,
            named: true,
            defaultFrom: true,
            namedFrom: true,
            namespaceFrom: true,
          },
        },
      ],
    },
  },
  {
    files: ['agent/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'net', 'dgram', 'crypto', 'timers', 'os', 'child_process'],
              message: 'The core does no I/O.',
            },
            { regex: '^\\.\\./(?!\\.\\./contracts/)', message: 'The core imports only core files and contracts/.' },
            {
              group: ['pino', 'lmdb', 'coap', 'cbor-x', 'protobufjs', 'ajv', 'prom-client', 'hot-shots'],
              message: 'The core imports only core files and contracts/.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', ...impureGlobals],
      'no-restricted-properties': ['error', mathRandom, ...impureGlobalProperties],
    },
  },
  {
    // contracts/ is the shared base (DESIGN.md, "Layers"): it imports nothing outside itself.
    files: ['contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./)',
              message: 'contracts/ imports only its own files: no built-in, package or other folder.',
            },
          ],
        },
      ],
      // The core uses all of it, so it is as pure as the core.
      'no-restricted-globals': ['error', ...impureGlobals],
      'no-restricted-properties': ['error', mathRandom, ...impureGlobalProperties],
    },
  },
  {
    // Size limits (STYLE.md §1): no source file over 400 lines and no function over 70, counting
    // every line. Tests are exempt: a describe block is a function, and a test file may be long.
    files: [
      'contracts/**/*.ts',
      'agent/**/*.ts',
      'codec/**/*.ts',
      'transport/**/*.ts',
      'storage/**/*.ts',
      'deploy/**/*.ts',
      'bench/**/*.ts',
    ],
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 70 }],
    },
  },
  {
    // 120 columns everywhere, tests included. Prettier wraps code at 120 (.prettierrc.json); this
    // catches what it cannot wrap: long strings, comments and template literals.
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': ['error', { code: 120, tabWidth: 2 }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
