// The benchmark functions, per runtime.
import type { Runtime } from './daemon.js';

/** Small JSON body every echo call sends (and gets back). */
export const ECHO_BODY = JSON.stringify({ hello: 'world', n: 42, tags: ['a', 'b'] });

export function echoCode(runtime: Runtime, tag = ''): string {
  const note = tag ? `${runtime === 'python' ? '#' : '//'} ${tag}\n` : '';
  return runtime === 'python' ? `${note}def handle(request):\n    return request.get_json()\n` : `${note}exports.handler = async (event) => event.json();\n`;
}

/** The same wait as an async handler (Python `async def`), for `concurrency` > 1. */
export function asyncSleepCode(runtime: Runtime, seconds: number): string {
  return runtime === 'python' ? `import asyncio\n\nasync def handle(request):\n    await asyncio.sleep(${seconds})\n    return {"slept": ${seconds}}\n` : sleepCode(runtime, seconds);
}

export function sleepCode(runtime: Runtime, seconds: number): string {
  return runtime === 'python'
    ? `import time\n\ndef handle(request):\n    time.sleep(${seconds})\n    return {"slept": ${seconds}}\n`
    : `exports.handler = async () => {\n  await new Promise((r) => setTimeout(r, ${Math.round(seconds * 1000)}));\n  return { slept: ${seconds} };\n};\n`;
}
