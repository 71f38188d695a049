/**
 * Writing answers: every body tvm sends is JSON, written here as Express's
 * `res.status(status).json(body)` writes it (tvm serves on Node's own request and
 * response; see src/http/app.ts).
 */
import type {ServerResponse} from 'node:http';

/** Sends `body` as JSON with `status`; the headers set before it go with it. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
