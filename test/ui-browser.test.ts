// The web console at /ui in a real browser (Debian's chromium, headless, driven by
// playwright-core) against a real listening daemon: sign in, create from a template, deploy,
// invoke, edit, roll back, logs, live charts, and what a key's scopes hide.
// UI_SCREENSHOTS=docs/screenshots saves the main screens there (the README shows them).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { type Daemon, startDaemon } from '../src/daemon.js';
import { ADMIN, silentLogger, startTestDaemon, writeConfig } from './helpers/daemon.js';
import { trackDaemon } from './helpers/leaks.js';

const CHROMIUM = process.env.FAAS_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '..');
const UI_INDEX = path.join(ROOT, 'dist', 'ui', 'index.html');
const SHOTS = process.env.UI_SCREENSHOTS ? path.resolve(ROOT, process.env.UI_SCREENSHOTS) : null;
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.FAAS_REQUIRE_BROWSER === '1') throw new Error(`${CHROMIUM} is missing: scripts/install.sh --test installs Debian's chromium`);

const KEYS = {
  admin: 'ui-admin-key-0123456789',
  deployer: 'ui-deployer-key-0123456789',
  caller: 'ui-caller-key-0123456789',
};

/** The newest file under ui/ (or the build script) is older than the built page. */
function bundleCurrent(): boolean {
  if (!fs.existsSync(UI_INDEX)) return false;
  const built = fs.statSync(UI_INDEX).mtimeMs;
  const newest = (dir: string): number =>
    Math.max(0, ...fs.readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs)));
  return Math.max(newest(path.join(ROOT, 'ui')), fs.statSync(path.join(ROOT, 'scripts', 'build-ui.mjs')).mtimeMs) < built;
}

describe.skipIf(!haveChromium)('web console in a real browser', () => {
  let dir: string;
  let daemon: Daemon;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!bundleCurrent()) execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-ui.mjs'), '--quiet'], { stdio: 'inherit' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasd-test-ui-'));
    const config = loadConfig({
      file: writeConfig(dir, {
        api_keys: [
          { name: 'ops', key: KEYS.admin, scopes: ['invoke', 'manage', 'admin', 'metrics'] },
          { name: 'deployer', key: KEYS.deployer, scopes: ['invoke', 'manage'] },
          { name: 'caller', key: KEYS.caller, scopes: ['invoke'] },
        ],
      }),
      env: {},
    });
    daemon = trackDaemon(await startDaemon(config, { logger: silentLogger(), listen: true }));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: daemon.url });
    // An action that cannot happen fails in seconds, with what it waited for, not at the test's timeout.
    context.setDefaultTimeout(8_000);
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) cspViolations.push(`${expect.getState().currentTestName}: ${m.text().slice(0, 60)}`);
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  // A failure leaves a screenshot and the page's text behind: what the browser showed then.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !page) return;
    const file = path.join(os.tmpdir(), `faasd-ui-failure-${ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
    await page.screenshot({ path: file, timeout: 5_000 }).catch(() => {});
    const text =
      (await page
        .locator('body')
        .textContent({ timeout: 2_000 })
        .catch(() => '(page not responding)')) ?? '';
    console.error(`ui-browser: "${ctx.task.name}" failed at ${page.url()}; screenshot ${file}; the page said:\n${text.slice(0, 1500)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await daemon?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const shot = async (name: string, p: Page = page, fullPage = false) => {
    if (!SHOTS) return;
    fs.mkdirSync(SHOTS, { recursive: true });
    await expect.poll(() => p.locator('.toast').count(), { timeout: 10_000 }).toBe(0);
    await p.mouse.move(0, 799);
    await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
  };

  const signIn = async (key: string, p: Page = page) => {
    await p.goto('/ui');
    await p.getByLabel('API key').fill(key);
    await p.getByRole('button', { name: 'Sign in' }).click();
  };

  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => page.getByLabel('API key').isVisible()).toBe(true);
  };

  /** The editor's text, its lines run together (enough for toContain). */
  const editorText = () => page.locator('.cm-content').first().textContent();
  const tab = (name: string) => page.getByRole('navigation', { name: 'Function sections' }).getByRole('link', { name, exact: true });

  const replaceCode = async (code: string) => {
    await page.locator('.cm-content').first().click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.press('Backspace');
    await page.keyboard.insertText(code);
  };

  const codeOf = async (name: string) => ((await (await api('GET', `/functions/${name}`)).json()) as { code: string }).code;

  const api = (method: string, url: string, key = KEYS.admin, body?: unknown) =>
    fetch(`${daemon.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** For the README's screenshots only: two more functions and a minute of uneven traffic, some of it failing. */
  const screenshotTraffic = async () => {
    await api('POST', '/functions', KEYS.admin, {
      name: 'orders-api',
      runtime: 'node',
      code: 'exports.handler = async (e) => ({ statusCode: 201, body: JSON.stringify({ ok: true, path: e.path }) });',
    });
    await api('POST', '/functions', KEYS.admin, { name: 'thumbnailer', code: 'import time\ndef handle(r):\n    d = r.get_json()\n    time.sleep(d["ms"] / 1000)\n    return {"size": d["ms"] * 3}' });
    const until = Date.now() + 70_000;
    for (let i = 0; Date.now() < until; i++) {
      const wave = 4 + Math.round(6 * Math.abs(Math.sin(i / 9)));
      await Promise.all([
        ...Array.from({ length: wave }, () => api('POST', '/invoke/orders-api/orders', KEYS.admin, {})),
        ...Array.from({ length: 3 }, (_, j) => api('POST', '/invoke/thumbnailer', KEYS.admin, { ms: 20 + ((i * 7 + j * 13) % 60) })),
        // every so often a call the function cannot read: a 500 in the error series
        ...(i % 6 === 0 ? [api('POST', '/invoke/thumbnailer', KEYS.admin, {})] : []),
        new Promise((r) => setTimeout(r, 250)),
      ]);
    }
  };

  it('serves the console with a strict Content-Security-Policy, long-cached hashed assets, and /whoami for any valid key', async () => {
    const res = await fetch(`${daemon.url}/ui`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toMatch(/style-src 'self' 'nonce-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/https?:/);
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<style>|style="/);
    const asset = /src="(\/ui\/assets\/app-[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${daemon.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect((await api('GET', '/whoami', KEYS.caller)).status).toBe(200);
    expect(await (await api('GET', '/whoami', KEYS.deployer)).json()).toEqual({ name: 'deployer', scopes: ['invoke', 'manage'] });
    expect((await api('GET', '/whoami', 'not-a-key-at-all')).status).toBe(401);
  });

  it('a wrong key is refused with a message, the right one signs in and is kept only in sessionStorage', async () => {
    await signIn('wrong-key-0000');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not valid');
    await shot('sign-in');
    await signIn(KEYS.admin);
    await expect.poll(() => page.getByRole('heading', { name: 'Overview' }).isVisible(), { timeout: 10_000 }).toBe(true);
    expect(page.url()).not.toContain(KEYS.admin);
    expect(await context.cookies()).toEqual([]);
    expect(await page.evaluate('Object.values(sessionStorage)')).toEqual([KEYS.admin]);
    expect(await page.evaluate('Object.values(localStorage)')).toEqual([]);
  });

  it('a Python function created from a template deploys, and invoking it shows the result and x-faas-start', async () => {
    await page.getByRole('link', { name: 'New function' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('hello-ui');
    await page.locator('[data-template="python-hello"]').click();
    await expect.poll(editorText).toContain('def handle(request)');
    await shot('new-function');
    await page.getByRole('button', { name: 'Create and deploy' }).click();
    await expect.poll(() => page.getByTestId('live-version').textContent(), { timeout: 20_000 }).toBe('v1');
    await page.getByRole('button', { name: 'Send' }).click();
    const result = page.getByTestId('invoke-result');
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('Hello, faasd!');
    expect(await result.textContent()).toContain('200 OK');
    expect(await result.textContent()).toMatch(/(cold|prewarmed) start/);
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => result.textContent(), { timeout: 10_000 }).toContain('warm start');
    expect(await page.locator('[data-header="x-faas-start"]').textContent()).toBe('warm');
    await shot('function');
  });

  it('edited code deploys as a new version, and the invoke panel answers with it', async () => {
    const code = (await codeOf('hello-ui')).replace('Hello, {name}!', 'Howdy, {name}!');
    await replaceCode(code);
    await expect.poll(() => page.getByText('unsaved changes').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => page.getByTestId('live-version').textContent(), { timeout: 20_000 }).toBe('v2');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.getByTestId('invoke-body').textContent(), { timeout: 20_000 }).toContain('Howdy, faasd!');
    expect(await codeOf('hello-ui')).toContain('Howdy');
  });

  it('a config the API refuses shows the API message under its field', async () => {
    await tab('Configuration').click();
    await page.getByLabel('Memory').fill('lots');
    await page.getByRole('button', { name: 'Deploy' }).click();
    const res = await api('PUT', '/functions/hello-ui', KEYS.admin, { config: { memory: 'lots' } });
    const apiMessage = ((await res.json()) as { message: string }).message;
    await expect.poll(() => page.locator('#cfg-memory-err').textContent()).toContain(apiMessage);
    await page.getByLabel('Memory').fill('128Mi');
    await tab('Code & test').click();
  });

  it('a version rolls back with one click, where the versions API exists', async (ctx) => {
    const probe = await api('GET', '/functions/hello-ui/versions');
    if (probe.status === 404 && ((await probe.json()) as { error: string }).error === 'NotFound') {
      expect(await tab('Versions').count()).toBe(0);
      return ctx.skip();
    }
    await tab('Versions').click();
    await shot('versions');
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    await expect.poll(() => codeOf('hello-ui'), { timeout: 20_000 }).toContain('Hello, {name}!');
    await tab('Code & test').click();
    await expect.poll(editorText).toContain('Hello, {name}!');
  });

  it('a line the function printed appears in the logs panel', async () => {
    await api('POST', '/invoke/hello-ui', KEYS.admin, { name: 'log-marker-42' });
    await tab('Logs').click();
    await expect.poll(() => page.getByRole('log').textContent(), { timeout: 15_000 }).toContain('greeting log-marker-42');
    // Followed: a line printed now appears without a reload.
    await api('POST', '/invoke/hello-ui', KEYS.admin, { name: 'live-marker-43' });
    await expect.poll(() => page.getByRole('log').textContent(), { timeout: 15_000 }).toContain('greeting live-marker-43');
    await shot('logs');
  });

  it(
    'the overview chart moves after a burst of invocations',
    async () => {
      await page.getByRole('link', { name: 'Overview' }).click();
      const chart = page.getByRole('figure', { name: 'Requests per second' });
      await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 10_000 }).toBeGreaterThan(0);
      for (let i = 0; i < 6; i++) await Promise.all(Array.from({ length: 10 }, () => api('POST', '/invoke/hello-ui', KEYS.admin, { name: 'burst' })));
      if (SHOTS) await screenshotTraffic();
      await expect.poll(async () => Number((await chart.getAttribute('data-latest'))!.split(',')[0]), { timeout: 10_000 }).toBeGreaterThan(0);
      expect(await page.getByRole('table', { name: 'Functions' }).textContent()).toContain('hello-ui');
      await shot('overview', page, true);
    },
    SHOTS ? 150_000 : undefined,
  );

  it('an admin key sees the stop button of an instance; a manage-only key does not', async () => {
    await page.goto('/ui#/functions/hello-ui/instances');
    const table = page.getByRole('table', { name: 'Instances' });
    await expect.poll(() => table.isVisible(), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => page.getByRole('button', { name: /^Stop instance/ }).count()).toBeGreaterThan(0);
    await shot('instances');
    await signOut();
    await signIn(KEYS.deployer);
    await page.goto('/ui#/functions/hello-ui/instances');
    await expect.poll(() => table.isVisible(), { timeout: 10_000 }).toBe(true);
    expect(await page.getByRole('button', { name: /^Stop instance/ }).count()).toBe(0);
    expect(await page.getByText('Stopping an instance needs the admin scope').isVisible()).toBe(true);
  });

  it('an invoke-only key is told 403 for what it may not see, and can still invoke', async () => {
    await signOut();
    await signIn(KEYS.caller);
    await expect.poll(() => page.locator('[data-status="403"]').textContent(), { timeout: 10_000 }).toContain('Forbidden (403)');
    expect(await page.getByRole('link', { name: 'New function' }).count()).toBe(0);
    await page.getByLabel('Function name').fill('hello-ui');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.getByTestId('invoke-result').textContent(), { timeout: 10_000 }).toContain('200 OK');
  });

  it('is usable from the keyboard: Enter signs in, Esc then Tab leaves the editor, Ctrl+Enter sends', async () => {
    await signOut();
    await page.keyboard.type(KEYS.admin); // the key field has the focus
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('button', { name: 'Sign out' }).isVisible(), { timeout: 10_000 }).toBe(true);
    await page.goto('/ui#/functions/hello-ui');
    await page.locator('.cm-content').first().click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.closest(".cm-editor") === null')).toBe(true);
    await page.getByLabel('JSON body').focus();
    await page.keyboard.press('ControlOrMeta+Enter');
    await expect.poll(() => page.getByTestId('invoke-result').textContent(), { timeout: 10_000 }).toContain('200 OK');
  });

  it('works at phone width, and no Content-Security-Policy violation or script error happened', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    phone.on('pageerror', (e) => pageErrors.push(e.message));
    await signIn(KEYS.admin, phone);
    await expect.poll(() => phone.getByRole('button', { name: 'Menu' }).isVisible(), { timeout: 10_000 }).toBe(true);
    await phone.getByRole('button', { name: 'Menu' }).click();
    await phone
      .getByRole('navigation', { name: 'Functions' })
      .getByRole('link', { name: /hello-ui/ })
      .click();
    await expect.poll(() => phone.getByRole('button', { name: 'Send' }).isVisible(), { timeout: 10_000 }).toBe(true);
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(1);
    await shot('phone', phone);
    await phone.close();
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

// Without a browser: what the daemon itself promises about /ui and /whoami.
describe('web console routes', () => {
  it('system.ui: false serves no console, and /whoami still answers', async () => {
    const d = await startTestDaemon({ config: { system: { ui: false } } });
    expect((await d.app.inject({ method: 'GET', url: '/ui' })).statusCode).toBe(404);
    expect((await d.app.inject({ method: 'GET', url: '/ui/assets/favicon.svg' })).statusCode).toBe(404);
    const who = await d.app.inject({ method: 'GET', url: '/whoami', headers: ADMIN });
    expect(who.json()).toEqual({ name: 'admin', scopes: ['invoke', 'manage', 'admin', 'metrics'] });
  });

  it('/whoami needs a valid key, any scope', async () => {
    const d = await startTestDaemon({ config: { api_keys: [{ name: 'scraper', key: 'scraper-key-0123', scopes: ['metrics'] }] } });
    expect((await d.app.inject({ method: 'GET', url: '/whoami' })).statusCode).toBe(401);
    expect((await d.app.inject({ method: 'GET', url: '/whoami', headers: { authorization: 'Bearer wrong-key-000' } })).statusCode).toBe(401);
    const who = await d.app.inject({ method: 'GET', url: '/whoami', headers: { authorization: 'Bearer scraper-key-0123' } });
    expect(who.statusCode).toBe(200);
    expect(who.json()).toEqual({ name: 'scraper', scopes: ['metrics'] });
  });
});
