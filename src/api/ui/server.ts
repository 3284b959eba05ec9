/**
 * The web server of `git run ui`: 127.0.0.1 only, every request (page, asset,
 * API) refused without the token the URL carried (kept in an HttpOnly,
 * SameSite=Strict cookie after the first visit), a Host header naming this
 * server (DNS rebinding), and writes only from this origin. Read-only but for
 * name, notes and tags edits, which go through `editRun` (the compare-and-swap
 * notes write of `git run edit`). Nothing here prints: the command does.
 */
import http from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Repo } from '../../git/repo.js';
import type { RunIndex } from '../../index/db.js';
import { refsStamp } from '../../git/refscan.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { openIndex } from '../query.js';
import { editRun } from '../metadata.js';
import { diffRuns } from '../diff.js';
import { catRunFile } from '../files.js';
import { comparison, historiesOf, runLogs, runPage, runsPage, Selections, sweepOf } from './data.js';
import { resolveRun } from '../../store/runs.js';
import { metricHistory } from '../metrics-history.js';

/** Points per series a chart gets (downsampled beyond: a canvas is a few hundred pixels wide anyway). */
const points = (q: URLSearchParams): number => {
  const n = Number(q.get('points'));
  return Number.isInteger(n) && n > 0 ? Math.min(n, 100_000) : 2000;
};

export interface UiOptions {
  /** 0 or absent: any free port. */
  port?: number;
  /** Where app.js, app.css and index.html are (dist/ui). */
  assetsDir: string;
}

export interface UiServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const ASSETS: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' };
/** Pages the app draws (history routing): the shell is served for each. */
const PAGES = /^\/(?:|run\/[^/]+|sweep\/[^/]+|compare|diff)$/;
const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startUi(repo: Repo, opts: UiOptions): Promise<UiServer> {
  const token = randomBytes(32).toString('hex');
  const tokenBuf = Buffer.from(token);
  const shell = await readFile(path.join(opts.assetsDir, 'index.html'), 'utf8').catch(() => {
    throw new GitRunError(ErrorCode.BadInput, `the web page's files are missing from ${opts.assetsDir}`, 'rebuild git-run (`npm run build`): it bundles them');
  });
  // Taken before openIndex synced: anything after it is seen at the first look.
  let lastStamp: string | null = refsStamp(repo.commonDir)?.stamp ?? null;
  let index: RunIndex = await openIndex(repo);
  let version = 0;
  let lastOpen = Date.now();
  const selections = new Selections();
  // One request at a time against the one index connection (swapped by refresh): a page for one user.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };

  /** Bring the index up to date when the refs or notes moved (and every 10 s: a run whose supervisor died is recorded by whoever looks). */
  const refresh = async (): Promise<number> => {
    // The stamp is taken before the index reads: a change landing meanwhile differs from it at the next look.
    const now = refsStamp(repo.commonDir);
    const s = now?.stamp ?? null;
    // A stamp as recent as the clock's resolution may not show the next change (git's racy-timestamp rule, as the
    // index has it): look again until it is older. Without a stamp (reftable) every look is such a look.
    const racy = !now || Date.now() - now.newest <= 2000;
    if (s === lastStamp && !racy && Date.now() - lastOpen < 10_000) return version;
    let changed = s !== lastStamp || racy;
    if (Date.now() - lastOpen >= 10_000) {
      const fresh = await openIndex(repo);
      index.close();
      index = fresh;
      lastOpen = Date.now();
    } else {
      const r = await index.sync(repo);
      changed = s !== lastStamp || r.read + r.removed > 0;
    }
    if (changed) version++;
    lastStamp = s;
    return version;
  };
  const stampKey = () => `${version}`;

  // Named after the port: cookies do not tell ports apart, and two pages (two repositories) may be open at once.
  let cookieName = 'git_run_ui';
  const hasToken = (req: http.IncomingMessage, url: URL): 'cookie' | 'query' | null => {
    const eq = (v: string | undefined | null) => !!v && v.length === token.length && timingSafeEqual(Buffer.from(v), tokenBuf);
    const cookies = (req.headers.cookie ?? '').split(';').map((c) => c.trim());
    if (cookies.some((c) => c.startsWith(`${cookieName}=`) && eq(c.slice(cookieName.length + 1)))) return 'cookie';
    return eq(url.searchParams.get('token')) ? 'query' : null;
  };

  /** A run's full id: a whole id the index has needs no git process (the page asks by whole ids); anything else goes through the resolver. */
  const resolve = async (name: string): Promise<string> => (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(name) && index.rows([name]).length ? name : resolveRun(repo, name));

  const api = async (method: string, parts: string[], q: URLSearchParams, body: unknown): Promise<unknown> => {
    const [what, id, sub] = parts;
    if (method === 'GET' && what === 'stamp' && parts.length === 1) return { version: await refresh() };
    if (method === 'GET' && what === 'runs' && parts.length === 1) {
      const num = (k: string) => (q.get(k) !== null && /^\d+$/.test(q.get(k)!) ? Number(q.get(k)) : undefined);
      const parent = q.get('parent');
      return runsPage(repo, index, selections, stampKey(), {
        ...(q.get('where') ? { where: q.get('where')! } : {}),
        ...(parent ? { parent: await resolve(parent) } : {}),
        ...(q.get('sort') ? { sort: q.get('sort')! } : {}),
        ...(q.get('desc') !== null ? { desc: q.get('desc') === '1' } : {}),
        ...(num('offset') !== undefined ? { offset: num('offset')! } : {}),
        ...(num('limit') !== undefined ? { limit: num('limit')! } : {}),
      });
    }
    if (method === 'GET' && what === 'compare' && parts.length === 1) {
      const ids = await Promise.all((q.get('ids') ?? '').split(',').filter(Boolean).slice(0, 50).map(resolve));
      return comparison(index, ids);
    }
    if (method === 'GET' && what === 'diff' && parts.length === 1) return diffRuns(repo, [q.get('a') ?? '', q.get('b') ?? ''], { patch: true });
    if (method === 'GET' && what === 'sweep' && id && parts.length === 2) return sweepOf(index, await resolve(id));
    if (method === 'GET' && what === 'histories' && parts.length === 1) {
      // Many runs' histories in one request (a sweep's children): one round trip, one git process.
      const names = q.get('names')?.split(',').filter(Boolean);
      const ids = await Promise.all((q.get('ids') ?? '').split(',').filter(Boolean).slice(0, 1000).map(resolve));
      return historiesOf(repo, index, ids, { maxPoints: points(q), ...(names ? { names } : {}) });
    }
    if (what === 'run' && id) {
      if (method === 'GET' && parts.length === 2) return runPage(repo, index, id);
      if (method === 'GET' && sub === 'logs' && parts.length === 3) return runLogs(repo, id);
      if (method === 'GET' && sub === 'file' && parts.length === 3) {
        const { data } = await catRunFile(repo, `${await resolve(id)}:${q.get('path') ?? ''}`);
        return { file: data };
      }
      if (method === 'POST' && sub === 'edit' && parts.length === 3) return edit(repo, id, body);
      if (method === 'GET' && sub === 'metrics' && parts.length === 3) return metricHistory(repo, await resolve(id), { maxPoints: points(q) });
    }
    throw new HttpError(404, `no such API: ${method} /api/${parts.join('/')}`);
  };

  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error');
    });
  });

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store', ...headers });
    res.end(body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const port = (server.address() as { port: number }).port;
    const origins = [`127.0.0.1:${port}`, `localhost:${port}`];
    // DNS rebinding: another site's name resolving to 127.0.0.1 carries its own Host.
    if (!origins.includes(req.headers.host ?? '')) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden: wrong Host header\n');
    const url = new URL(req.url ?? '/', `http://${origins[0]}`);
    const how = hasToken(req, url);
    if (!how) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden: open the address `git run ui` printed (it carries the token)\n');
    if (how === 'query' && req.method === 'GET') {
      // Keep the token in a cookie and take it out of the address bar (and of the history).
      url.searchParams.delete('token');
      return send(res, 303, 'text/plain; charset=utf-8', '', {
        'set-cookie': `${cookieName}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        location: url.pathname + (url.search || ''),
      });
    }
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    if (method === 'POST' && !origins.map((o) => `http://${o}`).includes(req.headers.origin ?? '')) {
      return send(res, 403, 'text/plain; charset=utf-8', 'forbidden: a change must come from this page\n');
    }
    const p = url.pathname;
    if (p.startsWith('/assets/')) {
      const name = p.slice('/assets/'.length);
      const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
      if (!type) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return send(res, 200, type, await readFile(path.join(opts.assetsDir, name)));
    }
    if (p.startsWith('/api/')) {
      let body: unknown = null;
      if (method === 'POST') {
        if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return send(res, 415, 'application/json', JSON.stringify({ error: { message: 'send JSON' } }));
        body = await readJson(req).catch((e: unknown) => e);
        if (body instanceof HttpError) return send(res, body.status, 'application/json', JSON.stringify({ error: { message: body.message } }));
        if (body === undefined) return send(res, 400, 'application/json', JSON.stringify({ error: { message: 'the request body is not JSON' } }));
      }
      const parts = p.slice('/api/'.length).split('/').map((s) => decodeURIComponent(s));
      try {
        const out = await serial(() => api(method, parts, url.searchParams, body));
        if (out && typeof out === 'object' && 'file' in out && Buffer.isBuffer((out as { file: unknown }).file)) {
          const data = (out as { file: Buffer }).file;
          if (url.searchParams.get('download') === '1') {
            const name = path.posix.basename(url.searchParams.get('path') ?? 'file').replace(/[^\w.\-]+/g, '_') || 'file';
            return send(res, 200, 'application/octet-stream', data, { 'content-disposition': `attachment; filename="${name}"` });
          }
          const head = data.subarray(0, 64 * 1024);
          const binary = head.includes(0) || !isUtf8(head);
          return send(res, 200, 'application/json', JSON.stringify({ size: data.length, binary, text: binary ? null : head.toString('utf8'), truncated: data.length > head.length }));
        }
        return send(res, 200, 'application/json', JSON.stringify(out));
      } catch (e) {
        if (e instanceof HttpError) return send(res, e.status, 'application/json', JSON.stringify({ error: { message: e.message } }));
        if (e instanceof GitRunError) {
          const status = e.code === ErrorCode.RunNotFound ? 404 : 400;
          return send(res, status, 'application/json', JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint ?? null } }));
        }
        throw e;
      }
    }
    if (method === 'GET' && PAGES.test(p)) {
      // An unknown run's page says so with the status too.
      let status = 200;
      const m = /^\/(?:run|sweep)\/([^/]+)$/.exec(p);
      if (m) status = await serial(() => resolve(decodeURIComponent(m[1]!)).then(() => 200, (e) => (e instanceof GitRunError && e.code === ErrorCode.RunNotFound ? 404 : 200)));
      return send(res, status, 'text/html; charset=utf-8', shell);
    }
    return send(res, 404, 'text/html; charset=utf-8', shell);
  };

  const port = opts.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      index.close();
      if (e.code === 'EADDRINUSE') reject(new GitRunError(ErrorCode.PortInUse, `port ${port} on 127.0.0.1 is in use`, 'give another with --port N, or leave --port out to take a free one'));
      else if (e.code === 'EACCES') reject(new GitRunError(ErrorCode.PortInUse, `port ${port} on 127.0.0.1 is not allowed to this user`, 'give a port above 1023 with --port N, or leave --port out to take a free one'));
      else reject(e);
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  cookieName = `git_run_ui_${bound}`;
  return {
    url: `http://127.0.0.1:${bound}/?token=${token}`,
    port: bound,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          index.close();
          resolve();
        });
      }),
  };
}

async function edit(repo: Repo, id: string, body: unknown): Promise<unknown> {
  const b = body as Record<string, unknown> | null;
  const strings = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string' && x.trim() !== '' && !x.includes(',')));
  if (!b || typeof b !== 'object' || Array.isArray(b) || !['name', 'notes'].every((k) => b[k] === undefined || typeof b[k] === 'string') || !strings(b.tag) || !strings(b.untag)) {
    throw new GitRunError(ErrorCode.BadOption, 'an edit takes name and notes (text) and tag and untag (lists of tags without commas)', 'e.g. {"tag": ["best"]}');
  }
  if (b.name === undefined && b.notes === undefined && !(b.tag as string[] | undefined)?.length && !(b.untag as string[] | undefined)?.length) {
    throw new GitRunError(ErrorCode.BadOption, 'nothing to edit', 'give at least one of name, notes, tag, untag');
  }
  const view = await editRun(repo, id, {
    ...(typeof b.name === 'string' ? { name: b.name } : {}),
    ...(typeof b.notes === 'string' ? { notes: b.notes } : {}),
    tag: (b.tag as string[] | undefined) ?? [],
    untag: (b.untag as string[] | undefined) ?? [],
  });
  return { id: view.id, name: view.meta.name, notes: view.meta.notes, tags: view.meta.tags };
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1 << 20) {
        req.destroy();
        reject(new HttpError(413, 'request too large'));
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(undefined);
      }
    });
    req.on('error', reject);
  });
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    // A multi-byte character cut at the preview's end is still text.
    return b.length > 4 && isUtf8(b.subarray(0, b.length - 4));
  }
}
