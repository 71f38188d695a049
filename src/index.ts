/**
 * The Cloud Function entry (built: build/src/index.mjs, which functions-framework
 * loads): it loads tvm and starts it.
 *
 * Built, tvm is one CommonJS bundle written inside its wrapper, build/src/tvm.cjs,
 * loaded with the V8 code cache the build made after running cold starts of it
 * (src/load-bundle.ts, scripts/build/).
 * Run from the sources (src/index.ts, as some tests serve it), there is no bundle:
 * src/main.ts is imported as it is.
 */
import {existsSync} from 'node:fs';
import {join} from 'node:path';
import {codeCacheFile, loadBundle, type ColdStart} from './load-bundle.ts';

interface Tvm {
  start(): Promise<void>;
}

// The cache of this deployment's cold start: TVM_POLICY names a Secret Manager version
// as `projects/P/secrets/...` (src/config.ts decides, and refuses what is neither a
// version nor a file); a guess that misses costs only speed.
const coldStart: ColdStart = /^projects\/[^/]+\/secrets\//.test(
  process.env.TVM_POLICY?.trim() ?? '',
)
  ? 'secret'
  : 'file';
const bundle = join(import.meta.dirname, 'tvm.cjs');
const tvm: Tvm = existsSync(bundle)
  ? loadBundle<Tvm>(
      bundle,
      codeCacheFile(join(import.meta.dirname, '..', 'code-cache'), coldStart),
    ).exports
  : await import('./main.ts');
await tvm.start();
