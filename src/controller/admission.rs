//! Which creates and updates of a workload are held at admission, and how: the rule of the
//! shipped MutatingAdmissionPolicies (`deploy/admission/hold-rollouts.yaml`), in Rust, for an
//! admission path that cannot run them (the webhook). Pure; both are tested against one table
//! of cases (`tests/fixtures/hold/cases.yaml`): this function offline, the policies on the real
//! API server.
//!
//! A request is held, that is admitted with the kind's hold set and gonogo's mark, when
//! - it brings a new pod template:
//!   - Deployment: a CREATE, a change of `spec.template`, or a person lifting their own pause (a
//!     pause without gonogo's mark; gonogo then judges what they release);
//!   - StatefulSet, DaemonSet: a change of `spec.template` with `updateStrategy.type:
//!     RollingUpdate`. A CREATE is not held: there is no older revision to keep pods on (a
//!     partition or OnDelete does not stop a new StatefulSet's or DaemonSet's first pods);
//!     OnDelete rolls nothing;
//! - no person's pause is on a Deployment as sent (a person's pause is never taken over);
//! - a Block-mode DeploymentReadiness of its namespace, not being deleted, targets it by kind and
//!   name (a `targetRef` naming another namespace targets nothing).
//!
//! Resuming gonogo's own hold by hand changes no template and lifts a marked hold: not held
//! (break-glass, see `enforce`).

use crate::api::{DeploymentReadiness, Enforcement};
use crate::engine::Workload;

use super::enforce::{
    ANNOTATION_PARTITION_BEFORE_HOLD, ANNOTATION_PAUSED_BY_GONOGO, HOLD_PARTITION,
};

/// Whether admitting `new` (replacing `old`, `None` on CREATE) must hold its rollout, given
/// the DeploymentReadiness objects of its namespace. `old` is of the same kind as `new`.
pub fn holds_at_admission<'a>(
    old: Option<&Workload>,
    new: &Workload,
    readiness: impl IntoIterator<Item = &'a DeploymentReadiness>,
) -> bool {
    let new_template = match (new, old) {
        (Workload::Deployment(_), None) => true,
        (Workload::Deployment(_), Some(old)) => {
            old.template() != new.template() || (paused(old) && !paused(new) && !marked(old))
        }
        (_, None) => false,
        (_, Some(old)) => old.template() != new.template() && rolling_update(new),
    };
    if !new_template || (paused(new) && !marked(new)) {
        return false;
    }
    let name = new.name();
    !name.is_empty()
        && readiness.into_iter().any(|r| {
            r.spec.target_ref.kind() == new.kind()
                && r.target_name() == Some(name)
                && r.spec.enforcement == Enforcement::Block
                && r.metadata.deletion_timestamp.is_none()
        })
}

/// The JSONPatch that holds `new` (admitted in place of `old`): the kind's hold field and
/// gonogo's mark (and, for a StatefulSet, the partition to restore). `add` replaces a member
/// that exists; a map or object is added whole when the object has none.
pub fn hold_patch(old: Option<&Workload>, new: &Workload) -> json_patch::Patch {
    let mut annotations = vec![(ANNOTATION_PAUSED_BY_GONOGO, "true".to_string())];
    let mut ops = Vec::new();
    match new {
        Workload::Deployment(_) => {
            ops.push(serde_json::json!({ "op": "add", "path": "/spec/paused", "value": true }));
        }
        Workload::StatefulSet(s) => {
            let strategy = s.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
            let partition = new.partition().unwrap_or(0);
            // Kept by a request that keeps gonogo's hold: the one recorded before it (a
            // person's own partition at the maximum, unmarked, is recorded as it is).
            let before = if partition == HOLD_PARTITION && old.is_some_and(marked) {
                old.and_then(|o| annotation(o, ANNOTATION_PARTITION_BEFORE_HOLD))
                    .unwrap_or("0")
                    .to_string()
            } else {
                partition.to_string()
            };
            annotations.push((ANNOTATION_PARTITION_BEFORE_HOLD, before));
            let (path, value) = match strategy {
                Some(u) if u.rolling_update.is_some() => (
                    "/spec/updateStrategy/rollingUpdate/partition",
                    serde_json::json!(HOLD_PARTITION),
                ),
                Some(_) => (
                    "/spec/updateStrategy/rollingUpdate",
                    serde_json::json!({ "partition": HOLD_PARTITION }),
                ),
                None => (
                    "/spec/updateStrategy",
                    serde_json::json!({
                        "type": "RollingUpdate",
                        "rollingUpdate": { "partition": HOLD_PARTITION },
                    }),
                ),
            };
            ops.push(serde_json::json!({ "op": "add", "path": path, "value": value }));
        }
        Workload::DaemonSet(d) => {
            let (path, value) = match d.spec.as_ref().and_then(|s| s.update_strategy.as_ref()) {
                Some(_) => ("/spec/updateStrategy/type", serde_json::json!("OnDelete")),
                None => (
                    "/spec/updateStrategy",
                    serde_json::json!({ "type": "OnDelete" }),
                ),
            };
            ops.push(serde_json::json!({ "op": "add", "path": path, "value": value }));
        }
    }
    if new.metadata().annotations.is_some() {
        for (key, value) in annotations.into_iter().rev() {
            let path = format!(
                "/metadata/annotations/{}",
                key.replace('~', "~0").replace('/', "~1")
            );
            ops.insert(
                0,
                serde_json::json!({ "op": "add", "path": path, "value": value }),
            );
        }
    } else {
        let map: serde_json::Map<String, serde_json::Value> = annotations
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        ops.insert(
            0,
            serde_json::json!({ "op": "add", "path": "/metadata/annotations", "value": map }),
        );
    }
    // Every operation is well-formed by construction.
    serde_json::from_value(serde_json::Value::Array(ops)).unwrap_or_default()
}

/// A StatefulSet's or DaemonSet's update strategy rolls pods out (`RollingUpdate`, the default).
fn rolling_update(w: &Workload) -> bool {
    w.update_strategy_type()
        .is_none_or(|t| t == "RollingUpdate")
}

/// A Deployment's `spec.paused` (false for the other kinds).
fn paused(w: &Workload) -> bool {
    match w {
        Workload::Deployment(d) => d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false),
        _ => false,
    }
}

fn marked(w: &Workload) -> bool {
    annotation(w, ANNOTATION_PAUSED_BY_GONOGO) == Some("true")
}

fn annotation<'a>(w: &'a Workload, key: &str) -> Option<&'a str> {
    w.metadata()
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}
