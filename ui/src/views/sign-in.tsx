// Sign in with an API key: checked with GET /whoami, then kept in sessionStorage for this tab.
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Api, type ApiError, health, type Whoami } from '../api';
import { Icon } from '../components/icons';
import { Button } from '../components/ui';

export function SignIn({ onSignedIn, notice }: { onSignedIn: (key: string, who: Whoami) => void; notice?: string }): JSX.Element {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(notice ?? null);
  const [demo, setDemo] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    // The page's one field: ready to type into (or paste) at once.
    input.current?.focus();
    void health().then((h) => setDemo(Boolean(h?.using_demo_keys)));
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) return setError('Enter an API key.');
    setBusy(true);
    setError(null);
    try {
      onSignedIn(k, await new Api(k).whoami());
    } catch (err) {
      const e2 = err as ApiError;
      if (e2.status === 401) setError('That API key is not valid. Check it and try again.');
      else if (e2.status === 429) setError(`Too many wrong keys from this address: ${e2.message}`);
      else setError(e2.message);
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} method="post" autocomplete="off" aria-labelledby="signin-title">
        <div class="brand brand-lg">
          <span class="brand-mark">
            <Icon name="bolt" size={20} />
          </span>
          faasd
        </div>
        <h1 id="signin-title">Sign in to the console</h1>
        <p class="muted">Use an API key of this faasd. It stays in this browser tab only and is sent to faasd as a bearer header.</p>
        <label class="field">
          <span class="field-label">API key</span>
          <input
            type="password"
            name="api-key"
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            ref={input}
            spellcheck={false}
            autocomplete="off"
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'signin-error' : undefined}
          />
        </label>
        {error && (
          <p class="field-error" id="signin-error" role="alert">
            {error}
          </p>
        )}
        <Button kind="primary" type="submit" busy={busy} class="btn-block">
          Sign in
        </Button>
        {demo && (
          <p class="hint">
            <Icon name="alert" /> This faasd runs on the quick-start keys: <code>demo-key</code> (deploy and invoke) or <code>admin-key</code> (everything). Create your own with{' '}
            <code>faasd --create-config</code>.
          </p>
        )}
      </form>
    </main>
  );
}
