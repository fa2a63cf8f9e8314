//! A live latency estimate per provider: an exponentially weighted moving average of
//! the time from sending a request to its last byte, over successful requests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Weight of the newest observation.
const ALPHA: f64 = 0.2;

/// Lock-free EWMA of milliseconds (f64 bits in an `AtomicU64`; `u64::MAX` = no data yet).
#[derive(Debug)]
pub struct LatencyEwma {
    bits: AtomicU64,
}

const EMPTY: u64 = u64::MAX;

impl Default for LatencyEwma {
    fn default() -> Self {
        LatencyEwma {
            bits: AtomicU64::new(EMPTY),
        }
    }
}

impl LatencyEwma {
    /// The current estimate, or `None` before the first observation.
    pub fn get_ms(&self) -> Option<f64> {
        match self.bits.load(Ordering::Relaxed) {
            EMPTY => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    /// Adds an observation.
    pub fn observe_ms(&self, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        // A CAS loop: concurrent observers may each retry, none is lost.
        let _ = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                let next = if old == EMPTY {
                    ms
                } else {
                    let prev = f64::from_bits(old);
                    prev + ALPHA * (ms - prev)
                };
                Some(next.to_bits())
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_empty_then_moves_toward_observations() {
        let e = LatencyEwma::default();
        assert_eq!(e.get_ms(), None);
        e.observe_ms(100.0);
        assert_eq!(e.get_ms(), Some(100.0));
        e.observe_ms(200.0);
        let v = e.get_ms().unwrap();
        assert!((v - 120.0).abs() < 1e-9, "{v}");
        e.observe_ms(f64::NAN);
        assert!((e.get_ms().unwrap() - 120.0).abs() < 1e-9);
    }
}
