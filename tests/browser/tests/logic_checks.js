// Checks of the viewer's logic.js, run in the page by the_pages_logic_agrees_with_the_server
// (a WebDriver async script: the last argument is the callback). Calls back with the failures.
const done = arguments[arguments.length - 1];
import('./viewer/logic.js').then((m) => {
  const failures = [];
  const eq = (what, got, want) => {
    const g = JSON.stringify(got), w = JSON.stringify(want);
    if (g !== w) failures.push(`${what}: got ${g}, want ${w}`);
  };

  // NDJSON split at every byte, and byte by byte: UTF-8 and lines put back together.
  const msgs = [
    { name: 'f', namespace: 'n', instance: 'i', timestamp: '2026-01-02T03:04:05.123Z', text: 'plain' },
    { name: 'f', namespace: 'n', instance: 'i', timestamp: '2026-01-02T03:04:05.2Z', text: 'é漢字🙂 "q" \\ \u2028' },
    { name: 'f', namespace: 'n', instance: 'j', timestamp: '2026-01-02T03:04:06Z', text: '{"level":"error"}', stream: 'stderr', level: 'err' },
  ];
  const body = msgs.map((x) => JSON.stringify(x)).join('\n') + '\nnot json\n\n' + JSON.stringify(msgs[0]);
  const bytes = new TextEncoder().encode(body);
  const want = [...msgs, msgs[0]];
  for (let i = 0; i <= bytes.length; i++) {
    const d = new m.NdjsonDecoder();
    const got = [...d.push(bytes.slice(0, i)), ...d.push(bytes.slice(i)), ...d.push()];
    if (JSON.stringify(got) !== JSON.stringify(want) || d.bad !== 1) {
      failures.push(`NDJSON split at byte ${i}: ${JSON.stringify(got)} (bad ${d.bad})`);
      break;
    }
  }
  const d = new m.NdjsonDecoder();
  const one = [];
  for (const b of bytes) one.push(...d.push(new Uint8Array([b])));
  one.push(...d.push());
  eq('NDJSON byte by byte', one, want);

  // Resuming: nothing before the last instant again, and at it, each (instance, text) only as
  // often as it was shown.
  const at = (ts, instance, text) => ({ timestamp: ts, instance, text });
  const T1 = '2026-01-02T03:04:05Z', T2 = '2026-01-02T03:04:05.5Z', T3 = '2026-01-02T03:04:06.25Z';
  const r = new m.Resume();
  eq('restart before anything', r.restart(), '');
  const first = [at(T1, 'a', 'x'), at(T2, 'a', 'b'), at(T2, 'a', 'c'), at(T2, 'a', 'c')].map((x) => r.accept(x));
  eq('a first stream shows everything', first, [true, true, true, true]);
  eq('restart from the newest instant', r.restart(), T2);
  const second = [
    at(T1, 'a', 'x'), at(T2, 'a', 'b'), at(T2, 'a', 'c'), at(T2, 'a', 'c'),
    at('2026-01-02T03:04:05.50Z', 'b', 'c'), at(T2, 'a', 'c'), at(T2, 'a', 'd'), at(T3, 'a', 'e'),
  ].map((x) => r.accept(x));
  eq('the second skips what was shown, by identity and count', second, [false, false, false, false, true, true, true, true]);
  eq('restart again', r.restart(), T3);
  const third = [at(T3, 'a', 'e'), at(T2, 'b', 'late'), at(T3, 'a', 'e'), at('2026-01-02T03:04:07Z', 'a', 'f')].map((x) => r.accept(x));
  eq('the third', third, [false, false, true, true]);

  // Timestamps.
  eq('tsKey pads the fraction', m.tsKey('2026-01-02T03:04:05.1Z'), '2026-01-02T03:04:05100000000');
  eq('tsKey of a whole second', m.tsKey('2026-01-02T03:04:05Z'), '2026-01-02T03:04:05000000000');
  eq('tsMillis', m.tsMillis('2026-01-02T03:04:05.123456789Z'), Date.UTC(2026, 0, 2, 3, 4, 5, 123));
  eq('tsMillis of a whole second', m.tsMillis('2026-01-02T03:04:05Z'), Date.UTC(2026, 0, 2, 3, 4, 5));
  eq('tsMillis of a short fraction', m.tsMillis('2026-01-02T03:04:05.5Z'), Date.UTC(2026, 0, 2, 3, 4, 5, 500));

  // since: relative durations, absolute times, nonsense.
  const now = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  for (const [input, out] of [
    ['15m', '2026-01-02T02:49:05.678Z'], ['1h30m', '2026-01-02T01:34:05.678Z'],
    ['1.5h', '2026-01-02T01:34:05.678Z'], ['7d', '2025-12-26T03:04:05.678Z'], ['90s', '2026-01-02T03:02:35.678Z'],
    ['', ''], ['  ', ''], ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
    ['yesterday', null], ['15', null], ['m', null], ['-5m', null], ['5 m', null],
  ]) eq(`since ${input}`, m.sinceParam(input, now), out);

  eq('backoff', [0, 1, 2, 5, 6, 50].map((n) => m.backoff(n, 0)), [1000, 2000, 4000, 30000, 30000, 30000]);
  eq('backoff jitter', m.backoff(0, 1), 1250);

  // Severity: the level field, else the text, else info.
  eq('severity', [
    m.severity({ level: 'warning', text: 'ERROR x' }), m.severity({ level: 'unknown', text: 'ERROR x' }),
    m.severity({ text: 'hello' }), m.severity({ level: 'err', text: '' }), m.severity({ level: 'DEBUG', text: '' }),
  ], [4, 3, 6, 3, 7]);

  // URL state.
  const s = m.readState('?name=figlet&tail=20&level=warning');
  eq('read', [s.name, s.tail, s.level, s.follow, s.wrap, s.namespace], ['figlet', '20', 'warning', 'true', 'false', '']);
  eq('read booleans and tail', (({ follow, wrap, tail }) => [follow, wrap, tail])(m.readState('?follow=0&wrap=T&tail=-1')), ['false', 'true', '']);
  eq('round trip', m.readState(m.writeState(s)), s);
  eq('write', m.writeState({ ...s, tail: '' }), '?name=figlet&tail=-1&level=warning&follow=true&wrap=false');
  eq('query', m.logsQuery({ ...s, grep: 'a b&c', namespace: 'x' }, '2026-01-01T00:00:00Z', ''),
    'system/logs?name=figlet&namespace=x&level=warning&grep=a+b%26c&since=2026-01-01T00%3A00%3A00Z&tail=20&follow=true');
  eq('query resumed', m.logsQuery(s, '2026-01-01T00:00:00Z', T2),
    'system/logs?name=figlet&level=warning&since=2026-01-02T03%3A04%3A05.5Z&follow=true');
  eq('query of all', m.logsQuery({ ...s, tail: '' }, '', ''), 'system/logs?name=figlet&level=warning&tail=-1&follow=true');

  eq('ndjson', m.ndjson([msgs[2]]), JSON.stringify(msgs[2]) + '\n');
  done(failures);
}).catch((e) => done([`logic.js failed: ${e}`]));
