// Try a function: method, subpath, headers and a JSON body; the answer with its status,
// headers, duration and how the instance started (x-faas-start).
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { type ApiError, enc } from '../api';
import { ms } from '../format';
import { useSession } from '../session';
import { Icon } from '../components/icons';
import { Badge, Button, Callout, ErrorCallout, StartBadge, StatusBadge } from '../components/ui';

const METHODS = ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'];
const SHOWN_BODY = 64 * 1024;

interface Result {
  status: number;
  headers: [string, string][];
  body: string;
  json: boolean;
  clientMs: number;
}

export function InvokePanel({ name, onInvoked, sampleBody }: { name: string; onInvoked?: () => void; sampleBody?: string }): JSX.Element {
  const { api, can } = useSession();
  const [method, setMethod] = useState('POST');
  const [subpath, setSubpath] = useState('');
  const [headers, setHeaders] = useState('');
  const [body, setBody] = useState(sampleBody ?? '{\n  "name": "faasd"\n}');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<string | ApiError | null>(null);

  if (!can('invoke')) {
    return (
      <div class="invoke" data-status="403">
        <Callout tone="warn" title="Invoking needs the invoke scope">
          This key cannot call functions. Sign in with a key that lists <code>invoke</code>.
        </Callout>
      </div>
    );
  }

  const send = async (e?: Event) => {
    e?.preventDefault();
    setError(null);
    const h = new Headers();
    for (const [i, line] of headers.split('\n').entries()) {
      if (!line.trim()) continue;
      const colon = line.indexOf(':');
      if (colon <= 0) return setError(`Header line ${i + 1} is "${line.trim()}": write Name: value`);
      try {
        h.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      } catch {
        return setError(`Header line ${i + 1}: "${line.slice(0, colon).trim()}" is not a valid header name`);
      }
    }
    const hasBody = body.trim() !== '' && method !== 'GET';
    if (hasBody) {
      try {
        JSON.parse(body);
      } catch (err) {
        return setError(`The body is not valid JSON: ${(err as Error).message}`);
      }
      if (!h.has('content-type')) h.set('content-type', 'application/json');
    }
    const path = subpath.trim().replace(/^\/+/, '');
    setBusy(true);
    const started = performance.now();
    try {
      const res = await api.fetch(`/invoke/${enc(name)}${path ? `/${path}` : ''}`, { method, headers: h, body: hasBody ? body : undefined });
      const text = await res.text();
      const clientMs = performance.now() - started;
      let shown = text;
      let json = false;
      if ((res.headers.get('content-type') ?? '').includes('json')) {
        try {
          shown = JSON.stringify(JSON.parse(text), null, 2);
          json = true;
        } catch {
          // the function said JSON and sent something else: show it as it came
        }
      }
      setResult({ status: res.status, headers: [...res.headers.entries()], body: shown, json, clientMs });
      onInvoked?.();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  const header = (n: string) => result?.headers.find(([k]) => k === n)?.[1];
  const start = header('x-faas-start');
  const serverMs = header('x-faas-duration-ms');
  return (
    <form class="invoke" onSubmit={send} aria-label={`Invoke ${name}`}>
      <div class="invoke-line">
        <select aria-label="Method" value={method} onChange={(e) => setMethod(e.currentTarget.value)}>
          {METHODS.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
        <div class="path-input">
          <span class="path-prefix">/invoke/{name}/</span>
          <input aria-label="Subpath" placeholder="subpath?query" value={subpath} onInput={(e) => setSubpath(e.currentTarget.value)} spellcheck={false} />
        </div>
        <Button kind="primary" type="submit" icon="play" busy={busy}>
          Send
        </Button>
      </div>
      <label class="field">
        <span class="field-label">Headers</span>
        <textarea class="mono" rows={2} placeholder="X-Request-Source: console" value={headers} onInput={(e) => setHeaders(e.currentTarget.value)} spellcheck={false} aria-label="Headers" />
      </label>
      <label class="field">
        <span class="field-label">JSON body {method === 'GET' && <span class="muted">(not sent with GET)</span>}</span>
        <textarea
          class="mono"
          rows={5}
          value={body}
          onInput={(e) => setBody(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(e);
          }}
          spellcheck={false}
          aria-label="JSON body"
        />
      </label>
      <div class="muted small">Ctrl+Enter sends</div>
      {error && (typeof error === 'string' ? <Callout title="Not sent">{error}</Callout> : <ErrorCallout error={error} />)}
      {result && (
        <div class="result" aria-live="polite" data-testid="invoke-result">
          <div class="result-meta">
            <StatusBadge status={result.status} />
            {start && <StartBadge start={start} />}
            <span class="meta-item" title="x-faas-duration-ms: time in the function, as faasd measured it">
              <Icon name="bolt" /> {serverMs ? ms(Number(serverMs)) : '–'} in faasd
            </span>
            <span class="meta-item" title="Round trip from this browser">
              {ms(result.clientMs)} round trip
            </span>
            {header('x-faas-instance-id') && <Badge title="x-faas-instance-id">{header('x-faas-instance-id')}</Badge>}
          </div>
          <pre class="result-body" data-testid="invoke-body">
            {result.body.length > SHOWN_BODY ? `${result.body.slice(0, SHOWN_BODY)}\n… (${result.body.length - SHOWN_BODY} more characters)` : result.body || '(empty body)'}
          </pre>
          <details class="result-headers">
            <summary>Response headers ({result.headers.length})</summary>
            <dl>
              {result.headers.map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd data-header={k}>{v}</dd>
                </div>
              ))}
            </dl>
          </details>
        </div>
      )}
    </form>
  );
}
