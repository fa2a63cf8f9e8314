//! Feedback in memory, by decision, with a completeness rule: the index knows when what it
//! holds for a decision is all there is, and when the files must be read first.
//!
//! Every feedback the gateway receives goes through the index, so for a decision that
//! arrived after the gateway started and was never evicted, memory holds all of its
//! feedback. Eviction (beyond `audit.recent_in_memory` decisions, oldest first judged)
//! moves `complete_since` past the evicted decision's time: decisions from before it may
//! have feedback on disk only, and are read from the files ([`super::scan`]) once, then
//! kept as complete entries.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::record::FeedbackRecord;

/// What the index holds for one decision.
#[derive(Debug, Default)]
pub struct Entry {
    /// The latest feedback per source, in the order the sources first judged: a
    /// replacement takes its source's slot, so a client resending for one decision cannot
    /// grow the entry.
    pub items: Vec<Arc<FeedbackRecord>>,
}

/// The index.
#[derive(Debug)]
pub struct Index {
    capacity: usize,
    by_decision: HashMap<String, Entry>,
    order: VecDeque<String>,
    /// Decisions whose id time (Unix ms) is at least this have all their feedback here.
    complete_since_ms: u64,
}

impl Index {
    /// An empty index for at most `capacity` decisions, complete for decisions from
    /// `started_ms` on (feedback given before the gateway started is on disk only).
    pub fn new(capacity: usize, started_ms: u64) -> Index {
        Index {
            capacity: capacity.max(1),
            by_decision: HashMap::new(),
            order: VecDeque::new(),
            complete_since_ms: started_ms,
        }
    }

    /// The decision's feedback when memory holds all of it; `None` when the files must be
    /// read ([`install`](Self::install) the result).
    pub fn get(&self, decision_id: &str, decision_ms: u64) -> Option<&[Arc<FeedbackRecord>]> {
        match self.by_decision.get(decision_id) {
            Some(entry) => Some(&entry.items),
            None if decision_ms >= self.complete_since_ms => Some(&[]),
            None => None,
        }
    }

    /// Stores what the files hold for a decision (every revision, in time order: the
    /// latest per source is kept), unless a concurrent request already did.
    pub fn install(&mut self, decision_id: &str, items: Vec<Arc<FeedbackRecord>>) {
        if !self.by_decision.contains_key(decision_id) {
            let items = super::record::current(&items);
            self.insert(decision_id, Entry { items });
        }
    }

    /// Adds a feedback to a decision whose entry is complete (checked with
    /// [`get`](Self::get) first), built by `make` with its revision (one more than the
    /// source's last); returns it and the feedback it replaces.
    pub fn push(
        &mut self,
        make: impl FnOnce(u32) -> FeedbackRecord,
        decision_id: &str,
        source: &str,
    ) -> (Arc<FeedbackRecord>, Option<Arc<FeedbackRecord>>) {
        if !self.by_decision.contains_key(decision_id) {
            self.insert(decision_id, Entry::default());
        }
        let entry = self.by_decision.entry(decision_id.to_string()).or_default();
        match entry.items.iter_mut().find(|f| f.source == source) {
            Some(slot) => {
                let record = Arc::new(make(slot.revision + 1));
                let previous = std::mem::replace(slot, Arc::clone(&record));
                (record, Some(previous))
            }
            None => {
                let record = Arc::new(make(1));
                entry.items.push(Arc::clone(&record));
                (record, None)
            }
        }
    }

    /// Takes back a feedback that could not be stored, restoring the one it replaced.
    pub fn retract(&mut self, record: &Arc<FeedbackRecord>, previous: Option<Arc<FeedbackRecord>>) {
        let Some(entry) = self.by_decision.get_mut(&record.decision_id) else {
            return;
        };
        match (
            entry.items.iter().position(|f| Arc::ptr_eq(f, record)),
            previous,
        ) {
            (Some(i), Some(previous)) => entry.items[i] = previous,
            (Some(i), None) => {
                entry.items.remove(i);
            }
            (None, _) => {}
        }
    }

    fn insert(&mut self, decision_id: &str, entry: Entry) {
        self.by_decision.insert(decision_id.to_string(), entry);
        self.order.push_back(decision_id.to_string());
        while self.order.len() > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.by_decision.remove(&old);
            if let Some(ms) = crate::audit::lookup::id_millis(&old) {
                self.complete_since_ms = self.complete_since_ms.max(ms + 1);
            } else {
                // Not a time-ordered id (a test double's): nothing older can be trusted.
                self.complete_since_ms = u64::MAX;
            }
        }
    }
}
