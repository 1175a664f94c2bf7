// Runs the faasd CLI from src/ through tsx (no build step), as bin/faasd.js runs dist/cli.js.
import { main } from '../../src/cli.js';

main(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
