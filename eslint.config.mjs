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
  {
    files: ['src/**/*.ts'],
    rules: {
      // The function is bundled (npm run gcp-build); zod's `z` export is a namespace
      // object the bundler cannot shake, which pulls all of zod (locales, JSON Schema)
      // into every cold start. `import * as z from 'zod'` is shaken to what is used.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ImportDeclaration[source.value='zod'][importKind!='type'] > ImportSpecifier[imported.name='z']",
          message:
            "import * as z from 'zod' (the named `z` defeats tree-shaking of the bundle)",
        },
      ],
    },
  },
];
