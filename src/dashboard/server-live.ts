// Server-sent events for the Now page. One listener on the shield's LiveHub fans out to every open page. Session
// changes are coalesced (the latest state of each session, sent every COALESCE_MS), so a burst of messages costs
// the mail path a Map.set each, not a JSON encoding and a socket write per page; once a second, while a page is
// open, the whole picture is sent again if it moved (byte counts are read from the connections when asked, never
// counted per chunk).
import type { FastifyInstance } from 'fastify';
import type { LiveEvent, LiveHub, LiveSession } from '../io/live.js';

export const TICK_MS = 1000;
export const COALESCE_MS = 200;
/** More open pages than this is a leak or an attack, not an admin. */
const MAX_CLIENTS = 32;

type Client = { write(s: string): boolean; end(): void };

export function registerLive(app: FastifyInstance, hub: LiveHub): { close(): void; clients(): number } {
  const clients = new Set<Client>();
  const send = (c: Client, event: string, data: unknown) =>
    c.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const pending = new Map<string, LiveSession>();
  let flushTimer: NodeJS.Timeout | null = null;
  const flush = () => {
    flushTimer = null;
    for (const s of pending.values()) for (const c of clients) send(c, 'session', s);
    pending.clear();
  };
  const onEvent = (e: LiveEvent) => {
    // Scan results feed the statistics and /metrics; the page has no use for them live.
    if (e.type !== 'session') return;
    pending.set(e.session.id, e.session);
    flushTimer ??= setTimeout(flush, COALESCE_MS);
  };
  let timer: NodeJS.Timeout | null = null;
  let lastTick = '';
  // Once a second the whole picture goes out again when anything in it moved (bytes, state, either leg's TLS).
  // Besides the byte counts, this heals a page that missed a session change (e.g. one emitted while its event
  // stream was being re-opened): it is never wrong for longer than a tick.
  const tick = () => {
    const sessions = hub.sessions();
    const key = JSON.stringify(
      sessions.map((s) => [
        s.id,
        s.bytesFromClient,
        s.bytesFromUpstream,
        s.state,
        s.clientTls?.version ?? null,
        s.upstreamTls?.version ?? null,
      ]),
    );
    if (key === lastTick) return;
    lastTick = key;
    for (const c of clients) send(c, 'snapshot', sessions);
  };
  const sync = () => {
    if (clients.size > 0 && !timer) {
      hub.on('event', onEvent);
      timer = setInterval(tick, TICK_MS);
      timer.unref();
    } else if (clients.size === 0 && timer) {
      hub.off('event', onEvent);
      clearInterval(timer);
      timer = null;
      lastTick = '';
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = null;
      pending.clear();
    }
  };

  app.get('/api/live', (req, reply) => {
    if (clients.size >= MAX_CLIENTS) return reply.code(503).send({ error: 'too many open dashboard pages' });
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const c: Client = { write: (s) => raw.write(s), end: () => raw.end() };
    clients.add(c);
    sync();
    // The first message is the whole picture; later ones are changes.
    send(c, 'snapshot', hub.sessions());
    req.raw.on('close', () => {
      clients.delete(c);
      sync();
    });
  });

  return {
    close() {
      for (const c of clients) c.end();
      clients.clear();
      sync();
    },
    clients: () => clients.size,
  };
}
