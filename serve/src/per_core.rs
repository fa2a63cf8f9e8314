//! The per-core server (`server.mode = "per_core"`, the default on Linux): `threads` OS
//! threads, each running a single-threaded tokio runtime with its own listening socket on
//! the same address (`SO_REUSEPORT`: the kernel spreads incoming connections over them) and
//! its own upstream HTTP client. A request is read, scored, forwarded and answered on one
//! thread, without the hand-offs between workers of a work-stealing runtime. On the 2-vCPU
//! development VM that cut the gateway's CPU per routed request by ~19% and raised its
//! saturation throughput by ~23% (docs/benchmarks.md).
//!
//! The trade-off: the kernel balances connections, not requests, so a few long-lived client
//! connections can load one thread more than the others; `server.mode = "shared"` (one
//! work-stealing runtime) suits that traffic better.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::AppState;
use crate::upstream::client;

/// Why the per-core server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start server thread {thread}: {source}")]
    Thread {
        thread: usize,
        source: std::io::Error,
    },
    #[error("server thread {thread}: cannot build the upstream HTTP client: {source}")]
    Client {
        thread: usize,
        source: reqwest::Error,
    },
    #[error("server thread {thread} stopped while starting")]
    Died { thread: usize },
}

/// The running threads; [`PerCoreServer::join`] waits for them.
#[derive(Debug)]
pub struct PerCoreServer {
    threads: Vec<JoinHandle<std::io::Result<()>>>,
    local_addr: SocketAddr,
}

impl PerCoreServer {
    /// Binds `threads` listeners on `addr` and starts serving; returns once every thread is
    /// listening (so an address in use is an error here, not in a log line later). The
    /// threads stop when `state.shutdown` is cancelled, after draining for at most `drain`.
    pub fn start(
        state: &Arc<AppState>,
        addr: SocketAddr,
        threads: usize,
        drain: Duration,
    ) -> Result<PerCoreServer, StartError> {
        // Every socket below sets SO_REUSEPORT, which would also let this gateway share
        // the port with another process of the same user: a plain bind first makes a port
        // that is already taken an error, as it is in the shared mode. It also picks the
        // port when `addr` asks for any (port 0).
        let addr = std::net::TcpListener::bind(addr)
            .and_then(|probe| probe.local_addr())
            .map_err(|source| StartError::Listen { addr, source })?;
        let mut server = PerCoreServer {
            threads: Vec::new(),
            local_addr: addr,
        };
        for thread in 0..threads.max(1) {
            let (ready_tx, ready_rx) = sync_channel(1);
            let st = Arc::clone(state);
            let spawned = std::thread::Builder::new()
                .name(format!("arbiter-core-{thread}"))
                .spawn(move || run_thread(thread, st, addr, drain, &ready_tx));
            let handle = match spawned {
                Ok(h) => h,
                Err(source) => {
                    return Err(server.abort(state, StartError::Thread { thread, source }));
                }
            };
            server.threads.push(handle);
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(server.abort(state, e)),
                Err(_) => return Err(server.abort(state, StartError::Died { thread })),
            }
        }
        Ok(server)
    }

    /// The address the threads listen on (the chosen port when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Blocks until every thread has stopped; the first thread error, if any.
    pub fn join(self) -> std::io::Result<()> {
        let mut result = Ok(());
        for handle in self.threads {
            let outcome = handle
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a server thread panicked")));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    /// Stops the threads already started and returns `error`.
    fn abort(self, state: &AppState, error: StartError) -> StartError {
        state.shutdown.cancel();
        let _ = self.join();
        error
    }
}

/// One server thread: its runtime, its client, its listener, until shutdown.
fn run_thread(
    thread: usize,
    state: Arc<AppState>,
    addr: SocketAddr,
    drain: Duration,
    ready: &SyncSender<Result<(), StartError>>,
) -> std::io::Result<()> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(source) => {
            let _ = ready.send(Err(StartError::Thread { thread, source }));
            return Ok(());
        }
    };
    runtime.block_on(async move {
        match client::build_client() {
            Ok(c) => client::use_thread_client(c),
            Err(source) => {
                let _ = ready.send(Err(StartError::Client { thread, source }));
                return Ok(());
            }
        }
        let listener = match listen_shared(addr) {
            Ok(l) => l,
            Err(source) => {
                let _ = ready.send(Err(StartError::Listen { addr, source }));
                return Ok(());
            }
        };
        let _ = ready.send(Ok(()));
        crate::serve_connections(state, listener, drain).await
    })
}

/// A listener on `addr` that other sockets of this process can bind too (`SO_REUSEPORT`).
fn listen_shared(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
