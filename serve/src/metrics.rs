//! Prometheus metrics, hand-rolled: counters and histograms are atomics, label sets are
//! looked up under a read lock (written once per new label set), and `/metrics` renders
//! the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Buckets (seconds) for the router's own time: microseconds to a few milliseconds.
pub const ROUTER_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_02, 0.000_03, 0.000_05, 0.000_075, 0.000_1, 0.000_15, 0.000_2,
    0.000_3, 0.000_5, 0.000_75, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// Buckets (seconds) for request and upstream latencies.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 120.0,
];

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts; one more than `bounds` for +Inf.
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation, in seconds.
    pub fn observe(&self, seconds: f64) {
        let i = self.bounds.partition_point(|b| *b < seconds);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + seconds).to_bits())
            });
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a duration.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The `q` quantile (0..=1) estimated by linear interpolation inside the bucket, as
    /// Prometheus' `histogram_quantile` does; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        quantile_from_buckets(self.bounds, &counts, q)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{}le=\"{bound}\"}} {cumulative}",
                comma(labels)
            );
        }
        cumulative += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{}le=\"+Inf\"}} {cumulative}",
            comma(labels)
        );
        let sum = f64::from_bits(self.sum_bits.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count());
    }
}

/// `histogram_quantile` over non-cumulative bucket counts (the last one is +Inf).
pub fn quantile_from_buckets(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut cumulative = 0u64;
    for (i, c) in counts.iter().enumerate() {
        let before = cumulative;
        cumulative += c;
        if cumulative as f64 >= rank && *c > 0 {
            let upper = match bounds.get(i) {
                Some(u) => *u,
                // In +Inf: the best we can say is the largest finite bound.
                None => return bounds.last().copied(),
            };
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let within = (rank - before as f64) / *c as f64;
            return Some(lower + (upper - lower) * within);
        }
    }
    bounds.last().copied()
}

fn comma(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{labels},")
    }
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

/// A family of metrics keyed by label values.
#[derive(Debug)]
pub struct Family<T> {
    label_names: &'static [&'static str],
    /// By [`encode_key`] of the label values.
    members: RwLock<BTreeMap<String, Member<T>>>,
    make: fn() -> T,
}

/// A family member: its label values (kept for rendering) and the metric.
type Member<T> = (Vec<String>, Arc<T>);

thread_local! {
    /// Reused for lookups: a request looks up ~5 label sets, and building an owned key for
    /// each was a dozen allocations per request.
    static LOOKUP_KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// One string per label set, unambiguous whatever the values contain: each value is
/// prefixed with its length (`3:chat1:2`).
fn encode_key(values: &[&str], key: &mut String) {
    key.clear();
    for v in values {
        let _ = write!(key, "{}:", v.len());
        key.push_str(v);
    }
}

impl<T> Family<T> {
    fn new(label_names: &'static [&'static str], make: fn() -> T) -> Family<T> {
        Family {
            label_names,
            members: RwLock::new(BTreeMap::new()),
            make,
        }
    }

    /// The member for these label values (created on first use).
    pub fn with(&self, values: &[&str]) -> Arc<T> {
        LOOKUP_KEY.with_borrow_mut(|key| {
            encode_key(values, key);
            if let Some((_, m)) = self
                .members
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(key.as_str())
            {
                return Arc::clone(m);
            }
            let mut members = self.members.write().unwrap_or_else(|e| e.into_inner());
            let (_, m) = members.entry(key.clone()).or_insert_with(|| {
                (
                    values.iter().map(|v| (*v).to_string()).collect(),
                    Arc::new((self.make)()),
                )
            });
            Arc::clone(m)
        })
    }

    /// Rendered label sets and their members, in the order of the label values.
    fn snapshot(&self) -> Vec<(String, Arc<T>)> {
        let members = self.members.read().unwrap_or_else(|e| e.into_inner());
        let mut sorted: Vec<&Member<T>> = members.values().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted
            .into_iter()
            .map(|(values, m)| {
                let labels = self
                    .label_names
                    .iter()
                    .zip(values)
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect::<Vec<_>>()
                    .join(",");
                (labels, Arc::clone(m))
            })
            .collect()
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    /// `arbiter_requests_total{endpoint,status}`.
    pub requests: Family<Counter>,
    /// `arbiter_request_duration_seconds{endpoint}`: time to the response head.
    pub request_duration: Family<Histogram>,
    /// `arbiter_router_duration_seconds`: scoring + policy, per routed request.
    pub router_duration: Histogram,
    /// `arbiter_decisions_total{model}`: winners of `auto` decisions.
    pub decisions: Family<Counter>,
    /// `arbiter_fallbacks_total`: requests answered by other than the first choice.
    pub fallbacks: Counter,
    /// `arbiter_upstream_requests_total{provider,outcome}`.
    pub upstream_requests: Family<Counter>,
    /// `arbiter_upstream_errors_total{provider,kind}`.
    pub upstream_errors: Family<Counter>,
    /// `arbiter_upstream_duration_seconds{provider}`: successful upstream calls, to the last byte.
    pub upstream_duration: Family<Histogram>,
    /// `arbiter_breaker_opened_total{provider}`.
    pub breaker_opened: Family<Counter>,
    /// `arbiter_audit_records_total{result}` (`queued`, `written`, `synced`, `dropped`,
    /// `write_failed`, `not_kept`).
    pub audit_records: Family<Counter>,
    /// `arbiter_audit_files_deleted_total{reason}` (`size`, `age`): retention.
    pub audit_files_deleted: Family<Counter>,
    /// `arbiter_router_reloads_total{result}`.
    pub reloads: Family<Counter>,
    /// `arbiter_feedback_total{result}` (`accepted`, `replaced`, `not_found`, `invalid`,
    /// `failed`).
    pub feedback: Family<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::new(&["endpoint", "status"], Counter::default),
            request_duration: Family::new(&["endpoint"], || Histogram::new(LATENCY_BUCKETS)),
            router_duration: Histogram::new(ROUTER_BUCKETS),
            decisions: Family::new(&["model"], Counter::default),
            fallbacks: Counter::default(),
            upstream_requests: Family::new(&["provider", "outcome"], Counter::default),
            upstream_errors: Family::new(&["provider", "kind"], Counter::default),
            upstream_duration: Family::new(&["provider"], || Histogram::new(LATENCY_BUCKETS)),
            breaker_opened: Family::new(&["provider"], Counter::default),
            audit_records: Family::new(&["result"], Counter::default),
            audit_files_deleted: Family::new(&["reason"], Counter::default),
            reloads: Family::new(&["result"], Counter::default),
            feedback: Family::new(&["result"], Counter::default),
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition; `extra` adds gauges computed at scrape time.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        counters(
            &mut out,
            "arbiter_requests_total",
            "HTTP requests by endpoint and status.",
            &self.requests,
        );
        histograms(
            &mut out,
            "arbiter_request_duration_seconds",
            "Time from request to response head, by endpoint.",
            &self.request_duration,
        );
        header(
            &mut out,
            "arbiter_router_duration_seconds",
            "The router's own time per routed request: scoring plus policy.",
            "histogram",
        );
        self.router_duration
            .render(&mut out, "arbiter_router_duration_seconds", "");
        counters(
            &mut out,
            "arbiter_decisions_total",
            "Routing decisions by winning model.",
            &self.decisions,
        );
        header(
            &mut out,
            "arbiter_fallbacks_total",
            "Requests answered by another model or provider than the first choice.",
            "counter",
        );
        let _ = writeln!(out, "arbiter_fallbacks_total {}", self.fallbacks.get());
        counters(
            &mut out,
            "arbiter_upstream_requests_total",
            "Upstream attempts by provider and outcome.",
            &self.upstream_requests,
        );
        counters(
            &mut out,
            "arbiter_upstream_errors_total",
            "Upstream failures by provider and kind.",
            &self.upstream_errors,
        );
        histograms(
            &mut out,
            "arbiter_upstream_duration_seconds",
            "Successful upstream calls, to the last byte.",
            &self.upstream_duration,
        );
        counters(
            &mut out,
            "arbiter_breaker_opened_total",
            "Times a provider's circuit breaker opened.",
            &self.breaker_opened,
        );
        counters(
            &mut out,
            "arbiter_audit_records_total",
            "Decision records by result: queued, written or synced (stored as audit.durability asks), dropped (queue full or log closed), write_failed (the write to the file failed, also when the writer thread failed after queueing), not_kept (a /v1/route record left out by audit.route_records).",
            &self.audit_records,
        );
        counters(
            &mut out,
            "arbiter_audit_files_deleted_total",
            "Decision log files deleted by retention, by reason: size (audit.max_total_bytes) or age (audit.max_age_days).",
            &self.audit_files_deleted,
        );
        counters(
            &mut out,
            "arbiter_router_reloads_total",
            "Router artifact reloads by result.",
            &self.reloads,
        );
        counters(
            &mut out,
            "arbiter_feedback_total",
            "POST /v1/feedback by result: accepted (a first judgement from its source), replaced (a later one from the same source), not_found (unknown decision), invalid (a malformed body), failed (not stored).",
            &self.feedback,
        );
        let mut last = "";
        for g in gauges {
            if g.name != last {
                header(&mut out, g.name, g.help, "gauge");
                last = g.name;
            }
            let _ = writeln!(out, "{}{} {}", g.name, braces(&g.labels), g.value);
        }
        out
    }
}

/// A gauge value computed at scrape time.
#[derive(Debug, Clone)]
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Rendered labels (`provider="x"`), possibly empty.
    pub labels: String,
    /// The value.
    pub value: f64,
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counters(out: &mut String, name: &str, help: &str, family: &Family<Counter>) {
    header(out, name, help, "counter");
    for (labels, c) in family.snapshot() {
        let _ = writeln!(out, "{name}{} {}", braces(&labels), c.get());
    }
}

fn histograms(out: &mut String, name: &str, help: &str, family: &Family<Histogram>) {
    header(out, name, help, "histogram");
    for (labels, h) in family.snapshot() {
        h.render(out, name, &labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_renders_cumulative_buckets_and_estimates_quantiles() {
        let h = Histogram::new(&[0.1, 0.2, 0.5]);
        for v in [0.05, 0.15, 0.15, 0.3, 1.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.1\"} 1"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.2\"} 3"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 5"));
        assert!(out.contains("x_count{a=\"b\"} 5"));
        let p50 = h.quantile(0.5).unwrap();
        assert!((0.1..=0.2).contains(&p50), "{p50}");
    }

    #[test]
    fn families_render_labels() {
        let m = Metrics::default();
        m.requests.with(&["chat", "200"]).inc();
        m.requests.with(&["chat", "200"]).inc();
        m.decisions.with(&["gpt-4o"]).inc();
        let text = m.render(&[]);
        assert!(text.contains("arbiter_requests_total{endpoint=\"chat\",status=\"200\"} 2"));
        assert!(text.contains("arbiter_decisions_total{model=\"gpt-4o\"} 1"));
        assert!(text.contains("# TYPE arbiter_router_duration_seconds histogram"));
    }

    #[test]
    fn label_sets_never_collide_and_render_in_value_order() {
        let m = Metrics::default();
        // Concatenated, these two would be the same string.
        m.requests.with(&["ab", "c"]).inc();
        m.requests.with(&["a", "bc"]).inc();
        m.requests.with(&["a", "bc"]).inc();
        assert_eq!(m.requests.with(&["ab", "c"]).get(), 1);
        assert_eq!(m.requests.with(&["a", "bc"]).get(), 2);
        let text = m.render(&[]);
        let first = text.find("endpoint=\"a\",status=\"bc\"} 2");
        let second = text.find("endpoint=\"ab\",status=\"c\"} 1");
        assert!(first.is_some() && second.is_some(), "{text}");
        assert!(first < second, "sorted by label values: {text}");
    }
}
