//! A circuit breaker per provider: `failure_threshold` consecutive failures open it; an
//! open breaker is skipped for `cooldown`, then lets exactly one probe through
//! (half-open); the probe's success closes it, its failure opens it for another cool-down.
//!
//! Every method has an `_at(now)` form taking the time explicitly, so tests drive the
//! clock without sleeping (the workspace's tokio has no `test-util` paused clock).

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
        self.state_at(Instant::now())
    }

    /// [`Breaker::state`] at `now`.
    pub fn state_at(&self, now: Instant) -> BreakerState {
        let inner = self.lock();
        match *inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open,
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
        self.try_acquire_at(Instant::now())
    }

    /// [`Breaker::try_acquire`] at `now`.
    pub fn try_acquire_at(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } => {
                if now >= until {
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
        self.record_failure_at(Instant::now())
    }

    /// [`Breaker::record_failure`] at `now`.
    pub fn record_failure_at(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed {
                consecutive_failures,
            } => {
                let n = consecutive_failures.saturating_add(1);
                if n >= self.threshold {
                    *inner = Inner::Open {
                        until: now + self.cooldown,
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
                    until: now + self.cooldown,
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

    #[test]
    fn opens_after_threshold_then_probes_after_cooldown() {
        let t0 = Instant::now();
        let later = |s: u64| t0 + Duration::from_secs(s);
        let b = Breaker::new(3, Duration::from_secs(10));
        assert!(b.try_acquire_at(t0));
        assert!(!b.record_failure_at(t0));
        assert!(!b.record_failure_at(t0));
        assert_eq!(b.state_at(t0), BreakerState::Closed);
        assert!(b.record_failure_at(t0));
        assert_eq!(b.state_at(later(1)), BreakerState::Open);
        assert!(!b.try_acquire_at(later(1)));

        assert_eq!(b.state_at(later(11)), BreakerState::HalfOpen);
        assert!(b.try_acquire_at(later(11)), "one probe goes through");
        assert!(!b.try_acquire_at(later(11)), "only one probe at a time");
        b.record_failure_at(later(11));
        assert_eq!(b.state_at(later(12)), BreakerState::Open);

        assert!(b.try_acquire_at(later(22)));
        b.record_success();
        assert_eq!(b.state_at(later(22)), BreakerState::Closed);
        assert!(b.try_acquire_at(later(22)));
    }

    #[test]
    fn success_resets_the_count_and_release_frees_the_probe() {
        let t0 = Instant::now();
        let b = Breaker::new(2, Duration::from_secs(1));
        b.record_failure_at(t0);
        b.record_success();
        b.record_failure_at(t0);
        assert_eq!(b.state_at(t0), BreakerState::Closed);
        b.record_failure_at(t0);
        let t2 = t0 + Duration::from_secs(2);
        assert!(b.try_acquire_at(t2));
        b.release();
        assert!(
            b.try_acquire_at(t2),
            "an abandoned probe does not keep the breaker shut"
        );
    }
}
