//! Enforcement on the target Deployment: `decide` (pure) says what gonogo wants of it, `apply`
//! writes that by server-side apply with field manager `gonogo`, owning only `spec.paused` and
//! `gonogo.dev/*` annotations.
//!
//! **Who holds what.** A new pod template is held at admission, before the Deployment
//! controller sees it: the shipped MutatingAdmissionPolicy (`hold-rollouts`) pauses the
//! Deployment and marks the pause as gonogo's (`gonogo.dev/paused-by-gonogo`) on creation, on
//! every change of `spec.template`, and when a person lifts their own pause. gonogo pauses a
//! running Deployment itself when its gates start failing (or when a DeploymentReadiness comes
//! after its Deployment). It releases only a pause carrying its mark, once every required
//! PreRollout gate of every Block-mode DeploymentReadiness passes; a pause without the mark is a
//! person's and stays theirs.
//!
//! **Break-glass.** A person who resumes gonogo's own pause by hand (`kubectl rollout resume`:
//! the mark is there, the pause is gone) overrides the gates for that pod template: gonogo
//! records the template's hash in `gonogo.dev/break-glass`, drops its mark, and never pauses that
//! template again. The next template is held as usual.
//!
//! **What the Deployment carries.** Annotations on a Deployment bump its generation and are
//! copied onto its current ReplicaSet, so gonogo writes them only while a required PreRollout gate
//! fails (`gonogo.dev/failing`; and `gonogo.dev/blocked`, `gonogo.dev/blocked-by` while gonogo
//! holds it) and removes them when the gates pass: a passing
//! Deployment carries nothing of gonogo's, and a rollout that passes costs no write but the
//! release. Counts and every gate's verdict live in the DeploymentReadiness status.
//!
//! Every write carries the `resourceVersion` the decision was made on, so a Deployment changed
//! meanwhile (a newer template, another replica's write) is never released or paused on a stale
//! judgement: the API server refuses the write, and the reconcile runs again on the new object.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::{DeploymentReadiness, Enforcement};
use crate::checks::approval::template_hash;
use crate::engine::Report;

pub const FIELD_MANAGER: &str = "gonogo";
pub const ANNOTATION_FAILING: &str = "gonogo.dev/failing";
pub const ANNOTATION_BLOCKED: &str = "gonogo.dev/blocked";
pub const ANNOTATION_BLOCKED_BY: &str = "gonogo.dev/blocked-by";
pub const ANNOTATION_PAUSED_BY_GONOGO: &str = "gonogo.dev/paused-by-gonogo";
pub const ANNOTATION_BREAK_GLASS: &str = "gonogo.dev/break-glass";
/// Written by earlier versions on every verdict; removed when seen.
const RETIRED_ANNOTATIONS: [&str; 2] = ["gonogo.dev/gates", "gonogo.dev/readiness"];

const OUR_ANNOTATIONS: [&str; 5] = [
    ANNOTATION_FAILING,
    ANNOTATION_BLOCKED,
    ANNOTATION_BLOCKED_BY,
    ANNOTATION_PAUSED_BY_GONOGO,
    ANNOTATION_BREAK_GLASS,
];

/// The combined verdict of every DeploymentReadiness targeting one Deployment. Sets, so the
/// order in which readiness objects are judged never changes what is written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentVerdict {
    /// Block-mode readiness objects that hold the rollout.
    pub blocked_by: BTreeSet<String>,
    /// `readiness/gate` of every required PreRollout gate that does not pass.
    pub failing: BTreeSet<String>,
}

impl DeploymentVerdict {
    pub fn add(&mut self, readiness: &DeploymentReadiness, report: &Report) {
        let name = readiness.metadata.name.clone().unwrap_or_default();
        self.failing.extend(
            report
                .gates
                .iter()
                .filter(|g| g.holds_rollout())
                .map(|g| format!("{name}/{}", g.name)),
        );
        if readiness.spec.enforcement == Enforcement::Block && report.holds_rollout() {
            self.blocked_by.insert(name);
        }
    }

    pub fn holds(&self) -> bool {
        !self.blocked_by.is_empty()
    }
}

/// What gonogo wants of the Deployment: exactly the `gonogo.dev/*` annotations it should carry
/// (none: gonogo owns nothing), and `spec.paused` when gonogo has a say in it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Desired {
    pub annotations: BTreeMap<String, String>,
    /// `Some(true)`: hold the rollout; `Some(false)`: release gonogo's own hold; `None`: leave
    /// `spec.paused` to whoever owns it.
    pub pause: Option<bool>,
    /// A person resumed gonogo's hold of this template by hand: worth an event.
    pub break_glass: bool,
}

/// Decide from the combined verdict (`None`: no readiness object targets it any more) and the
/// Deployment as it is now.
pub fn decide(deployment: &Deployment, verdict: Option<&DeploymentVerdict>) -> Desired {
    let paused = deployment
        .spec
        .as_ref()
        .and_then(|s| s.paused)
        .unwrap_or(false);
    let marked = annotation(deployment, ANNOTATION_PAUSED_BY_GONOGO) == Some("true");
    let template = deployment.spec.as_ref().map(|s| template_hash(&s.template));
    let empty = BTreeSet::new();
    let (holds, blocked_by, failing) = match verdict {
        Some(v) => (v.holds(), &v.blocked_by, &v.failing),
        None => (false, &empty, &empty),
    };
    // Resumed by hand now, or earlier for this very template.
    let resumed_by_hand = marked && !paused;
    let overridden = resumed_by_hand
        || (template.is_some()
            && annotation(deployment, ANNOTATION_BREAK_GLASS) == template.as_deref());

    let pause = match (holds, marked && paused) {
        // Keep holding, or release, what is ours.
        (true, true) => Some(true),
        (false, true) => Some(false),
        // Hold a running Deployment, unless a person overrode the gates for this template.
        (true, false) if !paused && !overridden => Some(true),
        // A person's pause, a released Deployment, a break-glass: not gonogo's to change.
        _ => None,
    };
    let mut annotations = BTreeMap::new();
    let mut put = |key: &str, value: String| annotations.insert(key.to_string(), value);
    if !failing.is_empty() {
        put(ANNOTATION_FAILING, join(failing));
    }
    if pause == Some(true) {
        put(ANNOTATION_BLOCKED, "true".to_string());
        put(ANNOTATION_BLOCKED_BY, join(blocked_by));
        put(ANNOTATION_PAUSED_BY_GONOGO, "true".to_string());
    }
    if holds
        && overridden
        && let Some(template) = template
    {
        put(ANNOTATION_BREAK_GLASS, template);
    }
    Desired {
        annotations,
        pause,
        break_glass: holds && resumed_by_hand,
    }
}

fn join(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the Deployment already looks as `desired` says (so nothing is written).
pub fn in_sync(deployment: &Deployment, desired: &Desired) -> bool {
    let current: BTreeMap<String, String> = OUR_ANNOTATIONS
        .iter()
        .chain(RETIRED_ANNOTATIONS.iter())
        .filter_map(|k| annotation(deployment, k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let paused = deployment
        .spec
        .as_ref()
        .and_then(|s| s.paused)
        .unwrap_or(false);
    current == desired.annotations && desired.pause.is_none_or(|p| p == paused)
}

/// Apply `desired` to the Deployment as `seen` (its `resourceVersion` is the precondition: a
/// changed Deployment is refused with a Conflict).
///
/// Server-side apply removes only the fields the applier owns, and the admission policy sets the
/// mark in the user's own request, so the mark (or any `gonogo.dev/*` annotation) to be removed
/// may belong to someone else: it is taken over first, by an apply that keeps its value, and
/// then left out. The extra write happens only when something is to be removed, and changes
/// nothing but ownership.
pub async fn apply(
    api: &Api<Deployment>,
    seen: &Deployment,
    desired: &Desired,
) -> Result<Deployment, kube::Error> {
    let name = seen.metadata.name.clone().unwrap_or_default();
    let leaving: BTreeMap<String, String> = OUR_ANNOTATIONS
        .iter()
        .chain(RETIRED_ANNOTATIONS.iter())
        .filter(|k| !desired.annotations.contains_key(**k))
        .filter_map(|k| annotation(seen, k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let mut resource_version = seen.metadata.resource_version.clone();
    if !leaving.is_empty() {
        let mut owned = desired.annotations.clone();
        owned.extend(leaving);
        let taken = api
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(applied_configuration(
                    &name,
                    &resource_version,
                    &owned,
                    // Nothing changes yet: a half-done release must not read as a break-glass.
                    desired.pause.map(|_| paused_now(seen)),
                )),
            )
            .await?;
        resource_version = taken.metadata.resource_version;
    }
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(applied_configuration(
            &name,
            &resource_version,
            &desired.annotations,
            desired.pause,
        )),
    )
    .await
}

fn paused_now(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

fn applied_configuration(
    name: &str,
    resource_version: &Option<String>,
    annotations: &BTreeMap<String, String>,
    pause: Option<bool>,
) -> serde_json::Value {
    let mut patch = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "resourceVersion": resource_version,
            "annotations": annotations,
        },
    });
    if let Some(paused) = pause {
        patch["spec"] = json!({ "paused": paused });
    }
    patch
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
            blocked_by: if blocking {
                ["api".to_string()].into()
            } else {
                BTreeSet::new()
            },
            failing: if blocking {
                ["api/secrets".to_string()].into()
            } else {
                BTreeSet::new()
            },
        }
    }

    /// The Deployment after `desired` was applied to it.
    fn applied(d: &Deployment, desired: &Desired) -> Deployment {
        let mut d = d.clone();
        let mut annotations = d.metadata.annotations.take().unwrap_or_default();
        annotations.retain(|k, _| !k.starts_with("gonogo.dev/"));
        annotations.extend(desired.annotations.clone());
        d.metadata.annotations = Some(annotations);
        if let (Some(spec), Some(p)) = (d.spec.as_mut(), desired.pause) {
            spec.paused = Some(p);
        }
        d
    }

    #[test]
    fn pauses_a_running_deployment_and_marks_it() {
        let d = decide(&deployment(false, false), Some(&verdict(true)));
        assert_eq!(d.pause, Some(true));
        assert_eq!(d.annotations[ANNOTATION_PAUSED_BY_GONOGO], "true");
        assert_eq!(d.annotations[ANNOTATION_BLOCKED_BY], "api");
        assert_eq!(d.annotations[ANNOTATION_FAILING], "api/secrets");
        assert!(!d.break_glass);
    }

    #[test]
    fn never_takes_over_a_person_s_pause() {
        let person_paused = deployment(true, false);
        let d = decide(&person_paused, Some(&verdict(true)));
        assert_eq!(
            d.pause, None,
            "a Deployment paused by a person stays theirs"
        );
        assert!(!d.annotations.contains_key(ANNOTATION_PAUSED_BY_GONOGO));
        assert!(!d.annotations.contains_key(ANNOTATION_BREAK_GLASS));
        let d = decide(&person_paused, Some(&verdict(false)));
        assert_eq!(d.pause, None);
        assert!(in_sync(&person_paused, &d));
        assert!(in_sync(&person_paused, &decide(&person_paused, None)));
    }

    #[test]
    fn releases_its_own_pause_when_gates_pass_and_leaves_nothing_behind() {
        let ours = deployment(true, true);
        let d = decide(&ours, Some(&verdict(false)));
        assert_eq!(d.pause, Some(false));
        assert!(d.annotations.is_empty(), "{:?}", d.annotations);
        assert!(!in_sync(&ours, &d));
        // Once released (running, no mark), gonogo has nothing to say: no write.
        let released = applied(&ours, &d);
        let again = decide(&released, Some(&verdict(false)));
        assert_eq!(again.pause, None);
        assert!(in_sync(&released, &again));
    }

    #[test]
    fn a_passing_deployment_is_never_written() {
        let running = deployment(false, false);
        assert!(in_sync(&running, &decide(&running, Some(&verdict(false)))));
        assert!(in_sync(&running, &decide(&running, None)));
    }

    #[test]
    fn old_annotations_are_removed_once() {
        let mut running = deployment(false, false);
        running.metadata.annotations = Some(
            [
                ("gonogo.dev/gates".to_string(), "3/3".to_string()),
                ("gonogo.dev/readiness".to_string(), "a,b".to_string()),
            ]
            .into(),
        );
        let d = decide(&running, Some(&verdict(false)));
        assert!(!in_sync(&running, &d));
        assert!(in_sync(&applied(&running, &d), &d));
    }

    #[test]
    fn last_readiness_deleted_releases_its_hold() {
        let ours = deployment(true, true);
        let d = decide(&ours, None);
        assert_eq!(d.pause, Some(false));
        assert!(d.annotations.is_empty());
        let person = deployment(true, false);
        assert_eq!(decide(&person, None), Desired::default());
    }

    #[test]
    fn a_person_resuming_gonogo_s_hold_overrides_that_template_only() {
        // `kubectl rollout resume` on gonogo's hold: mark there, pause gone.
        let resumed = deployment(false, true);
        let d = decide(&resumed, Some(&verdict(true)));
        assert_eq!(d.pause, None, "break-glass is never re-paused");
        assert!(d.break_glass);
        assert!(!d.annotations.contains_key(ANNOTATION_PAUSED_BY_GONOGO));
        let hash = d.annotations[ANNOTATION_BREAK_GLASS].clone();
        assert!(hash.starts_with("sha256:"));
        // Recorded: the same template stays unpaused, with no further write and no new event.
        let recorded = applied(&resumed, &d);
        let again = decide(&recorded, Some(&verdict(true)));
        assert_eq!(again.pause, None);
        assert!(!again.break_glass);
        assert!(in_sync(&recorded, &again));
        // A new template (image changed) is held again; the record goes.
        let mut changed = recorded.clone();
        changed.spec.as_mut().unwrap().template.metadata = Some(Default::default());
        changed
            .spec
            .as_mut()
            .unwrap()
            .template
            .metadata
            .as_mut()
            .unwrap()
            .labels = Some([("v".to_string(), "2".to_string())].into());
        let next = decide(&changed, Some(&verdict(true)));
        assert_eq!(next.pause, Some(true));
        assert!(!next.annotations.contains_key(ANNOTATION_BREAK_GLASS));
        // Gates passing: the record is not needed any more.
        let passing = decide(&recorded, Some(&verdict(false)));
        assert!(passing.annotations.is_empty());
        assert_eq!(passing.pause, None);
    }

    #[test]
    fn the_verdict_does_not_depend_on_the_order_readiness_objects_are_judged() {
        let report = |failing: bool| {
            let mut r = Report {
                target_found: true,
                ..Default::default()
            };
            if failing {
                r.gates.push(crate::engine::GateResult {
                    checklist: "inline".into(),
                    name: "secrets".into(),
                    kind: "secrets",
                    description: None,
                    severity: crate::api::Severity::Required,
                    phase: crate::api::Phase::PreRollout,
                    result: crate::api::GateOutcome::Fail,
                    message: "Secret db missing".into(),
                    findings: Vec::new(),
                });
            }
            r
        };
        let readiness = |name: &str| -> DeploymentReadiness {
            serde_yaml_ng::from_str(&format!(
                "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec: {{targetRef: {{name: api}}, items: [{{name: secrets, secrets: {{}}}}]}}\n"
            ))
            .unwrap()
        };
        let (a, b, c) = (readiness("a"), readiness("b"), readiness("c"));
        let mut one = DeploymentVerdict::default();
        one.add(&a, &report(true));
        one.add(&b, &report(false));
        one.add(&c, &report(true));
        let mut other = DeploymentVerdict::default();
        other.add(&c, &report(true));
        other.add(&a, &report(true));
        other.add(&b, &report(false));
        assert_eq!(one, other);
        let d = decide(&deployment(false, false), Some(&one));
        assert_eq!(d.annotations[ANNOTATION_BLOCKED_BY], "a,c");
        assert_eq!(d.annotations[ANNOTATION_FAILING], "a/secrets,c/secrets");
    }
}
