// A new function from a template: pick one, name it, adjust the code, create (= deploy v1).
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type ApiError, health } from '../api';
import { go } from '../router';
import { useSession } from '../session';
import type { Telemetry } from '../telemetry';
import { TEMPLATES, type Template } from '../templates';
import { CodeEditor } from '../components/code-editor';
import { Button, Card, ErrorCallout } from '../components/ui';
import { PageHead } from './overview';

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function NewFunction({ telemetry }: { telemetry: Telemetry }): JSX.Element {
  const { api, can, toast } = useSession();
  const [template, setTemplate] = useState<Template>(TEMPLATES[0]!);
  const [name, setName] = useState('');
  const [code, setCode] = useState(TEMPLATES[0]!.code);
  const [revision, setRevision] = useState(0);
  const [mode, setMode] = useState('');
  const [modes, setModes] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [nameError, setNameError] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    void health().then((h) => {
      if (!h) return;
      setModes(Object.entries(h.drivers).flatMap(([m, d]) => (d.ok ? [m] : [])));
      setMode(h.default_mode);
    });
  }, []);

  if (!can('manage')) {
    return (
      <div class="page">
        <PageHead title="New function" />
        <ErrorCallout error={Object.assign(new Error('Creating functions needs a key with the manage scope.'), { status: 403 })} />
      </div>
    );
  }

  const pick = (t: Template) => {
    setTemplate(t);
    setCode(t.code);
    setRevision((r) => r + 1);
  };
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const n = name.trim();
    if (!NAME_RE.test(n)) {
      return setNameError(n ? `name: got "${n}": lower-case letters, digits and dashes, starting and ending with a letter or digit, at most 63` : 'Give the function a name, e.g. hello-world');
    }
    setNameError(null);
    setBusy(true);
    try {
      await api.create({ name: n, runtime: template.runtime, code, config: mode ? { execution_mode: mode } : {} });
      toast(`Created ${n}: version 1 is live`);
      telemetry.refresh();
      go({ page: 'function', name: n, tab: 'code' });
    } catch (err) {
      const ae = err as ApiError;
      if (ae.field === 'name' || ae.code === 'FunctionExists') setNameError(ae.message);
      else setError(ae);
      setBusy(false);
    }
  };

  return (
    <form class="page" onSubmit={create} aria-label="New function">
      <PageHead
        title="New function"
        sub="Start from a template; the code is yours to change before and after."
        actions={
          <Button kind="primary" type="submit" icon="rocket" busy={busy}>
            Create and deploy
          </Button>
        }
      />
      {error && <ErrorCallout error={error} />}
      <div class="new-grid">
        <div class="stack">
          <Card title="1. Name and mode">
            <div class="field">
              <label class="field-label" for="new-name">
                Name
              </label>
              <input
                id="new-name"
                name="name"
                placeholder="hello-world"
                value={name}
                onInput={(e) => setName(e.currentTarget.value)}
                spellcheck={false}
                autocomplete="off"
                aria-invalid={nameError ? 'true' : undefined}
                aria-describedby="new-name-help"
              />
              <div class="field-help" id="new-name-help">
                Called at <code>/invoke/{name.trim() || 'name'}</code>
              </div>
              {nameError && (
                <div class="field-error" role="alert">
                  {nameError}
                </div>
              )}
            </div>
            <div class="field">
              <label class="field-label" for="new-mode">
                Execution mode
              </label>
              <select id="new-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value)}>
                {[...new Set([...modes, mode])].filter(Boolean).map((m) => (
                  <option key={m} value={m}>
                    {m}
                  </option>
                ))}
              </select>
            </div>
          </Card>
          <Card title="2. Template">
            <fieldset class="templates">
              <legend class="sr-only">Template</legend>
              {TEMPLATES.map((t) => (
                <label key={t.id} class={`template ${t.id === template.id ? 'template-on' : ''}`} data-template={t.id}>
                  <input type="radio" name="template" class="sr-only" value={t.id} checked={t.id === template.id} onChange={() => pick(t)} />
                  <span class={`lang lang-${t.runtime}`}>{t.runtime === 'python' ? 'Python' : 'JavaScript'}</span>
                  <strong>{t.title}</strong>
                  <span class="muted small">{t.description}</span>
                </label>
              ))}
            </fieldset>
          </Card>
        </div>
        <Card title="3. Code" class="card-flush">
          <CodeEditor value={code} revision={revision} language={template.runtime} onChange={setCode} label="Code of the new function" size="md" />
        </Card>
      </div>
    </form>
  );
}
