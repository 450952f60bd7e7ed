//! Faults injected into one cluster, for tests of how clients cope.

use std::collections::HashSet;
use std::sync::Mutex;

/// The faults of one cluster.
#[derive(Default)]
pub struct Faults {
    revoked: Mutex<HashSet<String>>,
}

impl Faults {
    /// From now on `token` is rejected (401) as if it had been revoked.
    pub fn revoke(&self, token: &str) {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_string());
    }

    pub fn is_revoked(&self, token: &str) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(token)
    }
}
