//! A circuit breaker per provider: `failure_threshold` consecutive failures open it; an
//! open breaker is skipped for `cooldown`, then lets exactly one probe through
//! (half-open); the probe's success closes it, its failure opens it for another cool-down.
//!
//! Time is `tokio::time::Instant`, so tests drive it with tokio's paused clock.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// What a breaker says about sending a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Healthy: send.
    Closed,
    /// Failing: skip until the cool-down ends.
    Open,
    /// Cool-down over: one probe may go.
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

/// One provider's breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner::Closed {
                consecutive_failures: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while holding it; the state is
        // still a valid enum, so keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state now, without claiming the half-open probe (for decisions and `/readyz`).
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match *inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() < until => BreakerState::Open,
            Inner::Open { .. } => BreakerState::HalfOpen,
            Inner::HalfOpen { probe_in_flight } => {
                if probe_in_flight {
                    BreakerState::Open
                } else {
                    BreakerState::HalfOpen
                }
            }
        }
    }

    /// Asks to send a request: true when closed, or when this caller gets the one
    /// half-open probe. Every `true` must be followed by `record_success` or `record_failure`.
    pub fn try_acquire(&self) -> bool {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } => {
                if Instant::now() >= until {
                    *inner = Inner::HalfOpen {
                        probe_in_flight: true,
                    };
                    true
                } else {
                    false
                }
            }
            Inner::HalfOpen { probe_in_flight } => {
                if probe_in_flight {
                    false
                } else {
                    *inner = Inner::HalfOpen {
                        probe_in_flight: true,
                    };
                    true
                }
            }
        }
    }

    /// The request succeeded: close.
    pub fn record_success(&self) {
        *self.lock() = Inner::Closed {
            consecutive_failures: 0,
        };
    }

    /// The request failed; returns true when this failure opened the breaker.
    pub fn record_failure(&self) -> bool {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed {
                consecutive_failures,
            } => {
                let n = consecutive_failures.saturating_add(1);
                if n >= self.threshold {
                    *inner = Inner::Open {
                        until: Instant::now() + self.cooldown,
                    };
                    true
                } else {
                    *inner = Inner::Closed {
                        consecutive_failures: n,
                    };
                    false
                }
            }
            Inner::HalfOpen { .. } | Inner::Open { .. } => {
                *inner = Inner::Open {
                    until: Instant::now() + self.cooldown,
                };
                true
            }
        }
    }

    /// The request was abandoned before an outcome (client went away): free the probe.
    pub fn release(&self) {
        let mut inner = self.lock();
        if let Inner::HalfOpen { .. } = *inner {
            *inner = Inner::HalfOpen {
                probe_in_flight: false,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_probes_after_cooldown() {
        let b = Breaker::new(3, Duration::from_secs(10));
        assert!(b.try_acquire());
        assert!(!b.record_failure());
        assert!(!b.record_failure());
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.record_failure());
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.try_acquire());

        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire(), "one probe goes through");
        assert!(!b.try_acquire(), "only one probe at a time");
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);

        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(b.try_acquire());
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire());
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(1));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
