//! Decision ids: UUID v7 (48 bits of Unix milliseconds, then 74 random bits), so ids sort
//! by time and cannot be guessed from one another. `uuid::Uuid::now_v7` asks the kernel
//! for randomness on every call (one `getrandom` syscall per request, measured with
//! `strace -c`); here each thread draws 4 KiB from the kernel at a time and takes ten
//! bytes per id, so the bits are the kernel's, at one syscall per ~400 ids.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Random bytes per id (74 of their 80 bits end up in the id).
const RANDOM_BYTES: usize = 10;
/// Bytes drawn from the kernel at a time.
const POOL_BYTES: usize = 4096;

struct RandomPool {
    bytes: Box<[u8; POOL_BYTES]>,
    next: usize,
}

impl RandomPool {
    /// Ten fresh random bytes, refilling the pool when it runs out; `None` if the kernel
    /// refuses (the caller then falls back to `uuid`'s own generator).
    fn take(&mut self) -> Option<[u8; RANDOM_BYTES]> {
        if self.next + RANDOM_BYTES > POOL_BYTES {
            getrandom::fill(&mut self.bytes[..]).ok()?;
            self.next = 0;
        }
        let mut out = [0u8; RANDOM_BYTES];
        out.copy_from_slice(&self.bytes[self.next..self.next + RANDOM_BYTES]);
        // Never hand out the same bytes twice.
        self.bytes[self.next..self.next + RANDOM_BYTES].fill(0);
        self.next += RANDOM_BYTES;
        Some(out)
    }
}

thread_local! {
    static POOL: RefCell<RandomPool> = RefCell::new(RandomPool {
        bytes: Box::new([0u8; POOL_BYTES]),
        // Empty: the first id on each thread fills it.
        next: POOL_BYTES,
    });
}

/// A new decision id, e.g. `019abc12-3456-7def-8123-456789abcdef`.
pub fn new_decision_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    match POOL.with_borrow_mut(RandomPool::take) {
        Some(random) => uuid::Builder::from_unix_timestamp_millis(millis, &random)
            .into_uuid()
            .to_string(),
        None => uuid::Uuid::now_v7().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_v7_unique_and_time_ordered_by_millisecond() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        // More than one pool's worth, so the refill path runs too.
        let ids: Vec<String> = (0..1000).map(|_| new_decision_id()).collect();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let mut last_ms = 0;
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
            let (secs, nanos) = uuid.get_timestamp().unwrap().to_unix();
            let ms = secs * 1000 + u64::from(nanos) / 1_000_000;
            assert!(ms >= before && ms >= last_ms, "{id} goes back in time");
            last_ms = ms;
        }
    }

    #[test]
    fn random_parts_differ_between_consecutive_ids() {
        let a = uuid::Uuid::parse_str(&new_decision_id()).unwrap();
        let b = uuid::Uuid::parse_str(&new_decision_id()).unwrap();
        assert_ne!(a.as_bytes()[6..], b.as_bytes()[6..]);
    }
}
