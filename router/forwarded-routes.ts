/**
 * Plain HTTP routes the router passes through to the subgraph that owns them, byte for byte: the payment
 * provider's webhooks (whose signature covers the raw body, so nothing may re-encode it) and the sandbox
 * provider's hosted checkout page. In Kubernetes the ingress sends these paths to wallet directly
 * (k8s/ingress.yaml); through the router they work the same in embedded mode and in Compose.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Logger } from '../platform/logger.ts';
import type { RouteHandler } from '../platform/server.ts';

/** Paths forwarded, and the subgraph that serves each. */
export const FORWARDED_ROUTES: Readonly<Record<string, string>> = {
  '/webhooks/payments': 'wallet',
  '/sandbox-payments/checkout': 'wallet',
};

/** Headers that describe one connection, not the message: never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);
const TIMEOUT_MS = 30_000;

/** `urlOf(subgraph)` answers the subgraph's GraphQL URL at each request (the supergraph may change). */
export function forwardedRoutes(urlOf: (subgraph: string) => string | undefined, logger: Logger): Record<string, RouteHandler> {
  const agent = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  const forward = (subgraph: string): RouteHandler => (req, res) =>
    new Promise<void>((resolve) => {
      const base = urlOf(subgraph);
      if (!base) {
        send(res, 503, 'SERVICE_UNAVAILABLE', `${subgraph} is not in the supergraph.`);
        return resolve();
      }
      const target = new URL(req.url ?? '/', base);
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
      const client = target.protocol === 'https:' ? https : http;
      const upstream = client.request(target, { method: req.method, headers, agent: agent[target.protocol as 'http:' | 'https:'], timeout: TIMEOUT_MS }, (answer: IncomingMessage) => {
        const back: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) back[name] = value;
        res.writeHead(answer.statusCode ?? 502, back);
        answer.pipe(res);
        answer.once('end', resolve);
        answer.once('error', () => (res.destroy(), resolve()));
      });
      upstream.once('timeout', () => upstream.destroy(new Error('upstream timeout')));
      upstream.once('error', (error) => {
        logger.warn({ err: error, subgraph, path: target.pathname }, 'forwarded route failed');
        if (!res.headersSent) send(res, 502, 'SERVICE_UNAVAILABLE', `${subgraph} did not answer.`);
        else res.destroy();
        resolve();
      });
      req.pipe(upstream);
    });
  return Object.fromEntries(Object.entries(FORWARDED_ROUTES).map(([path, subgraph]) => [path, forward(subgraph)]));
}

function send(res: ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message } }));
}
