// What the function printed, followed live (server-sent events, or polling on a daemon
// without the streaming endpoint).
import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { LogLine } from '../api';
import { clock } from '../format';
import { type FollowMode, followLogs } from '../log-follow';
import { useSession } from '../session';
import { Badge, Button, Empty } from '../components/ui';

const MAX_LINES = 2000;
const MODE_TEXT: Record<FollowMode, string> = {
  connecting: 'connecting…',
  live: 'live',
  polling: 'polling every 2 s',
  ended: 'ended',
  error: 'error',
};

export function LogsPanel({ name }: { name: string }): JSX.Element {
  const { api } = useSession();
  const [lines, setLines] = useState<LogLine[]>([]);
  const [mode, setMode] = useState<{ mode: FollowMode; detail?: string }>({ mode: 'connecting' });
  const [paused, setPaused] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    if (paused) return;
    setMode({ mode: 'connecting' });
    return followLogs(api, name, {
      onLines: (fresh) => setLines((cur) => [...cur, ...fresh].slice(-MAX_LINES)),
      onMode: (m, detail) => setMode((cur) => (cur.mode === m && cur.detail === detail ? cur : { mode: m, detail })),
    });
  }, [api, name, paused]);

  // Keep the newest line in view unless the reader scrolled up.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const tone = mode.mode === 'live' ? 'ok' : mode.mode === 'polling' ? 'info' : mode.mode === 'error' ? 'error' : 'neutral';
  return (
    <div class="logs">
      <div class="logs-bar">
        <span class="logs-status" data-mode={paused ? 'paused' : mode.mode}>
          Following: <Badge tone={paused ? 'neutral' : tone}>{paused ? 'paused' : MODE_TEXT[mode.mode]}</Badge>
          {mode.detail && !paused && <span class="muted small"> {mode.detail}</span>}
        </span>
        <span class="spacer" />
        <Button icon={paused ? 'play' : 'pause'} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </Button>
        <Button kind="ghost" onClick={() => setLines([])}>
          Clear view
        </Button>
      </div>
      <div
        class="log-view"
        ref={box}
        role="log"
        aria-live="polite"
        aria-label={`Logs of ${name}`}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {lines.length === 0 ? (
          <Empty title="Nothing printed yet">What the function prints (print() in Python, console.log in JavaScript) appears here as it runs.</Empty>
        ) : (
          lines.map((l, i) => (
            <div class="log-line" key={`${l.time}-${i}`}>
              <time dateTime={l.time}>{clock(l.time)}</time>
              <span class="log-req" title={l.request_id ?? ''}>
                {l.request_id ? l.request_id.slice(0, 8) : '—'}
              </span>
              <span class="log-text">{l.line}</span>
            </div>
          ))
        )}
      </div>
    </div>
  );
}
