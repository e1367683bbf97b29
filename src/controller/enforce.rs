//! Enforcement on the target Deployment, by server-side apply with field manager `gonogo`
//! owning only `spec.paused` and `gonogo.dev/*` annotations.
//!
//! gonogo pauses only a Deployment that is not paused, and marks that it did
//! (`gonogo.dev/paused-by-gonogo`; the shipped MutatingAdmissionPolicy sets the same mark when
//! it holds a new Deployment at creation). It unpauses only a Deployment carrying that mark, by
//! applying `spec.paused: false` and dropping the mark. A Deployment a person paused (no mark)
//! is never unpaused by gonogo.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::{DeploymentReadiness, Enforcement};
use crate::engine::Report;

pub const FIELD_MANAGER: &str = "gonogo";
pub const ANNOTATION_GATES: &str = "gonogo.dev/gates";
pub const ANNOTATION_FAILING: &str = "gonogo.dev/failing";
pub const ANNOTATION_BLOCKED: &str = "gonogo.dev/blocked";
pub const ANNOTATION_BLOCKED_BY: &str = "gonogo.dev/blocked-by";
pub const ANNOTATION_READINESS: &str = "gonogo.dev/readiness";
pub const ANNOTATION_PAUSED_BY_GONOGO: &str = "gonogo.dev/paused-by-gonogo";

const OUR_ANNOTATIONS: [&str; 6] = [
    ANNOTATION_GATES,
    ANNOTATION_FAILING,
    ANNOTATION_BLOCKED,
    ANNOTATION_BLOCKED_BY,
    ANNOTATION_READINESS,
    ANNOTATION_PAUSED_BY_GONOGO,
];

/// The combined verdict of every DeploymentReadiness targeting one Deployment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentVerdict {
    pub readiness: Vec<String>,
    /// Names of the Block-mode readiness objects that hold the rollout.
    pub blocked_by: Vec<String>,
    pub passing: u32,
    pub total: u32,
    /// `readiness/gate` of every required gate that is not passing.
    pub failing: Vec<String>,
}

impl DeploymentVerdict {
    pub fn add(&mut self, readiness: &DeploymentReadiness, report: &Report) {
        let name = readiness.metadata.name.clone().unwrap_or_default();
        let summary = report.summary();
        self.passing += summary.passed + summary.waived;
        self.total += summary.total;
        self.failing
            .extend(report.failing().map(|g| format!("{name}/{}", g.name)));
        if readiness.spec.enforcement == Enforcement::Block && report.holds_rollout() {
            self.blocked_by.push(name.clone());
        }
        self.readiness.push(name);
    }

    pub fn holds(&self) -> bool {
        !self.blocked_by.is_empty()
    }
}

/// What gonogo wants applied to the Deployment; `None` when gonogo should own nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub annotations: BTreeMap<String, String>,
    /// `Some(true)`: hold the rollout; `Some(false)`: release gonogo's own hold; `None`: leave
    /// `spec.paused` alone.
    pub pause: Option<bool>,
}

/// Decide the applied configuration from the verdict and the Deployment as it is now.
pub fn desired(deployment: &Deployment, verdict: Option<&DeploymentVerdict>) -> Option<Desired> {
    let paused_now = deployment
        .spec
        .as_ref()
        .and_then(|s| s.paused)
        .unwrap_or(false);
    let we_paused = annotation(deployment, ANNOTATION_PAUSED_BY_GONOGO) == Some("true");
    let Some(verdict) = verdict else {
        // No readiness object left: release our own hold, then own nothing.
        return we_paused.then(|| Desired {
            annotations: BTreeMap::new(),
            pause: Some(false),
        });
    };
    // Hold only what is not paused, or what we paused ourselves; a person's pause is theirs.
    let pause = match (verdict.holds(), we_paused, paused_now) {
        (true, true, _) | (true, false, false) => Some(true),
        (false, true, _) => Some(false),
        _ => None,
    };
    let mut annotations = BTreeMap::new();
    annotations.insert(
        ANNOTATION_GATES.to_string(),
        format!("{}/{}", verdict.passing, verdict.total),
    );
    annotations.insert(ANNOTATION_BLOCKED.to_string(), verdict.holds().to_string());
    annotations.insert(
        ANNOTATION_READINESS.to_string(),
        verdict.readiness.join(","),
    );
    if !verdict.failing.is_empty() {
        annotations.insert(ANNOTATION_FAILING.to_string(), verdict.failing.join(","));
    }
    if verdict.holds() {
        annotations.insert(
            ANNOTATION_BLOCKED_BY.to_string(),
            verdict.blocked_by.join(","),
        );
    }
    if pause == Some(true) {
        annotations.insert(ANNOTATION_PAUSED_BY_GONOGO.to_string(), "true".to_string());
    }
    Some(Desired { annotations, pause })
}

/// Whether the Deployment already looks as `desired` says (so nothing is written).
pub fn in_sync(deployment: &Deployment, desired: Option<&Desired>) -> bool {
    let current: BTreeMap<String, String> = OUR_ANNOTATIONS
        .iter()
        .filter_map(|k| annotation(deployment, k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let paused_now = deployment
        .spec
        .as_ref()
        .and_then(|s| s.paused)
        .unwrap_or(false);
    match desired {
        None => current.is_empty(),
        Some(d) => current == d.annotations && d.pause.is_none_or(|p| p == paused_now),
    }
}

/// Apply `desired` (or release everything gonogo owns when `None`).
pub async fn apply(
    api: &Api<Deployment>,
    name: &str,
    desired: Option<&Desired>,
) -> Result<Deployment, kube::Error> {
    let mut patch = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
    });
    if let Some(d) = desired {
        patch["metadata"]["annotations"] = json!(d.annotations);
        if let Some(paused) = d.pause {
            patch["spec"] = json!({ "paused": paused });
        }
    }
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
}

fn annotation<'a>(deployment: &'a Deployment, key: &str) -> Option<&'a str> {
    deployment
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(paused: bool, ours: bool) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.name = Some("api".into());
        d.spec = Some(k8s_openapi::api::apps::v1::DeploymentSpec {
            paused: Some(paused),
            ..Default::default()
        });
        if ours {
            d.metadata.annotations =
                Some([(ANNOTATION_PAUSED_BY_GONOGO.to_string(), "true".to_string())].into());
        }
        d
    }

    fn verdict(blocking: bool) -> DeploymentVerdict {
        DeploymentVerdict {
            readiness: vec!["api".into()],
            blocked_by: if blocking { vec!["api".into()] } else { vec![] },
            passing: 1,
            total: 2,
            failing: vec!["api/secrets".into()],
        }
    }

    #[test]
    fn pauses_a_running_deployment_and_marks_it() {
        let d = desired(&deployment(false, false), Some(&verdict(true))).unwrap();
        assert_eq!(d.pause, Some(true));
        assert_eq!(d.annotations[ANNOTATION_PAUSED_BY_GONOGO], "true");
        assert_eq!(d.annotations[ANNOTATION_BLOCKED_BY], "api");
    }

    #[test]
    fn never_takes_over_a_person_s_pause() {
        let person_paused = deployment(true, false);
        let d = desired(&person_paused, Some(&verdict(true))).unwrap();
        assert_eq!(
            d.pause, None,
            "a Deployment paused by a person stays theirs"
        );
        let d = desired(&person_paused, Some(&verdict(false))).unwrap();
        assert_eq!(d.pause, None);
        assert!(in_sync(&person_paused, None));
    }

    #[test]
    fn releases_its_own_pause_when_gates_pass() {
        let ours = deployment(true, true);
        let d = desired(&ours, Some(&verdict(false))).unwrap();
        assert_eq!(d.pause, Some(false));
        assert!(!d.annotations.contains_key(ANNOTATION_PAUSED_BY_GONOGO));
        assert!(!in_sync(&ours, Some(&d)));
        // Once released (running, no mark), gonogo has no opinion on spec.paused any more.
        let released = deployment(false, false);
        assert_eq!(
            desired(&released, Some(&verdict(false))).unwrap().pause,
            None
        );
    }

    #[test]
    fn in_sync_detects_no_change() {
        let running = deployment(false, false);
        let d = desired(&running, Some(&verdict(false))).unwrap();
        let mut applied = running.clone();
        applied.metadata.annotations = Some(d.annotations.clone());
        assert!(in_sync(&applied, Some(&d)));
        assert!(in_sync(&running, None));
    }

    #[test]
    fn last_readiness_deleted_releases_its_hold() {
        let ours = deployment(true, true);
        let d = desired(&ours, None).unwrap();
        assert_eq!(d.pause, Some(false));
        assert!(d.annotations.is_empty());
        assert_eq!(
            desired(&deployment(true, false), None),
            None,
            "a person's pause is left alone"
        );
    }
}
