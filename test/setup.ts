// Loaded before every test file. Keeps the daemon's own environment out of spawned shims
// (NODE_EXTRA_CA_CERTS alone adds ~30 ms to every node start on these machines).
process.env.FAAS_TEST = '1';
