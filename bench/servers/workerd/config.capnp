# workerd's configuration for the bench's Worker baseline (bench/lib/baselines.ts starts it
# with --socket-addr http=127.0.0.1:<port>). One worker, one HTTP socket, nothing else.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .echo)],
  sockets = [(name = "http", address = "127.0.0.1:8080", http = (), service = "main")],
);

const echo :Workerd.Worker = (
  modules = [(name = "echo.js", esModule = embed "echo.js")],
  compatibilityDate = "2026-11-01",
);
