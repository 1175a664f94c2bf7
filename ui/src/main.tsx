// The faasd web console: Preact, rendered into the page the daemon serves at /ui.
import './csp';
import type { JSX } from 'preact';
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { Api, type Whoami } from './api';
import { AppShell } from './components/app-shell';
import { Loading } from './components/ui';
import { useRoute } from './router';
import { SessionContext, type Session, storedKey, storeKey } from './session';
import { Telemetry } from './telemetry';
import { FunctionPage } from './views/function-page';
import { NewFunction } from './views/new-function';
import { Overview } from './views/overview';
import { SignIn } from './views/sign-in';

interface Toast {
  id: number;
  message: string;
  kind: 'ok' | 'error';
}

function App(): JSX.Element {
  const [signed, setSigned] = useState<{ key: string; who: Whoami } | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);
  const [notice, setNotice] = useState<string | undefined>();

  // A reload keeps the session: the stored key is checked again.
  useEffect(() => {
    const key = storedKey();
    if (!key) return;
    new Api(key)
      .whoami()
      .then(
        (who) => setSigned({ key, who }),
        () => storeKey(null),
      )
      .finally(() => setChecking(false));
  }, []);

  const signOut = useCallback((why?: string) => {
    storeKey(null);
    setSigned(null);
    setNotice(why);
  }, []);

  if (checking) return <Loading what="the console" />;
  if (!signed) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(key, who) => {
          storeKey(key);
          setNotice(undefined);
          setSigned({ key, who });
        }}
      />
    );
  }
  return <Console key={signed.key} apiKey={signed.key} who={signed.who} signOut={signOut} />;
}

function Console({ apiKey, who, signOut }: { apiKey: string; who: Whoami; signOut: (why?: string) => void }): JSX.Element {
  const route = useRoute();
  const [toasts, setToasts] = useState<Toast[]>([]);
  const api = useMemo(() => new Api(apiKey, () => signOut('The key is no longer accepted by faasd: sign in again.')), [apiKey]);
  const telemetry = useMemo(() => new Telemetry(api), [api]);
  const can = useCallback((s: string) => who.scopes.includes(s as never), [who]);

  useEffect(() => {
    if (!can('manage')) return;
    telemetry.start();
    return () => telemetry.stop();
  }, [telemetry]);

  const session = useMemo<Session>(
    () => ({
      api,
      who,
      can,
      signOut: () => signOut(),
      toast: (message, kind = 'ok') => {
        const id = Date.now() + Math.random();
        setToasts((t) => [...t, { id, message, kind }]);
        setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 4500);
      },
    }),
    [api, who],
  );

  return (
    <SessionContext.Provider value={session}>
      <AppShell route={route} telemetry={telemetry}>
        {route.page === 'overview' && <Overview telemetry={telemetry} />}
        {route.page === 'new' && <NewFunction telemetry={telemetry} />}
        {route.page === 'function' && <FunctionPage key={route.name} name={route.name} tab={route.tab} telemetry={telemetry} />}
      </AppShell>
      <div class="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} class={`toast toast-${t.kind}`}>
            {t.message}
          </div>
        ))}
      </div>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
