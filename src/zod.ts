/**
 * zod as tvm uses it: the `zod/mini` build (zod 4's core with a functional API:
 * `z.optional(s)`, `s.check(z.minLength(1))`, `z.pipe(s, z.transform(f))`), which costs
 * the cold start a fraction of the classic build, with English messages. `zod/mini` has
 * no locale of its own (every default message would read "Invalid input"); the policy's
 * and the CLI configuration's messages are zod's English ones, so they are set here,
 * once, before any schema is built. Import it as `import * as z from '../zod.ts'`.
 */

import * as z from 'zod/mini';
import {en} from 'zod/locales';

z.config(en());

export * from 'zod/mini';
