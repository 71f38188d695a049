/**
 * One audit record per token request, whichever route it came by: begun when the
 * request arrives, filled in as authentication and the decision proceed, written once
 * when the answer is sent.
 */
import {randomUUID} from 'node:crypto';
import type {Request} from 'express';
import {writeAudit, type AuditRecord} from '../audit.ts';
import {TvmError} from '../errors.ts';
import type {Logger} from '../log.ts';
import {mapError} from './errors.ts';

/** An audit record being filled in. */
export type Audit = {-readonly [K in keyof AuditRecord]: AuditRecord[K]};

export interface AuditTrail {
  /** A fresh record for `req`: a deny with no reason until told otherwise. */
  begin(req: Request): Audit;
  /** Writes `audit` as granted. */
  allow(req: Request, audit: Audit, started: number): void;
  /** Writes `audit` as refused with `e`, answered with `status`. */
  deny(
    req: Request,
    audit: Audit,
    status: number,
    started: number,
    e: unknown,
  ): void;
  /** The operator's log line for a 5xx. */
  unexpected(e: unknown): void;
}

/** Creates the audit trail writing to `logger`. */
export function createAuditTrail(
  logger: Logger,
  projectId: (() => string | undefined) | undefined,
): AuditTrail {
  const traceOf = (req: Request): string | undefined => {
    const h = req.headers['x-cloud-trace-context'];
    const m = typeof h === 'string' ? /^([0-9a-f]{32})(?:\/|$)/i.exec(h) : null;
    if (!m) return undefined;
    const project = projectId?.();
    return project ? `projects/${project}/traces/${m[1]}` : m[1];
  };
  return {
    begin: req => ({
      requestId: randomUUID(),
      trace: traceOf(req),
      decision: 'deny',
      reason: 'ERR_INTERNAL',
      detail: undefined,
      client: undefined,
      issuer: undefined,
      subject: undefined,
      authMethod: undefined,
      grantType: undefined,
      serviceAccount: undefined,
      scopes: undefined,
      lifetimeSeconds: undefined,
      tokenSha256: undefined,
      cached: undefined,
      expiresIn: undefined,
      http: httpOf(req, 0, 0),
    }),
    allow(req, audit, started) {
      audit.decision = 'allow';
      audit.reason = 'granted';
      audit.http = httpOf(req, 200, performance.now() - started);
      writeAudit(logger, audit);
    },
    deny(req, audit, status, started, e) {
      audit.decision = 'deny';
      audit.reason = e instanceof TvmError ? e.code : mapError(e).error;
      audit.detail = e instanceof TvmError ? e.detail : undefined;
      audit.http = httpOf(req, status, performance.now() - started);
      writeAudit(logger, audit);
    },
    unexpected(e) {
      if (e instanceof TvmError && e.code !== 'ERR_INTERNAL') {
        logger.error(
          {error: {code: e.code, detail: e.detail}},
          'upstream or policy failure',
        );
      } else {
        // The name only: messages of foreign errors may quote request data.
        logger.error(
          {error: {name: (e as Error)?.name ?? typeof e}},
          'unexpected error',
        );
      }
    },
  };
}

function httpOf(
  req: Request,
  status: number,
  latencyMs: number,
): AuditRecord['http'] {
  return {
    method: req.method,
    path: req.path,
    status,
    remoteIp: req.ip,
    userAgent: req.headers['user-agent'],
    latencyMs,
  };
}
