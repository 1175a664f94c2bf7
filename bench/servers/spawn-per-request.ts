// The naive baselines: the classic CGI / fork-per-request watchdog model. Every request
// starts a new interpreter (or a new `docker run --rm` container) that reads the JSON body on
// stdin and writes it back; nothing is reused between requests. Routes:
//   POST /spawn/python  /spawn/node    a new /usr/bin/python3 or node process per request
//   POST /docker/python /docker/node   docker run --rm -i --pull never --network none <image> per request (never pulls)
import { spawn } from 'node:child_process';
import http from 'node:http';

const images: Record<string, string> = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
const nodePath = process.argv[3] ?? process.execPath;

const ECHO = {
  python: 'import sys, json; sys.stdout.write(json.dumps(json.load(sys.stdin)))',
  node: 'let b="";process.stdin.setEncoding("utf8").on("data",(c)=>{b+=c}).on("end",()=>process.stdout.write(JSON.stringify(JSON.parse(b))))',
} as const;

function command(kind: string, runtime: 'python' | 'node'): [string, string[]] {
  const interp = runtime === 'python' ? ['/usr/bin/python3', '-c', ECHO.python] : [nodePath, '-e', ECHO.node];
  if (kind === 'spawn') return [interp[0]!, interp.slice(1)];
  const inImage = runtime === 'python' ? ['/usr/bin/python3', '-c', ECHO.python] : ['/usr/bin/node', '-e', ECHO.node];
  return ['docker', ['run', '--rm', '-i', '--pull', 'never', '--network', 'none', images[runtime] ?? '', ...inImage]];
}

const server = http.createServer((req, res) => {
  const m = /^\/(spawn|docker)\/(python|node)$/.exec(req.url ?? '');
  if (!m || req.method !== 'POST') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const [cmd, args] = command(m[1]!, m[2] as 'python' | 'node');
    // A clean environment, as faasd gives its instances.
    const child = spawn(cmd, args, { env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(e.message);
    });
    child.on('close', (code) => {
      if (res.headersSent) return;
      if (code === 0) res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.concat(out));
      else res.writeHead(500, { 'content-type': 'text/plain' }).end(`exit ${code}: ${Buffer.concat(err).toString().slice(-500)}`);
    });
    child.stdin.end(Buffer.concat(chunks));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
