// Hash routes (#/functions/hello): the daemon serves one page at /ui, and a reload or a shared
// link lands on the same screen.
import { useEffect, useState } from 'preact/hooks';

export type Route = { page: 'overview' } | { page: 'new' } | { page: 'function'; name: string; tab: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'new') return { page: 'new' };
  if (parts[0] === 'functions' && parts[1]) return { page: 'function', name: parts[1], tab: parts[2] ?? 'code' };
  return { page: 'overview' };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'overview':
      return '#/';
    case 'new':
      return '#/new';
    case 'function':
      return `#/functions/${encodeURIComponent(route.name)}${route.tab && route.tab !== 'code' ? `/${route.tab}` : ''}`;
  }
}

export function go(route: Route): void {
  location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute((cur) => (href(cur) === href(parseRoute(location.hash)) ? cur : parseRoute(location.hash)));
    addEventListener('hashchange', on);
    // A hash that changed between the first render and this effect sent its event to no one.
    on();
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
