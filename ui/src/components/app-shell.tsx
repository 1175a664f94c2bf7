// The frame around every screen: a sidebar (a top bar with a menu on a phone) with the
// screens, the functions, and who is signed in.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { href, type Route } from '../router';
import { useSession } from '../session';
import type { Telemetry } from '../telemetry';
import { useTelemetry } from '../telemetry';
import { Icon } from './icons';
import { Badge } from './ui';

export function AppShell({ route, telemetry, children }: { route: Route; telemetry: Telemetry; children: ComponentChildren }): JSX.Element {
  const { who, can, signOut } = useSession();
  const t = useTelemetry(telemetry);
  const [open, setOpen] = useState(false);
  // A phone's menu closes when a link in it is followed.
  useEffect(() => setOpen(false), [route]);

  const active = (r: Route) => (r.page === route.page && (r.page !== 'function' || (route.page === 'function' && r.name === route.name)) ? 'page' : undefined);
  return (
    <div class={`shell ${open ? 'menu-open' : ''}`}>
      <header class="topbar">
        <a class="brand" href={href({ page: 'overview' })}>
          <span class="brand-mark">
            <Icon name="bolt" />
          </span>
          faasd
        </a>
        <button type="button" class="btn btn-ghost menu-btn" aria-expanded={open ? 'true' : 'false'} aria-controls="sidebar" onClick={() => setOpen(!open)}>
          <Icon name="menu" /> <span>Menu</span>
        </button>
      </header>
      <aside class="sidebar" id="sidebar" aria-label="Console">
        <a class="brand sidebar-brand" href={href({ page: 'overview' })}>
          <span class="brand-mark">
            <Icon name="bolt" />
          </span>
          faasd <span class="brand-sub">console</span>
        </a>
        <nav class="nav" aria-label="Screens">
          <a href={href({ page: 'overview' })} aria-current={active({ page: 'overview' })}>
            <Icon name="grid" /> Overview
          </a>
          {can('manage') && (
            <a href={href({ page: 'new' })} aria-current={active({ page: 'new' })}>
              <Icon name="plus" /> New function
            </a>
          )}
        </nav>
        {can('manage') && (
          <nav class="nav nav-functions" aria-label="Functions">
            <div class="nav-title">Functions</div>
            {t.functions.length === 0 && <div class="muted small nav-empty">none yet</div>}
            {t.functions.map((f) => (
              <a key={f.name} href={href({ page: 'function', name: f.name, tab: 'code' })} aria-current={active({ page: 'function', name: f.name, tab: '' })}>
                <Icon name="fn" /> <span class="nav-fn">{f.name}</span>
                <span class="nav-meta">v{f.version}</span>
              </a>
            ))}
          </nav>
        )}
        <div class="whoami">
          <div class="whoami-name">
            <Icon name="lock" /> Key <strong>{who.name}</strong>
          </div>
          <ul class="scopes" aria-label="Scopes">
            {who.scopes.map((s) => (
              <li key={s}>
                <Badge>{s}</Badge>
              </li>
            ))}
          </ul>
          <button type="button" class="btn btn-ghost btn-block" onClick={signOut}>
            <Icon name="logout" /> <span>Sign out</span>
          </button>
        </div>
      </aside>
      <main class="main" id="main">
        {children}
      </main>
    </div>
  );
}
