// Type-aware lint: sockets and child processes make floating promises real bugs.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', '**/*.js', '!eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'test', property: 'only', message: 'no .only in committed tests' },
        { object: 'describe', property: 'only', message: 'no .only in committed tests' },
      ],
    },
  },
  {
    // Privilege confinement: processes and FFI only in src/sys/, behind small named functions
    // (sys/README.md), so everything else in src/ is plain TypeScript that tests without root and
    // no consumer re-spells a command line (missing `-w 5`, a second `ip netns exec`). A redirect
    // backend's kernel calls go in src/sys/<tool>.ts too. Type-only imports (ChildProcess) are
    // fine. Allowed by location, not listed here: test/ and bench/ drive real tools (curl,
    // kubectl, git, rsvg-convert) as black-box clients and never ship; bin/ambit (plain JS, not
    // linted) re-executes itself on the supported Node before any of src/ loads.
    files: ['src/**/*.ts'],
    ignores: ['src/sys/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...['node:child_process', 'child_process'].map((name) => ({
              name,
              allowTypeImports: true,
              message:
                'child processes only in src/sys/ (use sys/exec.ts run/start or sys/process.ts)',
            })),
            {
              name: 'koffi',
              allowTypeImports: true,
              message: 'FFI only in src/sys/ (sys/libc.ts)',
            },
            {
              name: 'node:module',
              importNames: ['createRequire'],
              message:
                'require() would bypass the child_process/koffi rule; only src/sys/ loads koffi',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.value=/^(node:)?child_process$|^koffi$/]',
          message: 'child processes and FFI only in src/sys/',
        },
      ],
    },
  },
);
