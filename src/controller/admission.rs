//! Which creates and updates of a Deployment are held at admission: the rule of the shipped
//! MutatingAdmissionPolicy (`deploy/admission/hold-rollouts.yaml`), in Rust, for an admission
//! path that cannot run that policy. Pure; both are tested against one table of cases
//! (`tests/fixtures/hold/cases.yaml`): this function offline, the policy on the real API server.
//!
//! A request is held, that is admitted paused with gonogo's mark, when
//! - it brings a new pod template: a CREATE, a change of `spec.template`, or a person lifting
//!   their own pause (a pause without gonogo's mark; gonogo then judges what they release);
//! - no person's pause is on the object as sent (a person's pause is never taken over);
//! - a Block-mode DeploymentReadiness of its namespace, not being deleted, targets it (a
//!   `targetRef` naming another namespace targets nothing).
//!
//! Resuming gonogo's own pause by hand changes no template and lifts a marked pause: not held
//! (break-glass, see `enforce`).

use k8s_openapi::api::apps::v1::Deployment;

use super::enforce::ANNOTATION_PAUSED_BY_GONOGO;
use crate::api::{DeploymentReadiness, Enforcement};

/// Whether admitting `new` (replacing `old`, `None` on CREATE) must hold its rollout, given
/// the DeploymentReadiness objects of its namespace.
pub fn holds_at_admission<'a>(
    old: Option<&Deployment>,
    new: &Deployment,
    readiness: impl IntoIterator<Item = &'a DeploymentReadiness>,
) -> bool {
    let new_template = match old {
        None => true,
        Some(old) => {
            template(old) != template(new) || (paused(old) && !paused(new) && !marked(old))
        }
    };
    if !new_template || (paused(new) && !marked(new)) {
        return false;
    }
    let Some(name) = new.metadata.name.as_deref() else {
        return false;
    };
    readiness.into_iter().any(|r| {
        r.target_name() == Some(name)
            && r.spec.enforcement == Enforcement::Block
            && r.metadata.deletion_timestamp.is_none()
    })
}

fn template(d: &Deployment) -> Option<&k8s_openapi::api::core::v1::PodTemplateSpec> {
    d.spec.as_ref().map(|s| &s.template)
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

fn marked(d: &Deployment) -> bool {
    d.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_PAUSED_BY_GONOGO))
        .is_some_and(|v| v == "true")
}
