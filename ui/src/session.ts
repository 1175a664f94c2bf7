// The signed-in key: in sessionStorage (this tab only, gone when it closes), never in a URL
// or a cookie. Components reach the key's API client and scopes through SessionContext.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api, Scope, Whoami } from './api';

const STORAGE_KEY = 'faasd.apiKey';

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // storage disabled: the key lives only as long as the page
  }
}

export interface Session {
  api: Api;
  who: Whoami;
  can: (scope: Scope) => boolean;
  signOut: () => void;
  toast: (message: string, kind?: 'ok' | 'error') => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in console');
  return s;
}
