/**
 * The page of `git run ui`: plain DOM, routed by the address (history API).
 * Everything from the server is data from runs, possibly another clone's:
 * it is only ever set as text (textContent), never parsed as HTML.
 */
import { historyChart, paramChart, parallelChart, type Line } from './charts.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(body?.error?.message ?? `HTTP ${status}`);
  }
}

async function api(url: string, init?: RequestInit): Promise<Json> {
  const r = await fetch(url, { credentials: 'same-origin', ...init });
  const body = r.headers.get('content-type')?.startsWith('application/json') ? await r.json() : null;
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

type Child = Node | string | null | undefined | false;
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

const short = (id: string) => id.slice(0, 12);
const link = (href: string, text: string, attrs: Record<string, string> = {}) => h('a', { href, 'data-nav': '1', ...attrs }, text);
const fmt = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : String(+v.toPrecision(6))) : typeof v === 'string' ? v : JSON.stringify(v));
const main = () => document.getElementById('main')!;

/** What the live poll calls when the repository changed: the current page's reload. */
let reload: (() => Promise<void>) | null = null;
/** Timers of the current page (log tail, live curves), stopped when it is left. */
let timers: number[] = [];

function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  void route();
}

document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest?.('a[data-nav]') as HTMLAnchorElement | null;
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href')!);
});
window.addEventListener('popstate', () => void route());

async function route(): Promise<void> {
  for (const t of timers) clearInterval(t);
  timers = [];
  reload = null;
  const p = location.pathname;
  const q = new URLSearchParams(location.search);
  const m = /^\/(run|sweep)\/([^/]+)$/.exec(p);
  document.body.dataset.page = m ? m[1]! : p === '/' ? 'runs' : p.slice(1);
  try {
    if (p === '/') await runsPage(q);
    else if (m?.[1] === 'run') await runPage(decodeURIComponent(m[2]!));
    else if (m?.[1] === 'sweep') await sweepPage(decodeURIComponent(m[2]!));
    else if (p === '/compare') await comparePage(q);
    else if (p === '/diff') await diffPage(q);
    else notFound(`no page ${p}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) notFound(e.message);
    else showError(e);
  }
  document.body.dataset.ready = String(Date.now());
}

function notFound(message: string): void {
  main().replaceChildren(h('h1', { id: 'not-found' }, 'Not found'), h('p', {}, message), h('p', {}, link('/', 'all runs')));
}

function showError(e: unknown): void {
  const body = e instanceof ApiError ? e.body?.error : null;
  main().replaceChildren(h('h1', {}, 'Error'), h('pre', { class: 'error' }, body ? `${body.message}${body.hint ? `\nhint: ${body.hint}` : ''}` : String(e)));
}

// ---------- the runs table ----------

const PAGE = 100;

async function runsPage(q: URLSearchParams): Promise<void> {
  const where = q.get('where') ?? '';
  const sort = q.get('sort') ?? '';
  const desc = q.get('desc') ?? '';
  const offset = Number(q.get('offset') ?? 0) || 0;
  const selected = new Set<string>();
  const setUrl = (changes: Record<string, string | null>) => {
    const n = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) if (v === null || v === '') n.delete(k); else n.set(k, v);
    navigate(`/?${n}`);
  };
  const input = h('input', { id: 'where', type: 'text', placeholder: "--where, e.g. params.lr > 0.01 and status = 'succeeded'", value: where, size: '70' });
  const form = h('form', { id: 'where-form', onsubmit: (e: Event) => (e.preventDefault(), setUrl({ where: input.value, offset: null })) }, h('label', { for: 'where' }, 'where '), input, ' ', h('button', { type: 'submit' }, 'filter'));
  const error = h('pre', { id: 'where-error', class: 'error', hidden: '' });
  const status = h('span', { id: 'count' });
  const actions = h('span', { class: 'actions' });
  const table = h('table', { id: 'runs' });
  const pager = h('div', { class: 'pager' });
  main().replaceChildren(h('h1', {}, 'Runs'), form, error, h('div', { class: 'bar' }, status, actions), table, pager);

  const updateActions = () => {
    const ids = [...selected];
    actions.replaceChildren(
      ids.length >= 2 ? link(`/compare?ids=${ids.map(short).join(',')}`, `compare ${ids.length} runs`, { id: 'compare-link' }) : h('span', { class: 'dim' }, 'select runs to compare'),
      ids.length === 2 ? ' · ' : '',
      ids.length === 2 ? link(`/diff?a=${short(ids[0]!)}&b=${short(ids[1]!)}`, 'diff the two', { id: 'diff-link' }) : '',
    );
  };

  /** Groups opened by the user: a reload (new runs, edits) opens them again. */
  const openGroups = new Set<string>();
  let shown = '';
  const load = async () => {
    const params = new URLSearchParams({ offset: String(offset), limit: String(PAGE) });
    if (where) params.set('where', where);
    if (sort) params.set('sort', sort);
    if (desc) params.set('desc', desc);
    let page: Json;
    try {
      page = await api(`/api/runs?${params}`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 400) throw e;
      // The --where language's own message, with its caret under the place.
      error.hidden = false;
      error.textContent = `error: ${e.body.error.message}${e.body.error.hint ? `\nhint: ${e.body.error.hint}` : ''}`;
      table.replaceChildren();
      status.textContent = '';
      return;
    }
    // The repository moved but not this page: leave it as it is (open groups, the scroll position).
    const text = JSON.stringify(page);
    if (text === shown) return;
    shown = text;
    error.hidden = true;
    if (page.total === 0 && !where) {
      main().replaceChildren(
        h('h1', {}, 'No runs yet'),
        h('p', { id: 'no-runs' }, 'This repository has no recorded runs. Record the first one from its work tree:'),
        h('pre', {}, 'git run python train.py --lr 0.01\n# or a sweep from a definition file:\ngit run submit sweep.json'),
        h('p', {}, 'It appears here as soon as it starts.'),
      );
      return;
    }
    status.textContent = page.total ? `${page.offset + 1}–${page.offset + page.rows.length} of ${page.total.toLocaleString('en')} runs` : 'no run matches';
    const head = (label: string, key: string) => {
      const on = sort === key || (!sort && key === 'created');
      const down = on && (sort ? desc === '1' : desc !== '0');
      return h('th', { class: on ? 'sorted' : '', title: 'sort', onclick: () => setUrl({ sort: key, desc: on && !down ? '1' : '0', offset: null }) }, label + (on ? (down ? ' ▾' : ' ▴') : ''));
    };
    const cols = [h('th', {}, ''), h('th', {}, 'id'), head('name', 'name'), head('status', 'status'), head('created', 'created'), head('duration', 'duration'), ...page.params.map((p: string) => head(p, `param:${p}`)), ...page.metrics.map((m: string) => head(m, `metric:${m}`)), h('th', {}, 'tags')];
    const rowOf = (r: Json, child: boolean): HTMLTableRowElement => {
      const params = new Map<string, unknown>(r.params);
      const metrics = new Map<string, unknown>(r.metrics);
      const box = h('input', { type: 'checkbox', 'aria-label': `select ${short(r.id)}`, onchange: (e: Event) => ((e.target as HTMLInputElement).checked ? selected.add(r.id) : selected.delete(r.id), updateActions()) });
      box.checked = selected.has(r.id);
      const first = h('td', {}, box);
      const tr = h(
        'tr',
        { 'data-id': r.id, class: child ? 'child' : '' },
        first,
        h('td', { class: 'mono' }, link(`/run/${r.id}`, short(r.id))),
        h('td', {}, r.name ?? '', r.children ? ' ' : '', r.children ? link(`/sweep/${r.id}`, 'charts', { class: 'sweep-link' }) : ''),
        h('td', { class: `status-${r.status}` }, r.status),
        h('td', { class: 'dim' }, r.createdAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')),
        h('td', { class: 'num' }, r.duration === null ? '' : `${(+r.duration).toFixed(1)} s`),
        ...page.params.map((p: string) => h('td', { class: 'num' }, fmt(params.get(p)))),
        ...page.metrics.map((m: string) => h('td', { class: 'num' }, fmt(metrics.get(m)))),
        h('td', {}, r.tags.join(', ')),
      );
      if (r.children && !child) {
        // A group: its children below it on demand.
        let open: HTMLTableRowElement[] | null = null;
        const expand = async () => {
          const kids = await api(`/api/runs?parent=${r.id}&limit=1000&sort=name&desc=0`);
          open = kids.rows.map((k: Json) => rowOf(k, true));
          tr.after(...open!);
          toggle.textContent = `▾ ${r.children}`;
        };
        const toggle = h('button', { class: 'expand', title: 'show its runs', onclick: async () => {
          if (open) {
            for (const c of open) c.remove();
            open = null;
            openGroups.delete(r.id);
            toggle.textContent = `▸ ${r.children}`;
            return;
          }
          openGroups.add(r.id);
          await expand();
        } }, `▸ ${r.children}`);
        first.append(toggle);
        if (openGroups.has(r.id)) void expand();
      }
      return tr;
    };
    table.replaceChildren(h('thead', {}, h('tr', {}, ...cols)), h('tbody', {}, ...page.rows.map((r: Json) => rowOf(r, false))));
    pager.replaceChildren(
      offset > 0 ? h('button', { id: 'prev', onclick: () => setUrl({ offset: String(Math.max(0, offset - PAGE)) }) }, '← newer') : '',
      offset + PAGE < page.total ? h('button', { id: 'next', onclick: () => setUrl({ offset: String(offset + PAGE) }) }, 'older →') : '',
    );
    updateActions();
  };
  reload = load;
  await load();
}

// ---------- a run ----------

function section(title: string, ...body: Child[]): HTMLElement {
  return h('section', {}, h('h2', {}, title), ...body);
}

function kv(rows: Array<[string, Child]>, id?: string): HTMLTableElement {
  return h('table', { class: 'kv', ...(id ? { id } : {}) }, ...rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))));
}

async function runPage(name: string): Promise<void> {
  const page = await api(`/api/run/${encodeURIComponent(name)}`);
  const r = page.run;
  const logs = h('pre', { id: 'logs', class: 'log' });
  const charts = h('div', { id: 'history' });
  const editMsg = h('span', { id: 'edit-message' });
  const nameIn = h('input', { id: 'edit-name', value: r.name ?? '', size: '30' });
  const notesIn = h('textarea', { id: 'edit-notes', rows: '2', cols: '60' });
  notesIn.value = r.notes ?? '';
  const tagIn = h('input', { id: 'edit-tag', placeholder: 'new tag', size: '12' });
  const save = async (body: Json) => {
    try {
      await api(`/api/run/${r.id}/edit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      editMsg.textContent = 'saved';
      await route();
    } catch (e) {
      editMsg.textContent = e instanceof ApiError ? `error: ${e.message}` : String(e);
    }
  };
  const tags = h('span', { id: 'tags' }, ...r.tags.map((t: string) => h('span', { class: 'tag' }, t, h('button', { title: `remove ${t}`, onclick: () => save({ untag: [t] }) }, '×'))));
  const edit = h(
    'div',
    { class: 'edit' },
    h('form', { onsubmit: (e: Event) => (e.preventDefault(), save({ name: nameIn.value })) }, 'name ', nameIn, h('button', { id: 'save-name' }, 'rename')),
    h('form', { onsubmit: (e: Event) => (e.preventDefault(), save({ notes: notesIn.value })) }, 'notes ', notesIn, h('button', { id: 'save-notes' }, 'save notes')),
    h('form', { id: 'tag-form', onsubmit: (e: Event) => (e.preventDefault(), tagIn.value.trim() && save({ tag: [tagIn.value.trim()] })) }, 'tags ', tags, ' ', tagIn, h('button', { id: 'add-tag' }, 'add tag')),
    editMsg,
  );
  const runLink = (id: string | null, label?: string) => (id ? link(`/run/${id}`, label ?? short(id)) : '');
  main().replaceChildren(
    h('h1', {}, `Run ${short(r.id)}`, r.name ? ` · ${r.name}` : '', ' ', h('span', { class: `badge status-${r.status}`, id: 'run-status' }, r.status)),
    edit,
    section(
      'Run',
      kv([
        ['id', h('span', { class: 'mono' }, r.id)],
        ['command', h('code', {}, r.command.map((a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '))],
        ['cwd', r.cwd || '(top)'],
        ['host', r.host],
        ['seed', String(r.seed)],
        ['created', r.createdAt],
        ['ended', r.endedAt ?? ''],
        ['exit', r.exitCode === null ? (r.signal ?? '') : String(r.exitCode)],
        ['error', r.error ?? ''],
        ['creator', r.creator],
        ['group', runLink(r.parent)],
        ['environment', page.envNames.join(', ') || '(none declared)'],
      ]),
    ),
    section('Code', kv([['commit', h('span', { class: 'mono' }, r.code.commit ?? '(none)')], ['tree', h('span', { class: 'mono' }, r.code.tree)], ['dirty', r.code.dirty ? 'yes: the work tree differed from the commit' : 'no']]), page.codeDiff ? h('details', {}, h('summary', {}, 'diff against its commit'), h('pre', { class: 'mono' }, page.codeDiff.stat), h('pre', { class: 'patch' }, page.codeDiff.patch + (page.codeDiff.truncated ? '\n[cut]' : ''))) : ''),
    section('Parameters', Object.keys(r.params).length ? kv(Object.entries(r.params).map(([k, v]) => [k, fmt(v)]), 'params') : h('p', { class: 'dim' }, 'none')),
    section('Metrics', Object.keys(r.metrics).length ? kv(Object.entries(r.metrics).map(([k, v]) => [k, fmt(v)]), 'metrics') : h('p', { class: 'dim' }, 'none (yet)'), charts),
    section(
      'Lineage',
      h('h3', {}, 'upstream (what it read)'),
      r.upstream.length ? h('ul', {}, ...r.upstream.map((u: Json) => h('li', {}, u.run ? runLink(u.run) : 'work tree', ' ', `${u.path ?? ''} → ${u.dest ?? ''}`))) : h('p', { class: 'dim' }, 'none'),
      h('h3', {}, 'downstream (who read its outputs)'),
      r.downstream.length ? h('ul', {}, ...r.downstream.map((d: Json) => h('li', {}, runLink(d.run), ' ', `${d.path ?? ''} → ${d.dest ?? ''}`))) : h('p', { class: 'dim' }, 'none'),
      r.children.length ? h('p', {}, `${r.children.length} runs in this group: `, link(`/sweep/${r.id}`, 'charts', { class: 'sweep-link' }), ' · ', link(`/compare?ids=${r.children.map(short).join(',')}`, 'compare')) : '',
    ),
    section('Outputs', r.outputs.length ? outputs(r) : h('p', { class: 'dim' }, r.endedAt ? 'none' : 'recorded when it ends')),
    section('Logs', logs),
  );
  const tail = async () => {
    const l = await api(`/api/run/${r.id}/logs`);
    logs.textContent = (l.truncated ? '[earlier output cut]\n' : '') + l.stdout + (l.stderr ? `\n--- stderr ---\n${l.stderr}` : '');
    return l.status;
  };
  if (!r.children.length) {
    const st = await tail();
    // A live tail while it runs.
    if (st === 'running' || st === 'queued') timers.push(window.setInterval(() => void tail().catch(() => undefined), 1500));
  }
  if (!r.children.length) await drawHistory(charts, [r.id], ['running', 'queued'].includes(r.status));
  reload = async () => {
    const now = await api(`/api/run/${r.id}`);
    if (JSON.stringify(now.run) !== JSON.stringify(r)) await route();
  };
}

function outputs(r: Json): HTMLElement {
  const preview = h('pre', { id: 'preview', class: 'log', hidden: '' });
  return h(
    'div',
    {},
    h('table', { class: 'kv', id: 'outputs' }, ...r.outputs.map((o: Json) => {
      const file = `/api/run/${r.id}/file?path=${encodeURIComponent(o.path)}`;
      return h('tr', {}, h('td', { class: 'mono' }, o.path), h('td', { class: 'num' }, `${o.size.toLocaleString('en')} B`), h('td', {}, h('a', { href: `${file}&download=1`, download: o.path.split('/').pop() }, 'download'), ' ', h('button', { onclick: async () => {
        const p = await api(file);
        preview.hidden = false;
        preview.textContent = p.binary ? `(binary, ${p.size} bytes)` : p.text + (p.truncated ? '\n[cut]' : '');
      } }, 'preview')));
    })),
    preview,
  );
}

/** Metric histories of these runs, overlaid per metric; redrawn while `live` (until every run has ended). */
async function drawHistory(el: HTMLElement, ids: string[], live: boolean): Promise<void> {
  let timer = 0;
  const draw = async () => {
    const hs: Record<string, Json> = ids.length === 1 ? { [ids[0]!]: await api(`/api/run/${ids[0]}/metrics`) } : await api(`/api/histories?ids=${ids.join(',')}&points=500`);
    const byMetric = new Map<string, Line[]>();
    const notes: string[] = [];
    for (const id of ids) {
      const hist = hs[id];
      if (!hist) continue;
      // A broken metrics file is said, not hidden: its good lines are still drawn.
      if (hist.broken) notes.push(`${ids.length > 1 ? `${short(id)}: ` : ''}${hist.broken} broken line${hist.broken === 1 ? '' : 's'} in the metrics file (skipped)`);
      for (const s of hist.series) {
        if (!byMetric.has(s.name)) byMetric.set(s.name, []);
        byMetric.get(s.name)!.push({ label: ids.length > 1 ? short(id) : s.name, steps: s.steps, values: s.values });
      }
    }
    const boxes = [...byMetric.entries()].map(([name, lines]) => ({ box: h('div', { class: 'chart history-chart', 'data-metric': name }), name, lines }));
    el.replaceChildren(...(notes.length ? [h('pre', { class: 'error broken-metrics' }, notes.join('\n'))] : []), ...(boxes.length ? boxes.map((b) => b.box) : [h('p', { class: 'dim' }, 'no metric history (a run appends lines like {"step": 1, "loss": 0.3} to $GIT_RUN_METRICS)')]));
    for (const b of boxes) historyChart(b.box, b.lines, b.name);
    el.dataset.points = String([...byMetric.values()].flat().reduce((s, l) => s + l.steps.length, 0));
    if (timer && !ids.some((id) => hs[id]?.live)) clearInterval(timer);
  };
  await draw();
  if (live) timers.push((timer = window.setInterval(() => void draw().catch(() => undefined), 1500)));
}

// ---------- a sweep's charts ----------

async function sweepPage(name: string): Promise<void> {
  const s = await api(`/api/sweep/${encodeURIComponent(name)}`);
  const rows: Json[] = s.rows;
  const params = [...new Set(rows.flatMap((r) => r.params.map((p: Json) => p[0] as string)))].sort();
  const metrics = [...new Set(rows.flatMap((r) => r.metrics.map((m: Json) => m[0] as string)))].sort();
  const varying = params.filter((p) => new Set(rows.map((r) => JSON.stringify(new Map<string, unknown>(r.params).get(p) ?? null))).size > 1);
  const metricSel = h('select', { id: 'metric' }, ...metrics.map((m) => h('option', { value: m }, m)));
  const paramSel = h('select', { id: 'param' }, ...(varying.length ? varying : params).map((p) => h('option', { value: p }, p)));
  const pc = h('div', { class: 'chart', id: 'chart-param' });
  const par = h('div', { class: 'chart', id: 'chart-parallel' });
  const hist = h('div', { id: 'history' });
  main().replaceChildren(
    h('h1', {}, `Sweep ${short(s.id)}`, s.name ? ` · ${s.name}` : ''),
    h('p', {}, `${rows.length} runs · `, link(`/run/${s.id}`, 'the group'), ' · ', link(`/compare?ids=${rows.map((r) => short(r.id)).join(',')}`, 'compare them')),
    metrics.length ? h('p', {}, 'metric ', metricSel, ' against ', paramSel) : h('p', { class: 'dim' }, 'no metrics recorded yet'),
    pc,
    par,
    section('Metric histories', hist),
  );
  const draw = () => {
    const metric = metricSel.value;
    const param = paramSel.value;
    if (!metric || !param) return;
    const groups = new Map<string, { x: number; label: string; values: number[] }>();
    const cats = [...new Set(rows.map((r) => fmt(new Map<string, unknown>(r.params).get(param))))].sort();
    for (const r of rows) {
      const pv = new Map<string, unknown>(r.params).get(param);
      const mv = new Map<string, unknown>(r.metrics).get(metric);
      if (pv === undefined || typeof mv !== 'number') continue;
      const label = fmt(pv);
      const x = typeof pv === 'number' ? pv : cats.indexOf(label);
      if (!groups.has(label)) groups.set(label, { x, label: typeof pv === 'number' ? String(pv) : label, values: [] });
      groups.get(label)!.values.push(mv);
    }
    paramChart(pc, [...groups.values()], param, metric);
    const axes = [...varying, metric];
    const catOf = new Map(varying.map((p) => [p, [...new Set(rows.map((r) => fmt(new Map<string, unknown>(r.params).get(p))))].sort()]));
    parallelChart(
      par,
      axes,
      rows.map((r) => {
        const pm = new Map<string, unknown>(r.params);
        const mm = new Map<string, unknown>(r.metrics);
        return {
          label: short(r.id),
          values: axes.map((a, k) => {
            const v = k === axes.length - 1 ? mm.get(a) : pm.get(a);
            return typeof v === 'number' ? v : v === undefined ? null : catOf.get(a)!.indexOf(fmt(v));
          }),
        };
      }),
    );
  };
  metricSel.onchange = draw;
  paramSel.onchange = draw;
  draw();
  await drawHistory(hist, rows.map((r) => r.id), rows.some((r) => r.status === 'running'));
  reload = async () => {
    const now = await api(`/api/sweep/${encodeURIComponent(name)}`);
    if (JSON.stringify(now.rows) !== JSON.stringify(rows)) await route();
  };
}

// ---------- comparison and diff ----------

async function comparePage(q: URLSearchParams): Promise<void> {
  const c = await api(`/api/compare?ids=${encodeURIComponent(q.get('ids') ?? '')}`);
  const rows: Json[] = c.rows;
  const head = h('tr', {}, h('th', {}, ''), ...rows.map((r) => h('th', {}, link(`/run/${r.id}`, short(r.id)), r.name ? h('div', { class: 'dim' }, r.name) : '')));
  const paramRow = (p: Json) => h('tr', { class: p.differs ? 'differs' : 'same', 'data-param': p.name }, h('th', {}, p.name), ...rows.map((r) => h('td', { class: 'num' }, fmt(new Map<string, unknown>(r.params).get(p.name)))));
  const differ = c.params.filter((p: Json) => p.differs);
  const same = c.params.filter((p: Json) => !p.differs);
  main().replaceChildren(
    h('h1', {}, `Comparing ${rows.length} runs`),
    rows.length === 2 ? h('p', {}, link(`/diff?a=${short(rows[0].id)}&b=${short(rows[1].id)}`, 'full diff of the two')) : '',
    h('table', { id: 'compare', class: 'grid' }, h('thead', {}, head), h('tbody', {}, h('tr', {}, h('th', {}, 'status'), ...rows.map((r) => h('td', {}, r.status))), ...differ.map(paramRow), ...c.metrics.map((m: string) => h('tr', { class: 'metric' }, h('th', {}, m), ...rows.map((r) => h('td', { class: 'num' }, fmt(new Map<string, unknown>(r.metrics).get(m)))))))),
    same.length ? h('details', { id: 'same-params' }, h('summary', {}, `${same.length} equal parameter${same.length === 1 ? '' : 's'}`), h('table', { class: 'grid' }, h('tbody', {}, ...same.map(paramRow)))) : '',
  );
}

async function diffPage(q: URLSearchParams): Promise<void> {
  const d = await api(`/api/diff?a=${encodeURIComponent(q.get('a') ?? '')}&b=${encodeURIComponent(q.get('b') ?? '')}`);
  const parts: HTMLElement[] = [];
  const keyed = (title: string, k: Json) =>
    section(title, h('table', { class: 'grid' }, h('tbody', {}, ...Object.entries(k.changed ?? {}).map(([n, v]: [string, Json]) => h('tr', { class: 'differs' }, h('th', {}, n), h('td', {}, fmt(v.a)), h('td', {}, fmt(v.b)))), ...Object.entries(k.added ?? {}).map(([n, v]) => h('tr', { class: 'added' }, h('th', {}, n), h('td', {}, ''), h('td', {}, fmt(v)))), ...Object.entries(k.removed ?? {}).map(([n, v]) => h('tr', { class: 'removed' }, h('th', {}, n), h('td', {}, fmt(v)), h('td', {}, ''))))));
  const pair = (title: string, p: Json) => section(title, h('table', { class: 'grid' }, h('tbody', {}, h('tr', {}, h('td', {}, fmt(p.a)), h('td', {}, fmt(p.b))))));
  if (d.code) parts.push(section('Code', h('pre', { class: 'mono' }, d.code.stat), d.code.patch ? h('pre', { class: 'patch' }, d.code.patch) : ''));
  if (d.command) parts.push(pair('Command', { a: d.command.a.join(' '), b: d.command.b.join(' ') }));
  if (d.cwd) parts.push(pair('Directory', d.cwd));
  if (d.params) parts.push(keyed('Parameters', d.params));
  if (d.seed) parts.push(pair('Seed', d.seed));
  if (d.env) parts.push(keyed('Environment', d.env));
  if (d.runArgs) parts.push(keyed('Run arguments', d.runArgs));
  if (d.host) parts.push(pair('Host', d.host));
  if (d.metrics) parts.push(section('Metrics', h('table', { class: 'grid' }, h('tbody', {}, ...Object.entries(d.metrics).map(([n, m]: [string, Json]) => h('tr', {}, h('th', {}, n), h('td', { class: 'num' }, fmt(m.a)), h('td', { class: 'num' }, fmt(m.b)), h('td', { class: 'num' }, m.delta === null ? '' : `${m.delta >= 0 ? '+' : ''}${fmt(m.delta)}${m.percent === null ? '' : ` (${m.percent >= 0 ? '+' : ''}${m.percent.toFixed(1)} %)`}`)))))));
  if (d.outputs) parts.push(section('Outputs', h('ul', {}, ...d.outputs.added.map((o: Json) => h('li', { class: 'added' }, `+ ${o.path}`)), ...d.outputs.removed.map((o: Json) => h('li', { class: 'removed' }, `- ${o.path}`)), ...d.outputs.changed.map((o: Json) => h('li', { class: 'differs' }, `~ ${o.path}`)))));
  if (d.result) parts.push(pair('Result', { a: `${d.result.a.status} ${d.result.a.exitCode ?? ''}`, b: `${d.result.b.status} ${d.result.b.exitCode ?? ''}` }));
  main().replaceChildren(h('h1', { id: 'diff-title' }, 'Diff ', link(`/run/${d.a.id}`, short(d.a.id)), ' → ', link(`/run/${d.b.id}`, short(d.b.id))), ...(parts.length ? parts : [h('p', {}, 'The two runs are the same in every section.')]));
}

// ---------- following the repository ----------

let version: number | null = null;
async function poll(): Promise<void> {
  try {
    const s = await api('/api/stamp');
    if (version !== null && s.version !== version && reload) await reload();
    version = s.version;
    document.body.dataset.version = String(version);
  } catch {
    /* the server stopped: the page stays as it was */
  }
}

void route().then(() => {
  window.setInterval(() => void poll(), 1500);
  void poll();
});
