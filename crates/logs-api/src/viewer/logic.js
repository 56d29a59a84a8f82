// The viewer's parts that need no page: levels, timestamps, NDJSON parsing, resuming a stream
// without duplicates, URL state. app.js uses them; the browser tests import them directly.

// Level names of the syslog scale (index = number), as docs/api.md "Levels" lists them.
export const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
const INFO = 6;
const NAMES = new Map(Object.entries({
  emerg: 0, emergency: 0, panic: 0, pnc: 0, alert: 1, crit: 2, critical: 2, fatal: 2, ftl: 2,
  err: 3, error: 3, warning: 4, warn: 4, wrn: 4, notice: 5, info: 6, informational: 6,
  information: 6, inf: 6, debug: 7, trace: 7, trc: 7, dbg: 7,
}));

// The syslog number a level name stands for (ASCII case-insensitive), or -1.
export function parseLevel(name) {
  if (typeof name !== 'string' || name.length > 13 || /[^\x20-\x7e]/.test(name)) return -1;
  const n = NAMES.get(name.toLowerCase());
  return n === undefined ? -1 : n;
}

// The level a line states about itself, or -1: the rules of logs_api::level::detect
// (docs/api.md "Detection from the text"): a JSON object's level key, else a leading level
// token after at most two digit-led tokens, else a logfmt level key.
export function detectLevel(text) {
  const line = text.length > 16384 ? text.slice(0, 16384) : text;
  const rest = line.replace(/^[ \t]+/, '');
  if (rest[0] === '{') {
    const level = jsonLevel(rest);
    if (level !== undefined) return level;
  }
  const level = leadingToken(rest);
  return level >= 0 ? level : logfmtLevel(line);
}

const LEVEL_KEY = /^(level|lvl|severity)$/i;
const isWs = (c) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const skipWs = (b, i) => { while (isWs(b[i])) i++; return i; };

// The JSON string at b[i] === '"': its raw contents, whether it has escapes, the index after it.
function jsonString(b, i) {
  let j = i + 1, escaped = false;
  for (;;) {
    const q = b.indexOf('"', j), e = b.indexOf('\\', j);
    if (q < 0) return null;
    if (e < 0 || q < e) return { s: b.slice(i + 1, q), escaped, end: q + 1 };
    escaped = true;
    j = e + 2;
  }
}

// The index after the JSON value at b[i], or -1 when it does not end within b.
function skipValue(b, i) {
  const c = b[i];
  if (c === undefined) return -1;
  if (c === '"') { const s = jsonString(b, i); return s ? s.end : -1; }
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < b.length;) {
      const x = b[j];
      if (x === '"') { const s = jsonString(b, j); if (!s) return -1; j = s.end; continue; }
      if (x === '{' || x === '[') depth++;
      else if ((x === '}' || x === ']') && --depth === 0) return j + 1;
      j++;
    }
    return -1;
  }
  const m = /[,}\] \t\r\n]/.exec(b.slice(i));
  return m && m.index > 0 ? i + m.index : -1;
}

// Rule 1: undefined when b is not a JSON object; else its level, or -1.
function jsonLevel(b) {
  let i = 1;
  for (;;) {
    i = skipWs(b, i);
    if (b[i] === '}') return -1;
    if (b[i] !== '"') return undefined;
    const key = jsonString(b, i);
    if (!key) return undefined;
    i = skipWs(b, key.end);
    if (b[i] !== ':') return undefined;
    i = skipWs(b, i + 1);
    if (!key.escaped && LEVEL_KEY.test(key.s) && b[i] === '"') {
      const v = jsonString(b, i);
      if (!v) return undefined;
      const level = v.escaped ? -1 : parseLevel(v.s);
      if (level >= 0) return level;
      i = v.end;
    } else {
      i = skipValue(b, i);
      if (i < 0) return undefined;
    }
    i = skipWs(b, i);
    if (b[i] === ',') i++;
    else return b[i] === '}' ? -1 : undefined;
  }
}

// Rule 2: `[LEVEL]`, `Level:` or an upper-case `LEVEL`, after at most two digit-led tokens.
function leadingToken(b) {
  let rest = b;
  for (let n = 0; n <= 2; n++) {
    let end = rest.search(/[ \t]/);
    if (end < 0) end = rest.length;
    const token = rest.slice(0, end);
    const level = levelToken(token);
    if (level >= 0) return level;
    if (!/^[0-9]/.test(token)) return -1;
    const next = rest.slice(end).search(/[^ \t]/);
    if (next < 0) return -1;
    rest = rest.slice(end + next);
  }
  return -1;
}

function levelToken(t) {
  if (t[0] === '[') {
    const close = t.indexOf(']');
    return close < 0 ? -1 : parseLevel(t.slice(1, close));
  }
  if (!/^[A-Za-z]/.test(t)) return -1;
  const colon = t.indexOf(':');
  if (colon >= 0) return parseLevel(t.slice(0, colon));
  return /^[A-Z]+$/.test(t) ? parseLevel(t) : -1;
}

// Rule 3: the first `level=`, `lvl=` or `severity=` key at the start or after a blank.
function logfmtLevel(b) {
  const m = /(?:^|[ \t])(?:level|lvl|severity)=/i.exec(b);
  if (!m) return -1;
  let v = b.slice(m.index + m[0].length);
  if (v[0] === '"') {
    const close = v.indexOf('"', 1);
    if (close < 0) return -1;
    v = v.slice(1, close);
  } else {
    const end = v.search(/[ \t]/);
    if (end >= 0) v = v.slice(0, end);
  }
  return parseLevel(v);
}

// A message's severity, as the server's level filter sees it: its `level` field when it names
// a level, else the level its text states, else info.
export function severity(m) {
  const field = m.level === undefined ? -1 : parseLevel(m.level);
  if (field >= 0) return field;
  const detected = detectLevel(m.text);
  return detected >= 0 ? detected : INFO;
}

// A key that orders the server's RFC 3339 UTC timestamps (fraction trimmed, as Go's
// RFC3339Nano) as strings: the fraction padded to nine digits.
export function tsKey(ts) {
  const dot = ts[19] === '.';
  const frac = dot ? ts.slice(20, ts.length - 1) : '';
  return ts.slice(0, 19) + frac.padEnd(9, '0');
}

// Milliseconds since the epoch of a server timestamp.
export function tsMillis(ts) {
  const whole = Date.parse(ts.slice(0, 19) + 'Z');
  return ts[19] === '.' ? whole + Number(ts.slice(20, ts.length - 1).slice(0, 3).padEnd(3, '0')) : whole;
}

// Decodes a byte stream of NDJSON as it arrives: UTF-8 sequences and lines split across
// chunks are put back together; a line that is not a JSON object is counted, not shown.
export class NdjsonDecoder {
  constructor() {
    this.decoder = new TextDecoder();
    this.rest = '';
    this.bad = 0;
  }

  // The messages completed by `bytes` (a Uint8Array), or by the end of the stream when
  // `bytes` is undefined.
  push(bytes) {
    const text = this.rest + (bytes === undefined ? this.decoder.decode() : this.decoder.decode(bytes, { stream: true }));
    const lines = text.split('\n');
    this.rest = bytes === undefined ? '' : lines.pop();
    const out = [];
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const m = JSON.parse(line);
        if (m && typeof m.text === 'string' && typeof m.timestamp === 'string') out.push(m);
        else this.bad++;
      } catch {
        this.bad++;
      }
    }
    return out;
  }
}

// Remembers the newest instant shown and which lines were shown at exactly that instant, so
// a stream restarted with since=<that instant> (which the server answers inclusively) shows
// nothing twice: lines before it are skipped, and at it the same line (instance, text) is
// skipped as many times as it was already shown.
export class Resume {
  constructor() {
    this.key = '';
    this.ts = '';
    this.at = new Map();
    this.skip = null;
    this.skipKey = '';
  }

  // Whether to show m; remembers it when shown.
  accept(m) {
    const key = tsKey(m.timestamp);
    const id = m.instance + '\n' + m.text;
    if (this.skip) {
      if (key < this.skipKey) return false;
      if (key === this.skipKey) {
        const left = this.skip.get(id) || 0;
        if (left > 0) {
          this.skip.set(id, left - 1);
          return false;
        }
      } else {
        this.skip = null;
      }
    }
    if (key > this.key) {
      this.key = key;
      this.ts = m.timestamp;
      this.at = new Map();
    }
    if (key === this.key) this.at.set(id, (this.at.get(id) || 0) + 1);
    return true;
  }

  // Prepares for a stream that restarts from the newest instant shown; returns that instant
  // for `since`, or '' when nothing was shown yet (then the request starts over).
  restart() {
    if (!this.key) return '';
    this.skip = new Map(this.at);
    this.skipKey = this.key;
    return this.ts;
  }
}

const UNIT_MS = { s: 1e3, m: 6e4, h: 36e5, d: 864e5 };

// `since` for the server: '' for none, an RFC 3339 time as it is, a relative duration
// (15m, 1h30m, 7d) as the RFC 3339 time that long before `now` (ms); null when unreadable.
export function sinceParam(value, now) {
  const v = value.trim();
  if (!v) return '';
  if (/^\d{4}-\d\d-\d\dT/.test(v)) return v;
  if (!/^(\d+(\.\d+)?[smhd])+$/.test(v)) return null;
  let ms = 0;
  for (const [, n, , unit] of v.matchAll(/(\d+(\.\d+)?)([smhd])/g)) ms += Number(n) * UNIT_MS[unit];
  const t = new Date(now - ms);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}

// Delay before reconnect attempt `n` (0, 1, …): 1 s doubling to 30 s, with up to 25% jitter
// so many viewers do not come back at once.
export function backoff(n, random = Math.random()) {
  return Math.min(30000, 1000 * 2 ** Math.min(n, 5)) * (1 + random / 4);
}

// Bucket sizes of the chart, seconds: round numbers on a clock.
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

// Lines per minute over time, for each of `counts` (Maps: second since the epoch → lines), in
// buckets of a round number of seconds, about `target` of them over the seconds seen; null
// when there are none.
export function rates(counts, target = 60) {
  let lo = Infinity, hi = -Infinity;
  for (const c of counts) for (const k of c.keys()) { if (k < lo) lo = k; if (k > hi) hi = k; }
  if (lo > hi) return null;
  const span = hi - lo + 1;
  const step = STEPS.find((x) => x * target >= span) || Math.ceil(span / target);
  const start = Math.floor(lo / step) * step;
  const n = Math.floor((hi - start) / step) + 1;
  const series = counts.map((c) => {
    const v = new Array(n).fill(0);
    for (const [k, x] of c) v[Math.floor((k - start) / step)] += (x * 60) / step;
    return v;
  });
  return { start, step, n, series };
}

// Messages as NDJSON, one object per line in the server's field order.
export function ndjson(messages) {
  return messages.map((m) => JSON.stringify(m) + '\n').join('');
}

// The view's state in the URL: what the controls hold, and `instance` (a server-side
// instance filter a link may carry). Defaults are spelled out so a link says what it shows.
export const DEFAULTS = {
  name: '', namespace: '', instance: '', tail: '1000', since: '', level: '', stream: '',
  grep: '', regexp: '', follow: 'true', wrap: 'false',
};

export function readState(search) {
  const q = new URLSearchParams(search);
  const s = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (q.has(k)) s[k] = q.get(k);
  // The server's boolean spellings (Go's strconv.ParseBool); a tail <= 0 means all.
  const yes = (v) => String(['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v));
  s.follow = yes(s.follow);
  s.wrap = yes(s.wrap);
  if (/^[+-]?\d+$/.test(s.tail) && Number(s.tail) <= 0) s.tail = '';
  return s;
}

export function writeState(s) {
  const q = new URLSearchParams();
  for (const k of Object.keys(DEFAULTS)) {
    if (s[k] !== '' || k === 'tail') q.set(k, s[k] === '' ? '-1' : s[k]);
  }
  return '?' + q.toString();
}

// The /system/logs query for a state; `resumeFrom` (an RFC 3339 time) replaces tail and since
// when a stream is picked up again.
export function logsQuery(s, since, resumeFrom) {
  const q = new URLSearchParams({ name: s.name });
  if (s.namespace) q.set('namespace', s.namespace);
  if (s.instance) q.set('instance', s.instance);
  for (const k of ['level', 'stream', 'grep', 'regexp']) if (s[k]) q.set(k, s[k]);
  if (resumeFrom) q.set('since', resumeFrom);
  else {
    if (since) q.set('since', since);
    q.set('tail', s.tail === '' ? '-1' : s.tail);
  }
  q.set('follow', s.follow);
  return 'system/logs?' + q.toString();
}
