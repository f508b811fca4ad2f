// The checks `pnpm lint` runs (and scripts/test.sh, so CI): the TypeScript rules this codebase's
// style needs, at zero warnings. Type-aware rules read the same tsconfig files as `pnpm typecheck`.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      'packages/client/src/generated/**',
      'clients/**',
      'models/**',
      'checkpoints/**',
      'bench-results/**',
      '.inferq/**',
      '.tools/**',
    ],
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // import-x follows imports through TypeScript files only with a parser for them.
      'import-x/extensions': ['.ts', '.tsx', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: ['tsconfig.json', 'apps/dashboard/tsconfig.json'],
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    rules: {
      // Unused code: imports, variables and parameters nobody reads (`_name` says it is on purpose).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // A promise nobody awaits or catches loses its error; `void` says the loss is meant.
      '@typescript-eslint/no-floating-promises': 'error',
      // Import cycles make load order matter and hide what depends on what.
      'import-x/no-cycle': 'error',
      // `declare global { namespace Express … }` is how Express's request type is extended.
      '@typescript-eslint/no-namespace': ['error', { allowDeclarations: true }],
      // TypeScript checks these itself, with the project's settings.
      'no-undef': 'off',
      'no-redeclare': 'off',
    },
  },
  {
    // Tests read JSON answers whose shape the assertions check.
    files: ['**/*.test.ts', '**/*.test.tsx', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
