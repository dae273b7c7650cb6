//! The most recent verdicts, newest first and bounded, shared by the live
//! driver (which adds them) and `/api/sessions` (which serves them).

use std::{collections::VecDeque, sync::Mutex};

use crate::verdict::{Outcome, Verdict};

pub struct Recent {
    list: Mutex<VecDeque<Verdict>>,
    cap: usize,
}

impl Recent {
    pub fn new(cap: usize) -> Self {
        Recent {
            list: Mutex::new(VecDeque::new()),
            cap: cap.max(1),
        }
    }

    pub fn push(&self, v: Verdict) {
        let mut l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        l.push_front(v);
        l.truncate(self.cap);
    }

    /// Newest first, optionally only one outcome.
    pub fn snapshot(&self, outcome: Option<Outcome>) -> Vec<Verdict> {
        let l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        l.iter()
            .filter(|v| outcome.is_none_or(|o| v.outcome == o))
            .cloned()
            .collect()
    }
}
