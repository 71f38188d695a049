/**
 * The fast path of `vend` (src/grants/vend.ts): a token the cache holds is handed out
 * within the call, no promise made — for a plain token as before, and for a downscoped
 * one the cache holds too. The real minters against the emulator; only the first
 * request of each kind waits for Google.
 */
import '../emulator/helpers.ts';
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {createAuditTrail} from '../../src/audit.ts';
import {authorize} from '../../src/grants/authorize.ts';
import {vend, type VendDeps} from '../../src/grants/vend.ts';
import {createLogger} from '../../src/log.ts';
import {createDownscoper} from '../../src/mint/downscope.ts';
import {createMinter} from '../../src/mint/minter.ts';
import {createTokenCache} from '../../src/mint/token-cache.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {CLOUD_PLATFORM, jwtClient, sa} from '../emulator/helpers.ts';

const POLICY = `
version: 1
service_accounts:
  share: {email: ${sa('share')}}
  plain: {email: ${sa('plain')}}
clients:
  partner:
    api_keys: [{sha256: "${'a'.repeat(64)}"}]
    allow:
      - service_account: share
        scopes: [devstorage.read_only]
        access_boundary:
          mode: force
          rules:
            - resource: //storage.googleapis.com/projects/_/buckets/fast-path
              permissions: [inRole:roles/storage.objectViewer]
      - service_account: plain
        scopes: [devstorage.read_only]
`;

void describe('vend hands out a cached token without a promise', () => {
  let emulator: Emulator;
  let deps: VendDeps;
  const policy = parsePolicy(POLICY);
  const client = policy.clients.get('partner')!;
  const clock = {now: () => Date.now()};
  const monotonic = {now: () => performance.now()};
  const trail = createAuditTrail({
    logger: createLogger('silent'),
    monotonic,
  });
  const audit = () =>
    trail.begin({
      method: 'POST',
      path: '/token',
      remoteIp: '127.0.0.1',
      userAgent: undefined,
      traceContext: undefined,
      startedAt: monotonic.now(),
    });

  before(async () => {
    emulator = await startEmulator();
    const s = emulator.state;
    const runner = sa('runner');
    s.createServiceAccount({email: runner});
    for (const email of [sa('share'), sa('plain')]) {
      s.createServiceAccount({email});
      s.grantTokenCreator(`serviceAccount:${runner}`, email);
    }
    const identity = jwtClient(emulator, s.createKey(runner), {
      scopes: [CLOUD_PLATFORM],
    });
    const tokenCache = createTokenCache({clock});
    deps = {
      minter: createMinter({
        identity: async () => identity,
        secrets: {
          access: () => Promise.reject(new Error('no key is read here')),
          close: async () => undefined,
        },
        clock,
        monotonic,
        iamCredentialsEndpoint: emulator.url,
        oauth2TokenUrl: emulator.tokenUrl,
        tokenCache,
      }),
      downscoper: createDownscoper({
        clock,
        monotonic,
        stsEndpoint: emulator.url,
        tokenCache,
      }),
      clock,
      monotonic,
      mintDeadlineMs: 15_000,
    };
  });
  after(() => emulator.close());

  for (const audience of ['plain', 'share']) {
    void test(`${audience}: the first waits for Google, the second is at hand`, async () => {
      const decision = authorize(policy, client, {
        audience,
        scope: 'devstorage.read_only',
        lifetimeSeconds: undefined,
      });
      assert.equal(decision.boundary !== undefined, audience === 'share');
      emulator.stats.reset();
      const first = vend(deps, decision, audit());
      assert.ok(first instanceof Promise);
      const minted = await first;
      const again = vend(deps, decision, audit());
      assert.ok(!(again instanceof Promise), 'a cached token is no promise');
      assert.equal(again.accessToken, minted.accessToken);
      assert.equal(emulator.stats.count('iam.generateAccessToken'), 1);
      assert.equal(
        emulator.stats.count('sts.token'),
        audience === 'share' ? 1 : 0,
      );
      const info = emulator.state.tokenInfo(again.accessToken);
      assert.equal(info?.accessBoundary !== undefined, audience === 'share');
    });
  }
});
