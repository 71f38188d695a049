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
      // The function is bundled (npm run gcp-build). zod is imported through src/zod.ts:
      // the `zod/mini` build, configured once (English messages). zod classic (`zod`,
      // `zod/v4`...) would pull the whole library back into every cold start.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^zod(/.*)?$',
              message:
                "import * as z from '<relative path>/zod.ts' (zod/mini with English messages; zod classic would be bundled whole)",
            },
          ],
        },
      ],
      // zod's `z` export is a namespace object the bundler cannot shake, which pulls
      // all of zod (locales, JSON Schema) into the bundle; `import * as z` is shaken.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ImportDeclaration[source.value=/^zod\\b|zod\\.ts$/][importKind!='type'] > ImportSpecifier[imported.name='z']",
          message:
            "import * as z from '<relative path>/zod.ts' (the named `z` defeats tree-shaking of the bundle)",
        },
        {
          selector:
            "MemberExpression[object.name='z'][property.name='locales']",
          message:
            "z.locales is every locale (hundreds of KB in the bundle): import {en} from 'zod/locales'",
        },
      ],
    },
  },
  {
    // The one module that imports zod itself: the mini build and its English locale.
    files: ['src/zod.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^zod(?!/mini$|/locales$)(/.*)?$',
              message:
                'only zod/mini (and its English locale): zod classic would be bundled whole',
            },
          ],
        },
      ],
    },
  },
];
