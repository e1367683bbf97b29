//! The operator's own recent writes, until the watch delivers them.
//!
//! A reconcile can run before the watch has brought back what an earlier reconcile wrote (the
//! store still holds the version that write replaced). Judged against that copy, it would write
//! the same status, pause or finalizer again and send the same events twice. So each write's
//! answer from the API server is kept here, with the resource versions it replaced, until the
//! watch delivers it (its echo, which also needs no reconcile: nothing changed that the
//! operator did not already judge).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Resource;
use kube::runtime::reflector::ObjectRef;

struct Written<K> {
    /// Resource versions the store may still show although they are already overwritten.
    replaced: Vec<String>,
    /// The object as the API server answered the last write.
    object: Arc<K>,
    at: Instant,
}

/// An echo the watch delivered before the write's answer was recorded is missed; such an
/// entry is dropped once this old (the watch delivers within seconds).
const FORGET_AFTER: Duration = Duration::from_secs(300);

pub struct RecentWrites<K: Resource<DynamicType = ()>> {
    inner: Mutex<HashMap<ObjectRef<K>, Written<K>>>,
}

impl<K: Resource<DynamicType = ()>> Default for RecentWrites<K> {
    fn default() -> Self {
        RecentWrites {
            inner: Mutex::default(),
        }
    }
}

fn version<K: Resource>(object: &K) -> Option<&str> {
    object.meta().resource_version.as_deref()
}

impl<K: Resource<DynamicType = ()>> RecentWrites<K> {
    /// The freshest known copy of `stored`: the answer to our last write while the store still
    /// shows a version that write replaced.
    pub fn fresh(&self, stored: Arc<K>) -> Arc<K> {
        let Ok(mut map) = self.inner.lock() else {
            return stored;
        };
        let key = ObjectRef::from_obj(stored.as_ref());
        match map.get(&key) {
            Some(w)
                if version(stored.as_ref()).is_some_and(|v| w.replaced.iter().any(|r| r == v)) =>
            {
                w.object.clone()
            }
            Some(_) => {
                // The store has our write, or something newer.
                map.remove(&key);
                stored
            }
            None => stored,
        }
    }

    /// Remember a write: `before` is the copy it was decided on, `after` the server's answer.
    pub fn record(&self, before: &K, after: K) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        let key = ObjectRef::from_obj(&after);
        let mut replaced = match map.remove(&key) {
            // A second write in a row (finalizer, then status): both earlier versions are stale.
            Some(w) if version(w.object.as_ref()) == version(before) => w.replaced,
            _ => Vec::new(),
        };
        if let Some(v) = version(before) {
            replaced.push(v.to_string());
        }
        if version(&after).is_some_and(|v| replaced.iter().any(|r| r == v)) {
            // The write changed nothing: nothing to wait for.
            return;
        }
        let now = Instant::now();
        map.insert(
            key,
            Written {
                replaced,
                object: Arc::new(after),
                at: now,
            },
        );
        if map.len() % 256 == 0 {
            map.retain(|_, w| now.duration_since(w.at) < FORGET_AFTER);
        }
    }

    /// Whether a watched object is a version we already know: the echo of our last write
    /// (forgotten from then on: the store now has it) or of one it replaced.
    pub fn is_echo(&self, object: &K) -> bool {
        let Ok(mut map) = self.inner.lock() else {
            return false;
        };
        let key = ObjectRef::from_obj(object);
        let Some(w) = map.get(&key) else { return false };
        let Some(v) = version(object) else {
            return false;
        };
        if version(w.object.as_ref()) == Some(v) {
            map.remove(&key);
            return true;
        }
        w.replaced.iter().any(|r| r == v)
    }

    pub fn forget(&self, object: &ObjectRef<K>) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(object);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(version: &str, value: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some("c".into());
        c.metadata.namespace = Some("ns".into());
        c.metadata.resource_version = Some(version.into());
        c.data = Some([("k".to_string(), value.to_string())].into());
        c
    }

    #[test]
    fn a_stale_store_copy_is_replaced_by_the_written_one_until_the_echo() {
        let writes = RecentWrites::default();
        let v1 = cm("1", "old");
        writes.record(&v1, cm("2", "new"));
        assert_eq!(
            writes
                .fresh(Arc::new(v1.clone()))
                .metadata
                .resource_version
                .as_deref(),
            Some("2")
        );
        assert!(writes.is_echo(&cm("2", "new")));
        assert_eq!(writes.len(), 0);
        assert_eq!(
            writes
                .fresh(Arc::new(v1))
                .metadata
                .resource_version
                .as_deref(),
            Some("1"),
            "forgotten after the echo"
        );
    }

    #[test]
    fn two_writes_in_a_row_make_both_earlier_versions_stale() {
        let writes = RecentWrites::default();
        let v1 = cm("1", "a");
        let v2 = cm("2", "b");
        writes.record(&v1, v2.clone());
        writes.record(&v2, cm("3", "c"));
        for stale in [v1, v2] {
            assert_eq!(
                writes
                    .fresh(Arc::new(stale))
                    .metadata
                    .resource_version
                    .as_deref(),
                Some("3")
            );
        }
        assert!(
            writes.is_echo(&cm("2", "b")),
            "an intermediate version of ours is known"
        );
        assert_eq!(writes.len(), 1, "kept until the last write comes back");
        assert!(writes.is_echo(&cm("3", "c")));
        assert_eq!(writes.len(), 0);
        assert!(!writes.is_echo(&cm("4", "theirs")));
    }

    #[test]
    fn a_newer_version_from_someone_else_wins() {
        let writes = RecentWrites::default();
        writes.record(&cm("1", "a"), cm("2", "b"));
        assert_eq!(
            writes
                .fresh(Arc::new(cm("5", "theirs")))
                .metadata
                .resource_version
                .as_deref(),
            Some("5")
        );
        assert_eq!(writes.len(), 0);
    }

    #[test]
    fn a_write_that_changed_nothing_is_not_kept() {
        let writes = RecentWrites::default();
        writes.record(&cm("4", "a"), cm("4", "a"));
        assert_eq!(writes.len(), 0);
        assert!(!writes.is_echo(&cm("4", "a")));
    }
}
