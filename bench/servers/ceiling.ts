// The ceiling baseline: a bare Fastify route that echoes the JSON body in-process (no auth,
// no pool, no logging), run as its own node process exactly like faasd is. No FaaS gateway
// on this stack can be faster than this on the same machine.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/echo', async (req) => req.body);
// The same for a slow function: what a 0.5 s wait costs with no gateway at all (timer and
// wake-up latency of this machine), next to which faasd's sleep figure is read.
app.post('/sleep', async (req) => {
  const ms = Number((req.query as { ms?: string }).ms ?? 500);
  await new Promise((r) => setTimeout(r, ms));
  return { slept: ms / 1000 };
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening ${new URL(address).port}\n`);
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
