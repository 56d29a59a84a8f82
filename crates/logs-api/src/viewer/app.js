// The log viewer (docs/viewer.md): reads system/logs as NDJSON while it streams and shows the
// lines of one function, coloured by level and instance. Every URL is relative to the page.
import {
  NdjsonDecoder, Resume, backoff, logsQuery, ndjson, readState, severity, sinceParam,
  rates, tsMillis, writeState,
} from './logic.js';

const $ = (id) => document.getElementById(id);
// The page keeps the newest CAP lines; older ones are dropped (and counted) so that the DOM,
// and with it scrolling and layout, stay the same size however long the stream runs.
const CAP = 20000;
// Lines put into the page per animation frame, so a large history never blocks input.
const BATCH = 1000;
const CHUNK = 200;
const COLOURS = 12;
const FILTERS = ['name', 'namespace', 'level', 'stream', 'grep', 'regexp', 'tail', 'since', 'follow'];

const log = $('log');
const status = $('status');
let state = readState(location.search);
let gen = 0; // the current request's number: an older request's loop stops when it changes
let controller = null;
let retryTimer = 0;
let resume = new Resume();
let paused = false;
let attempt = 0;
let reconnects = 0;
let rows = []; // { m, el, inst, sec, chunk }, oldest first
// Rows live in chunks of CHUNK that the browser lays out only when they are on screen
// (content-visibility: auto), so 20,000 rows cost about as much as one screenful.
let chunks = []; // { el, size, left }
let pending = [];
let total = 0;
let scheduled = false;
let chartTimer = 0;
let chartDirty = false;
let instanceWidth = 0;
let stick = true;
// Where the log was last seen scrolled to; only a move up from there is the reader leaving the
// bottom. Lines still being laid out (the chunks' content-visibility) change the log's height
// under a pinned view without anyone scrolling, and must not unpin it.
let lastTop = 0;
// A chunk the browser skipped keeps its remembered height until it is next laid out, possibly
// a frame after the view was pinned to the bottom: when its real height arrives, pin again.
const contentSize = new ResizeObserver(() => { if (stick) pin(); });
let instances = new Map();

const rowTemplate = document.createElement('div');
rowTemplate.append(document.createElement('time'), document.createElement('b'), document.createElement('span'));

// An API URL relative to the page, without the user:password@ a link may carry (fetch refuses
// URLs with credentials; the browser sends the ones it was given for the page by itself).
function api(path) {
  const u = new URL(path, document.baseURI);
  u.username = '';
  u.password = '';
  return u;
}

function pad(n, w = 2) { return String(n).padStart(w, '0'); }

// Local wall-clock time of milliseconds since the epoch: HH:MM, HH:MM:SS or HH:MM:SS.mmm.
function clock(ms, parts = 4) {
  const d = new Date(ms);
  let t = pad(d.getHours()) + ':' + pad(d.getMinutes());
  if (parts > 2) t += ':' + pad(d.getSeconds());
  return parts > 3 ? t + '.' + pad(d.getMilliseconds(), 3) : t;
}

function setState(name, detail = '') {
  status.dataset.state = name;
  $('state').textContent = detail ? name + ': ' + detail : name;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  $('pause').disabled = state.follow !== 'true' || !state.name;
}

function updateCounts() {
  status.dataset.shown = rows.length;
  status.dataset.total = total;
  status.dataset.reconnects = reconnects;
  const n = (x) => x.toLocaleString();
  let text = total > rows.length
    ? `showing the newest ${n(rows.length)} of ${n(total)} lines`
    : `${n(rows.length)} line${rows.length === 1 ? '' : 's'}`;
  const hidden = rows.length && [...instances.values()].reduce((s, i) => s + (i.hidden ? i.count : 0), 0);
  if (hidden) text += ` (${n(hidden)} hidden)`;
  if (reconnects) text += ` · reconnected ${reconnects}×`;
  $('counts').textContent = '· ' + text;
}

function showBox(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

// ---- the request --------------------------------------------------------------------------

function stop() {
  gen++;
  if (controller) controller.abort();
  controller = null;
  clearTimeout(retryTimer);
}

// Starts the view over: new request, empty page.
function restart() {
  stop();
  resume = new Resume();
  paused = false;
  attempt = 0;
  reconnects = 0;
  clearView();
  showBox('error', '');
  showBox('notice', '');
  document.title = state.name ? state.name + ' · faas-logs' : 'faas-logs';
  if (!state.name) {
    log.dataset.hint = 'Pick a function on the left.';
    setState('idle');
    return;
  }
  connect();
}

// Opens the stream; after the first, from the newest line shown (see Resume).
function connect() {
  const since = sinceParam(state.since, Date.now());
  if (since === null) {
    showBox('error', `since "${state.since}" is neither a duration (15m, 1h, 7d) nor an RFC 3339 time`);
    setState('error');
    return;
  }
  const url = logsQuery(state, since, resume.restart());
  read(++gen, url);
}

async function read(me, url) {
  const ctl = new AbortController();
  controller = ctl;
  setState('connecting');
  log.dataset.hint = 'Waiting for lines…';
  const started = Date.now();
  let failure = null;
  try {
    const res = await fetch(api(url), { signal: ctl.signal, cache: 'no-store', headers: { Accept: 'application/x-ndjson' } });
    if (!res.ok) {
      const text = (await res.text()).trim();
      if (me !== gen) return;
      if (res.status < 500 && res.status !== 408 && res.status !== 429) {
        // The request is wrong (422: a bad filter, a namespace not allowed) or not allowed
        // (401): asking again cannot help.
        showBox('error', `${res.status} ${res.statusText}: ${text}`);
        showBox('notice', '');
        setState('error');
        return;
      }
      throw new Error(`the server answered ${res.status}${text ? ': ' + text : ''}`);
    }
    if (me !== gen) return;
    showBox('error', '');
    showBox('notice', reconnects ? `Reconnected at ${clock(Date.now())}.` : '');
    setState(state.follow === 'true' ? 'following' : 'loading');
    const decoder = new NdjsonDecoder();
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (me !== gen) return;
      for (const m of decoder.push(done ? undefined : value)) if (resume.accept(m)) add(m);
      if (done) break;
    }
  } catch (e) {
    if (me !== gen || ctl.signal.aborted) return;
    failure = e;
  }
  if (me !== gen) return;
  controller = null;
  if (!failure && state.follow !== 'true') {
    setState('done');
    return;
  }
  // A follow stream ended (e.g. the server's --timeout), or a transfer broke off: pick it
  // up again from the newest line shown. A stream that ran a while resets the backoff; one
  // that fails at once (refused, 5xx) makes the next wait longer.
  if (Date.now() - started >= 2000) attempt = 0;
  const delay = backoff(attempt++);
  const from = resume.ts ? ` from ${clock(tsMillis(resume.ts))}` : '';
  const why = failure ? `The stream failed (${failure.message})` : 'The stream ended';
  showBox('notice', `${why}; reconnecting${from} in ${Math.round(delay / 1000)} s…`);
  setState('reconnecting');
  retryTimer = setTimeout(() => {
    if (me !== gen || paused) return;
    reconnects++;
    updateCounts();
    connect();
  }, delay);
}

function togglePause() {
  if (paused) {
    paused = false;
    attempt = 0;
    showBox('notice', '');
    connect();
  } else {
    stop();
    paused = true;
    showBox('notice', 'Paused: new lines are not fetched. Resume fetches what was missed.');
    setState('paused');
  }
}

// Shows the newest line and remembers that position as the reader's.
function pin() {
  log.scrollTop = log.scrollHeight;
  lastTop = log.scrollTop;
}

// ---- the lines ------------------------------------------------------------------------------

function clearView() {
  rows = [];
  chunks = [];
  pending = [];
  total = 0;
  instances = new Map();
  instanceWidth = 0;
  stick = true;
  log.replaceChildren();
  $('chips').replaceChildren();
  $('jump').hidden = true;
  drawChart();
  updateCounts();
}

function add(m) {
  total++;
  pending.push(m);
  // A tab in the background gets no animation frames: keep only what could be shown.
  if (pending.length > 2 * CAP) pending = pending.slice(-CAP);
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(render);
  }
}

function instanceOf(name) {
  let inst = instances.get(name);
  if (inst) return inst;
  inst = { name, colour: instances.size % COLOURS, hidden: false, count: 0, seconds: new Map() };
  const chip = document.createElement('button');
  chip.type = 'button';
  chip.className = 'chip c' + inst.colour;
  chip.setAttribute('aria-pressed', 'true');
  chip.title = 'show or hide this instance\'s lines';
  chip.append(document.createElement('i'), name, document.createElement('small'));
  chip.addEventListener('click', () => toggleInstance(inst));
  inst.chip = chip;
  instances.set(name, inst);
  // The instance column is as wide as the longest name (pod names are long, pids short).
  if (name.length > instanceWidth) {
    instanceWidth = Math.min(name.length, 32);
    log.style.setProperty('--instance-width', instanceWidth + 'ch');
  }
  $('chips').append(chip);
  return inst;
}

function toggleInstance(inst) {
  inst.hidden = !inst.hidden;
  inst.chip.setAttribute('aria-pressed', String(!inst.hidden));
  for (const r of rows) if (r.inst === inst) r.el.hidden = inst.hidden;
  updateCounts();
  drawChart();
}

function render() {
  scheduled = false;
  if (pending.length > CAP) pending = pending.slice(-CAP);
  const batch = pending.length > BATCH ? pending.splice(0, BATCH) : pending.splice(0);
  for (const m of batch) {
    const inst = instanceOf(m.instance);
    const el = rowTemplate.cloneNode(true);
    el.className = `l v${severity(m)} c${inst.colour}${m.stream === 'stderr' ? ' e' : ''}`;
    const [t, b, x] = el.childNodes;
    const ms = tsMillis(m.timestamp);
    t.dateTime = m.timestamp;
    t.textContent = clock(ms);
    b.textContent = m.instance;
    x.textContent = m.text;
    if (inst.hidden) el.hidden = true;
    const sec = Math.floor(ms / 1000);
    inst.count++;
    inst.seconds.set(sec, (inst.seconds.get(sec) || 0) + 1);
    let chunk = chunks[chunks.length - 1];
    if (!chunk || chunk.size === CHUNK) {
      chunk = { el: document.createElement('div'), size: 0, left: 0 };
      chunk.el.className = 'chunk';
      contentSize.observe(chunk.el);
      chunks.push(chunk);
      log.append(chunk.el);
    }
    chunk.size++;
    chunk.left++;
    chunk.el.append(el);
    rows.push({ m, el, inst, sec, chunk });
  }
  const over = rows.length - CAP;
  if (over > 0) {
    const dropped = rows.splice(0, over);
    for (const r of dropped) {
      r.chunk.left--;
      r.inst.count--;
      const left = r.inst.seconds.get(r.sec) - 1;
      if (left) r.inst.seconds.set(r.sec, left);
      else r.inst.seconds.delete(r.sec);
    }
    // Whole chunks go at once; only the oldest remaining one loses single rows.
    for (const r of dropped) {
      if (r.chunk.left > 0) r.el.remove();
    }
    while (chunks.length && chunks[0].left === 0) chunks.shift().el.remove();
  }
  for (const inst of instances.values()) inst.chip.lastChild.textContent = inst.count.toLocaleString();
  updateCounts();
  // The chart follows at most four times a second: at once, then after the last change.
  if (chartTimer) chartDirty = true;
  else {
    drawChart();
    chartTimer = setTimeout(() => {
      chartTimer = 0;
      if (chartDirty) drawChart();
      chartDirty = false;
    }, 250);
  }
  if (stick) pin();
  else $('jump').hidden = false;
  if (pending.length && !scheduled) {
    scheduled = true;
    requestAnimationFrame(render);
  }
}

// Lines per minute per instance over the time shown, one polyline per instance.
function drawChart() {
  const svg = $('chart-svg');
  const live = [...instances.values()].filter((i) => i.seconds.size);
  const chart = rates(live.map((i) => i.seconds));
  $('chart').hidden = !chart;
  if (!chart) return;
  const shown = chart.series.filter((v, k) => !live[k].hidden);
  const peak = Math.max(1e-9, ...shown.flat());
  svg.setAttribute('viewBox', `0 0 ${Math.max(1, chart.n - 1)} 100`);
  svg.replaceChildren(...live.map((inst, k) => {
    const v = chart.series[k];
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    const pts = v.length === 1 ? [v[0], v[0]] : v;
    line.setAttribute('points', pts.map((y, x) => `${x},${(97 - (Math.min(y, peak) / peak) * 92).toFixed(1)}`).join(' '));
    line.setAttribute('class', `c${inst.colour}${inst.hidden ? ' off' : ''}`);
    return line;
  }));
  const round = (x) => (x >= 10 ? Math.round(x).toLocaleString() : String(Math.round(x * 10) / 10));
  const fine = chart.step < 60;
  $('chart-caption').textContent = `lines/min per instance, peak ${round(peak)}`;
  $('chart-from').textContent = clock(chart.start * 1000, fine ? 3 : 2);
  $('chart-to').textContent = clock((chart.start + chart.n * chart.step) * 1000, fine ? 3 : 2);
}

// ---- controls -------------------------------------------------------------------------------

function fillControls() {
  for (const k of FILTERS) {
    const el = $(k);
    if (el.type === 'checkbox') el.checked = state[k] === 'true';
    else el.value = state[k];
  }
  $('wrap').checked = state.wrap === 'true';
  log.classList.toggle('wrap', state.wrap === 'true');
}

function saveUrl() {
  history.replaceState(null, '', writeState(state));
}

// A control changed: update the state and the URL; a filter change restarts the request.
function changed(key, value) {
  if (state[key] === value) return;
  state = { ...state, [key]: value };
  saveUrl();
  if (key === 'wrap') {
    log.classList.toggle('wrap', value === 'true');
    if (stick) pin();
  } else restart();
  if (key === 'namespace') loadFunctions();
  else if (key === 'name') markFunction();
}

function valueOf(el) {
  if (el.type === 'checkbox') return String(el.checked);
  const v = el.value.trim();
  return el.id === 'tail' && v !== '' && Number(v) <= 0 ? '' : v;
}

function bindControls() {
  for (const k of [...FILTERS, 'wrap']) {
    const el = $(k);
    let timer = 0;
    el.addEventListener('change', () => { clearTimeout(timer); changed(k, valueOf(el)); });
    if (el.tagName === 'INPUT' && el.type !== 'checkbox') {
      // Typing restarts the request once the user pauses; Enter or leaving the field at once.
      el.addEventListener('input', () => {
        clearTimeout(timer);
        timer = setTimeout(() => changed(k, valueOf(el)), 600);
      });
    }
  }
  $('controls').addEventListener('submit', (e) => e.preventDefault());
  $('pause').addEventListener('click', togglePause);
  $('download').addEventListener('click', download);
  $('jump').addEventListener('click', () => {
    stick = true;
    pin();
  });
  // Whatever changes the log's size (the chart appearing, wrapping, the window), the newest
  // line stays in view while following at the bottom.
  contentSize.observe(log);
  log.addEventListener('scroll', () => {
    const top = log.scrollTop;
    const atBottom = top + log.clientHeight >= log.scrollHeight - 8;
    if (atBottom) stick = true;
    else if (top < lastTop - 1) stick = false;
    lastTop = top;
    if (!stick) return;
    $('jump').hidden = true;
    if (!atBottom) pin();
  });
  log.addEventListener('mouseover', (e) => {
    const t = e.target.closest('time');
    if (t && !t.title) t.title = t.dateTime;
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName)) return;
    e.preventDefault();
    $('grep').focus();
    $('grep').select();
  });
}

function download() {
  const shown = rows.filter((r) => !r.inst.hidden).map((r) => r.m);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([ndjson(shown)], { type: 'application/x-ndjson' }));
  a.download = `${state.name || 'logs'}.ndjson`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- the functions listing ----------------------------------------------------------------

let listing = 0;

async function loadFunctions() {
  const me = ++listing;
  const note = $('functions-note');
  let names = [];
  try {
    const res = await fetch(api('system/logs/functions?' + new URLSearchParams({ namespace: state.namespace })), { cache: 'no-store' });
    const body = await res.text();
    if (me !== listing) return;
    if (res.ok) {
      names = JSON.parse(body);
      note.textContent = names.length ? '' : 'No function has logs here.';
    } else {
      note.textContent = res.status === 501
        ? 'This provider does not list functions: type a name above.'
        : `${res.status}: ${body.trim()}`;
    }
  } catch (e) {
    if (me !== listing) return;
    note.textContent = `Listing failed: ${e.message}`;
  }
  $('function-names').replaceChildren(...names.map((n) => new Option(n)));
  $('functions').replaceChildren(...names.map((n) => {
    const a = document.createElement('a');
    a.textContent = n;
    a.href = writeState({ ...state, name: n });
    a.addEventListener('click', (e) => {
      if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
      e.preventDefault();
      $('name').value = n;
      changed('name', n);
    });
    const li = document.createElement('li');
    li.append(a);
    return li;
  }));
  markFunction();
}

function markFunction() {
  for (const a of $('functions').querySelectorAll('a')) {
    if (a.textContent === state.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

fillControls();
saveUrl();
bindControls();
loadFunctions();
restart();
