//! A small HTTP load generator for the gateway benchmarks (`bench/overhead.sh`): POSTs
//! one JSON body, either at a fixed rate (open loop, `--rate`) or from `--concurrency`
//! clients back to back (closed loop), and prints throughput and latency percentiles.
//!
//! At a fixed rate each request has a scheduled send time and its latency is measured
//! from that time, not from when it was actually sent, so a stall of the target shows up
//! in the percentiles instead of silently lowering the rate (no coordinated omission —
//! what wrk2 does; wrk itself cannot hold a fixed rate).
//!
//! ```text
//! bench_loadgen --url http://127.0.0.1:18080/v1/chat/completions --rate 1000 --duration 10 \
//!     [--model auto] [--body-file FILE] [--warmup 2] [--label NAME] [--json] [--trace FILE]
//! ```
//!
//! `--trace FILE` writes one CSV line per measured request (scheduled and sent offsets,
//! latency, service time, status, and the gateway's `x-arbiter-decision-id`), to line the
//! client's view of a slow request up with the gateway's decision record.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(
    about = "Fixed-rate (open loop) or fixed-concurrency (closed loop) HTTP POST load generator"
)]
struct Cli {
    /// Target URL.
    #[arg(long)]
    url: String,
    /// Requests per second (open loop). 0: closed loop with `--concurrency` clients.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Clients for the closed loop.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load first (connections, caches, the gateway's latency averages).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The `model` of the default body (a one-message chat request).
    #[arg(long, default_value = "auto")]
    model: String,
    /// Send this file's bytes as the body instead.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Most requests in flight at a fixed rate; beyond it sends wait (and their wait counts).
    #[arg(long, default_value_t = 2048)]
    max_in_flight: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Name of this run in the output.
    #[arg(long, default_value = "run")]
    label: String,
    /// Print one JSON object instead of a text line.
    #[arg(long)]
    json: bool,
    /// Write one CSV line per measured request to this file.
    #[arg(long)]
    trace: Option<PathBuf>,
}

/// One measured request, for `--trace`.
struct TraceRow {
    scheduled_us: u64,
    sent_us: u64,
    latency_us: u64,
    service_us: u64,
    status: u16,
    decision_id: String,
}

/// Outcome counters and the latency histogram (microseconds) of one phase.
struct Tally {
    /// From the scheduled send time (what a client at that rate experiences).
    hist: Mutex<Histogram<u64>>,
    /// From the moment the request was actually handed to the HTTP client.
    service: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    http_errors: AtomicU64,
    transport_errors: AtomicU64,
    /// Per-request rows when tracing (offsets from `origin`).
    trace: Option<std::sync::Mutex<Vec<TraceRow>>>,
    origin: Instant,
}

impl Tally {
    fn new(trace: bool) -> anyhow::Result<Tally> {
        Ok(Tally {
            hist: Mutex::new(
                Histogram::new_with_bounds(1, 120_000_000, 3).context("histogram bounds")?,
            ),
            service: Mutex::new(
                Histogram::new_with_bounds(1, 120_000_000, 3).context("histogram bounds")?,
            ),
            ok: AtomicU64::new(0),
            http_errors: AtomicU64::new(0),
            transport_errors: AtomicU64::new(0),
            trace: trace.then(|| std::sync::Mutex::new(Vec::new())),
            origin: Instant::now(),
        })
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread by default: the pacer, the HTTP client and its connections all run on it,
    // so a send is not handed from one thread to another (each hand-off is a wake-up, tens
    // to hundreds of microseconds on a busy 2-vCPU VM, that would count as latency).
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .context("building the tokio runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if !(cli.rate.is_finite() && cli.rate >= 0.0) {
        bail!("--rate must be a non-negative number");
    }
    if !(cli.duration.is_finite() && cli.duration > 0.0) {
        bail!("--duration must be positive");
    }
    let body = match &cli.body_file {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => serde_json::to_vec(&serde_json::json!({
            "model": cli.model,
            "messages": [{"role": "user", "content": "What is the derivative of x^3 + 2x with respect to x? Explain briefly."}],
        }))?,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let target = Target {
        client,
        url: cli.url.clone(),
        body: bytes::Bytes::from(body),
    };

    if cli.warmup > 0.0 {
        let warm = Arc::new(Tally::new(false)?);
        phase(&cli, &target, Duration::from_secs_f64(cli.warmup), &warm).await?;
    }
    let tally = Arc::new(Tally::new(cli.trace.is_some())?);
    let started = Instant::now();
    phase(&cli, &target, Duration::from_secs_f64(cli.duration), &tally).await?;
    let elapsed = started.elapsed().as_secs_f64();
    report(&cli, &tally, elapsed).await;
    if let (Some(path), Some(rows)) = (&cli.trace, &tally.trace) {
        write_trace(path, rows)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    url: String,
    body: bytes::Bytes,
}

impl Target {
    /// One request; the latency counts from `scheduled`.
    async fn once(&self, scheduled: Instant, tally: &Tally) {
        let sent = Instant::now();
        let result = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await;
        let mut status_code = 0;
        let mut decision_id = String::new();
        let ok = match result {
            Ok(resp) => {
                let status = resp.status();
                status_code = status.as_u16();
                if tally.trace.is_some()
                    && let Some(id) = resp.headers().get("x-arbiter-decision-id")
                {
                    decision_id = String::from_utf8_lossy(id.as_bytes()).into_owned();
                }
                match resp.bytes().await {
                    Ok(_) if status.is_success() => Some(true),
                    Ok(_) => Some(false),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        let micros = scheduled.elapsed().as_micros().max(1) as u64;
        let service_micros = sent.elapsed().as_micros().max(1) as u64;
        if let Some(rows) = &tally.trace
            && let Ok(mut rows) = rows.lock()
        {
            rows.push(TraceRow {
                scheduled_us: scheduled.duration_since(tally.origin).as_micros() as u64,
                sent_us: sent.duration_since(tally.origin).as_micros() as u64,
                latency_us: micros,
                service_us: service_micros,
                status: status_code,
                decision_id,
            });
        }
        match ok {
            Some(true) => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                let _ = tally.hist.lock().await.record(micros);
                let _ = tally.service.lock().await.record(service_micros);
            }
            Some(false) => {
                tally.http_errors.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                tally.transport_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Runs load for `length`: open loop when `--rate` > 0, else closed loop.
async fn phase(
    cli: &Cli,
    target: &Target,
    length: Duration,
    tally: &Arc<Tally>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let end = start + length;
    if cli.rate > 0.0 {
        let interval = Duration::from_secs_f64(1.0 / cli.rate);
        let pacer = pacer::Pacer::new().context("creating the send timer")?;
        let limit = Arc::new(Semaphore::new(cli.max_in_flight.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut next = start;
        while next < end {
            pacer
                .sleep_until(next)
                .await
                .context("waiting for the next send time")?;
            let (t, tl, lim) = (target.clone(), Arc::clone(tally), Arc::clone(&limit));
            let scheduled = next;
            tasks.spawn(async move {
                let Ok(_permit) = lim.acquire_owned().await else {
                    return;
                };
                t.once(scheduled, &tl).await;
            });
            while tasks.try_join_next().is_some() {}
            next += interval;
        }
        while tasks.join_next().await.is_some() {}
    } else {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..cli.concurrency.max(1) {
            let (t, tl) = (target.clone(), Arc::clone(tally));
            tasks.spawn(async move {
                while Instant::now() < end {
                    t.once(Instant::now(), &tl).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
    Ok(())
}

/// Waiting for each scheduled send time, on the runtime's own thread.
///
/// tokio's timer has a 1 ms resolution, which would add up to 1 ms of our own lateness to
/// every latency measured from the schedule. On Linux a `timerfd` registered with the
/// runtime's epoll wakes the runtime at the send time to within microseconds, without a
/// second thread (an earlier version slept in a ticker thread and handed each send time to
/// the runtime: one more wake-up per request, 140-150 µs at the median on this VM).
#[cfg(target_os = "linux")]
mod pacer {
    use std::os::fd::OwnedFd;

    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::time::Instant;

    pub struct Pacer {
        timer: AsyncFd<OwnedFd>,
    }

    impl Pacer {
        pub fn new() -> std::io::Result<Pacer> {
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            // `AsyncFd::new` is deprecated because a borrowed or raw fd could be closed and
            // reused behind the registration; here the `OwnedFd` moves into the `AsyncFd`,
            // which closes it only after deregistering. `register`, its replacement, is
            // `unsafe`, which this workspace forbids.
            #[allow(deprecated)]
            let timer = AsyncFd::new(fd)?;
            Ok(Pacer { timer })
        }

        /// Returns at `deadline` (at once when it has passed).
        pub async fn sleep_until(&self, deadline: Instant) -> std::io::Result<()> {
            let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
                return Ok(());
            };
            if wait.is_zero() {
                return Ok(());
            }
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let spec = Itimerspec {
                it_interval: zero,
                it_value: Timespec {
                    tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(wait.subsec_nanos()),
                },
            };
            timerfd_settime(self.timer.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
            loop {
                let mut ready = self.timer.readable().await?;
                let mut expirations = [0u8; 8];
                match ready.try_io(|fd| {
                    rustix::io::read(fd.get_ref(), &mut expirations).map_err(std::io::Error::from)
                }) {
                    Ok(result) => return result.map(|_| ()),
                    Err(_would_block) => continue,
                }
            }
        }
    }
}

/// Elsewhere, tokio's timer (1 ms resolution: latencies include up to 1 ms of our own).
#[cfg(not(target_os = "linux"))]
mod pacer {
    use tokio::time::Instant;

    pub struct Pacer;

    impl Pacer {
        pub fn new() -> std::io::Result<Pacer> {
            Ok(Pacer)
        }

        pub async fn sleep_until(&self, deadline: Instant) -> std::io::Result<()> {
            tokio::time::sleep_until(deadline).await;
            Ok(())
        }
    }
}

fn write_trace(
    path: &std::path::Path,
    rows: &std::sync::Mutex<Vec<TraceRow>>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let rows = rows
        .lock()
        .map_err(|_| anyhow::anyhow!("trace rows poisoned"))?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(
        out,
        "scheduled_us,sent_us,latency_us,service_us,status,decision_id"
    )?;
    for r in rows.iter() {
        writeln!(
            out,
            "{},{},{},{},{},{}",
            r.scheduled_us, r.sent_us, r.latency_us, r.service_us, r.status, r.decision_id
        )?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

async fn report(cli: &Cli, tally: &Tally, elapsed: f64) {
    let hist = tally.hist.lock().await;
    let service = tally.service.lock().await;
    let svc = |q: f64| service.value_at_quantile(q) as f64 / 1e3;
    let ok = tally.ok.load(Ordering::Relaxed);
    let http = tally.http_errors.load(Ordering::Relaxed);
    let transport = tally.transport_errors.load(Ordering::Relaxed);
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
    let throughput = ok as f64 / elapsed;
    if cli.json {
        let v = serde_json::json!({
            "label": cli.label, "mode": if cli.rate > 0.0 { "rate" } else { "closed" },
            "target_rate": cli.rate, "concurrency": cli.concurrency, "seconds": elapsed,
            "ok": ok, "http_errors": http, "transport_errors": transport,
            "throughput_rps": throughput,
            "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "p999_ms": ms(0.999),
            "max_ms": hist.max() as f64 / 1e3, "mean_ms": hist.mean() / 1e3,
            "service_p50_ms": svc(0.5), "service_p99_ms": svc(0.99), "service_p999_ms": svc(0.999),
        });
        println!("{v}");
    } else {
        println!(
            "{}: {ok} ok, {http} HTTP errors, {transport} transport errors in {elapsed:.1} s = {throughput:.0} req/s; \
             latency p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
            cli.label,
            ms(0.5),
            ms(0.9),
            ms(0.99),
            ms(0.999),
            hist.max() as f64 / 1e3
        );
    }
}
