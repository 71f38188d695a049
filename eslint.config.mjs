// Google TypeScript Style (gts) rules, applied to the whole project.
import gts from 'gts/build/src/index.js';

export default [
  {
    ignores: [
      'build/',
      'node_modules/',
      '.tools/',
      'coverage/',
      'terraform/**/.terraform/',
    ],
  },
  ...gts,
  {
    rules: {
      // Node 24 runs the .ts sources directly; relative imports name the .ts file.
      'n/no-missing-import': 'off',
      'n/no-unpublished-import': 'off',
      'n/no-unsupported-features/node-builtins': 'off',
      'n/no-unsupported-features/es-syntax': 'off',
      'n/no-process-exit': 'off',
      'n/hashbang': 'off',
    },
  },
];
