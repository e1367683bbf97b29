//! Enforcement on the target workload: `decide` (pure) says what gonogo wants of it, `apply`
//! writes that by server-side apply with field manager `gonogo`, owning only the kind's hold
//! field and `gonogo.dev/*` annotations. Each kind is held by its own field (see [`HoldState`]);
//! what follows says "pause" for a Deployment's, and holds for every kind alike.
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
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::{DeploymentReadiness, Enforcement};
use crate::checks::approval::template_hash;
use crate::engine::{Report, Workload, WorkloadKind};

pub const FIELD_MANAGER: &str = "gonogo";
pub const ANNOTATION_FAILING: &str = "gonogo.dev/failing";
pub const ANNOTATION_BLOCKED: &str = "gonogo.dev/blocked";
pub const ANNOTATION_BLOCKED_BY: &str = "gonogo.dev/blocked-by";
/// gonogo's mark on a hold it set, on every kind (the name is from when only Deployments, and
/// so only pauses, were held).
pub const ANNOTATION_PAUSED_BY_GONOGO: &str = "gonogo.dev/paused-by-gonogo";
pub const ANNOTATION_BREAK_GLASS: &str = "gonogo.dev/break-glass";
/// A held StatefulSet's own partition, restored on release.
pub const ANNOTATION_PARTITION_BEFORE_HOLD: &str = "gonogo.dev/partition-before-hold";
/// The partition that holds a StatefulSet: above every ordinal, so no pod (existing, or added
/// by a scale-up while held, whatever `spec.ordinals.start`) is created on the new revision.
pub const HOLD_PARTITION: i32 = i32::MAX;
/// Written by earlier versions on every verdict; removed when seen.
const RETIRED_ANNOTATIONS: [&str; 2] = ["gonogo.dev/gates", "gonogo.dev/readiness"];

const OUR_ANNOTATIONS: [&str; 6] = [
    ANNOTATION_FAILING,
    ANNOTATION_BLOCKED,
    ANNOTATION_BLOCKED_BY,
    ANNOTATION_PAUSED_BY_GONOGO,
    ANNOTATION_BREAK_GLASS,
    ANNOTATION_PARTITION_BEFORE_HOLD,
];

/// The combined verdict of every DeploymentReadiness targeting one workload. Sets, so the
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

/// What gonogo wants of the workload: exactly the `gonogo.dev/*` annotations it should carry
/// (none: gonogo owns nothing), and its hold when gonogo has a say in it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Desired {
    pub annotations: BTreeMap<String, String>,
    /// `Some(true)`: hold the rollout; `Some(false)`: release gonogo's own hold; `None`: leave
    /// the hold field to whoever owns it.
    pub hold: Option<bool>,
    /// A person resumed gonogo's hold of this template by hand: worth an event.
    pub break_glass: bool,
}

/// The hold as the workload carries it, in the terms of its kind's mechanism:
/// - Deployment: `spec.paused: true`;
/// - StatefulSet with `RollingUpdate`: `spec.updateStrategy.rollingUpdate.partition` at
///   [`HOLD_PARTITION`]; its own partition is kept in [`ANNOTATION_PARTITION_BEFORE_HOLD`] and
///   restored on release (never lowered);
/// - DaemonSet: `spec.updateStrategy.type: OnDelete`, released to `RollingUpdate` (its
///   `rollingUpdate` parameters are never touched).
#[derive(Clone, Debug, PartialEq)]
pub struct HoldState {
    /// The hold field has its hold value (whoever set it).
    pub engaged: bool,
    /// gonogo may hold it at all: not a StatefulSet with `updateStrategy.type: OnDelete`
    /// (nothing rolls, so nothing to hold: reported, never changed).
    pub holdable: bool,
    /// gonogo's mark: the hold is gonogo's.
    pub marked: bool,
    /// A StatefulSet's partition to restore on release: the recorded one while gonogo holds
    /// it, else its current one.
    pub restore_partition: Option<i32>,
}

impl HoldState {
    pub fn of(workload: &Workload) -> HoldState {
        let meta = workload.metadata();
        let marked = annotation(meta, ANNOTATION_PAUSED_BY_GONOGO) == Some("true");
        let (engaged, holdable, restore_partition) = match workload {
            Workload::Deployment(d) => (
                d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false),
                true,
                None,
            ),
            Workload::StatefulSet(_) => {
                let rolling = workload.update_strategy_type() != Some("OnDelete");
                let partition = workload.partition().unwrap_or(0);
                let engaged = rolling && partition == HOLD_PARTITION;
                let recorded =
                    annotation(meta, ANNOTATION_PARTITION_BEFORE_HOLD).and_then(|p| p.parse().ok());
                let restore = if engaged && marked {
                    recorded.unwrap_or(0)
                } else {
                    partition
                };
                (engaged, rolling, Some(restore))
            }
            Workload::DaemonSet(_) => (
                workload.update_strategy_type() == Some("OnDelete"),
                true,
                None,
            ),
        };
        HoldState {
            engaged,
            holdable,
            marked,
            restore_partition,
        }
    }
}

/// Decide from the combined verdict (`None`: no readiness object targets it any more) and the
/// workload as it is now.
pub fn decide(workload: &Workload, verdict: Option<&DeploymentVerdict>) -> Desired {
    let state = HoldState::of(workload);
    let meta = workload.metadata();
    let empty = BTreeSet::new();
    let (holds, blocked_by, failing) = match verdict {
        Some(v) => (v.holds(), &v.blocked_by, &v.failing),
        None => (false, &empty, &empty),
    };
    // The template's hash only here: the hold state is read on every reconcile.
    let template = workload.template().map(template_hash);
    // Resumed by hand now, or earlier for this very template.
    let resumed_by_hand = state.marked && !state.engaged;
    let overridden = resumed_by_hand
        || (template.is_some() && annotation(meta, ANNOTATION_BREAK_GLASS) == template.as_deref());

    let hold = match (holds, state.marked && state.engaged) {
        // Keep holding, or release, what is ours.
        (true, true) => Some(true),
        (false, true) => Some(false),
        // Hold a running workload, unless a person overrode the gates for this template.
        (true, false) if !state.engaged && !overridden && state.holdable => Some(true),
        // A person's hold, a released workload, a break-glass, nothing to hold: not gonogo's
        // to change.
        _ => None,
    };
    let mut annotations = BTreeMap::new();
    let mut put = |key: &str, value: String| annotations.insert(key.to_string(), value);
    if !failing.is_empty() {
        put(ANNOTATION_FAILING, join(failing));
    }
    if hold == Some(true) {
        put(ANNOTATION_BLOCKED, "true".to_string());
        put(ANNOTATION_BLOCKED_BY, join(blocked_by));
        put(ANNOTATION_PAUSED_BY_GONOGO, "true".to_string());
        if let Some(partition) = state.restore_partition {
            put(ANNOTATION_PARTITION_BEFORE_HOLD, partition.to_string());
        }
    }
    if holds
        && overridden
        && let Some(template) = template
    {
        put(ANNOTATION_BREAK_GLASS, template);
    }
    Desired {
        annotations,
        hold,
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

fn our_annotations(workload: &Workload) -> BTreeMap<String, String> {
    let meta = workload.metadata();
    OUR_ANNOTATIONS
        .iter()
        .chain(RETIRED_ANNOTATIONS.iter())
        .filter_map(|k| annotation(meta, k).map(|v| (k.to_string(), v.to_string())))
        .collect()
}

/// Whether the workload already looks as `desired` says (so nothing is written).
pub fn in_sync(workload: &Workload, desired: &Desired) -> bool {
    our_annotations(workload) == desired.annotations
        && desired
            .hold
            .is_none_or(|hold| hold == HoldState::of(workload).engaged)
}

/// The `spec` of an apply that sets the workload's hold field: held, released (to what it was
/// before gonogo held it), or as it is now (`None`: to keep owning it unchanged).
fn hold_fields(workload: &Workload, hold: Option<bool>) -> serde_json::Value {
    let state = HoldState::of(workload);
    let hold = hold.unwrap_or(state.engaged);
    match workload {
        Workload::Deployment(_) => json!({ "paused": hold }),
        Workload::StatefulSet(_) => {
            let partition = if hold {
                HOLD_PARTITION
            } else {
                state.restore_partition.unwrap_or(0)
            };
            json!({ "updateStrategy": { "rollingUpdate": { "partition": partition } } })
        }
        Workload::DaemonSet(_) => json!({
            "updateStrategy": { "type": if hold { "OnDelete" } else { "RollingUpdate" } }
        }),
    }
}

/// Apply `desired` to the workload as `seen` (its `resourceVersion` is the precondition: a
/// changed workload is refused with a Conflict).
///
/// Server-side apply removes only the fields the applier owns, and the admission policy sets the
/// mark in the user's own request, so the mark (or any `gonogo.dev/*` annotation) to be removed
/// may belong to someone else: it is taken over first, by an apply that keeps its value, and
/// then left out. The extra write happens only when something is to be removed, and changes
/// nothing but ownership.
pub async fn apply(
    client: &Client,
    seen: &Workload,
    desired: &Desired,
) -> Result<Workload, kube::Error> {
    let leaving: BTreeMap<String, String> = our_annotations(seen)
        .into_iter()
        .filter(|(k, _)| !desired.annotations.contains_key(k))
        .collect();
    let mut resource_version = seen.metadata().resource_version.clone();
    if !leaving.is_empty() {
        let mut owned = desired.annotations.clone();
        owned.extend(leaving);
        // Nothing changes yet: a half-done release must not read as a break-glass.
        let spec = desired.hold.map(|_| hold_fields(seen, None));
        let taken = patch(client, seen, &resource_version, &owned, spec).await?;
        resource_version = taken.metadata().resource_version.clone();
    }
    let spec = desired.hold.map(|hold| hold_fields(seen, Some(hold)));
    patch(client, seen, &resource_version, &desired.annotations, spec).await
}

/// One server-side apply of gonogo's annotations (and hold field) to the workload.
async fn patch(
    client: &Client,
    workload: &Workload,
    resource_version: &Option<String>,
    annotations: &BTreeMap<String, String>,
    spec: Option<serde_json::Value>,
) -> Result<Workload, kube::Error> {
    let name = workload.name();
    let namespace = workload.metadata().namespace.as_deref().unwrap_or_default();
    let mut body = json!({
        "apiVersion": "apps/v1",
        "kind": workload.kind().as_str(),
        "metadata": {
            "name": name,
            "resourceVersion": resource_version,
            "annotations": annotations,
        },
    });
    if let Some(spec) = spec {
        body["spec"] = spec;
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let body = Patch::Apply(body);
    Ok(match workload.kind() {
        WorkloadKind::Deployment => Workload::Deployment(Arc::new(
            Api::<Deployment>::namespaced(client.clone(), namespace)
                .patch(name, &params, &body)
                .await?,
        )),
        WorkloadKind::StatefulSet => Workload::StatefulSet(Arc::new(
            Api::<StatefulSet>::namespaced(client.clone(), namespace)
                .patch(name, &params, &body)
                .await?,
        )),
        WorkloadKind::DaemonSet => Workload::DaemonSet(Arc::new(
            Api::<DaemonSet>::namespaced(client.clone(), namespace)
                .patch(name, &params, &body)
                .await?,
        )),
    })
}

fn annotation<'a>(meta: &'a kube::core::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(paused: bool, ours: bool) -> Workload {
        Workload::from(Arc::new(plain_deployment(paused, ours)))
    }

    fn plain_deployment(paused: bool, ours: bool) -> Deployment {
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
    fn applied(w: &Workload, desired: &Desired) -> Workload {
        let Workload::Deployment(d) = w else {
            unreachable!()
        };
        let mut d = Deployment::clone(d);
        let mut annotations = d.metadata.annotations.take().unwrap_or_default();
        annotations.retain(|k, _| !k.starts_with("gonogo.dev/"));
        annotations.extend(desired.annotations.clone());
        d.metadata.annotations = Some(annotations);
        if let (Some(spec), Some(p)) = (d.spec.as_mut(), desired.hold) {
            spec.paused = Some(p);
        }
        Workload::from(Arc::new(d))
    }

    #[test]
    fn pauses_a_running_deployment_and_marks_it() {
        let d = decide(&deployment(false, false), Some(&verdict(true)));
        assert_eq!(d.hold, Some(true));
        assert_eq!(d.annotations[ANNOTATION_PAUSED_BY_GONOGO], "true");
        assert_eq!(d.annotations[ANNOTATION_BLOCKED_BY], "api");
        assert_eq!(d.annotations[ANNOTATION_FAILING], "api/secrets");
        assert!(!d.break_glass);
    }

    #[test]
    fn never_takes_over_a_person_s_pause() {
        let person_paused = deployment(true, false);
        let d = decide(&person_paused, Some(&verdict(true)));
        assert_eq!(d.hold, None, "a Deployment paused by a person stays theirs");
        assert!(!d.annotations.contains_key(ANNOTATION_PAUSED_BY_GONOGO));
        assert!(!d.annotations.contains_key(ANNOTATION_BREAK_GLASS));
        let d = decide(&person_paused, Some(&verdict(false)));
        assert_eq!(d.hold, None);
        assert!(in_sync(&person_paused, &d));
        assert!(in_sync(&person_paused, &decide(&person_paused, None)));
    }

    #[test]
    fn releases_its_own_pause_when_gates_pass_and_leaves_nothing_behind() {
        let ours = deployment(true, true);
        let d = decide(&ours, Some(&verdict(false)));
        assert_eq!(d.hold, Some(false));
        assert!(d.annotations.is_empty(), "{:?}", d.annotations);
        assert!(!in_sync(&ours, &d));
        // Once released (running, no mark), gonogo has nothing to say: no write.
        let released = applied(&ours, &d);
        let again = decide(&released, Some(&verdict(false)));
        assert_eq!(again.hold, None);
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
        let mut running = plain_deployment(false, false);
        running.metadata.annotations = Some(
            [
                ("gonogo.dev/gates".to_string(), "3/3".to_string()),
                ("gonogo.dev/readiness".to_string(), "a,b".to_string()),
            ]
            .into(),
        );
        let running = Workload::from(Arc::new(running));
        let d = decide(&running, Some(&verdict(false)));
        assert!(!in_sync(&running, &d));
        assert!(in_sync(&applied(&running, &d), &d));
    }

    #[test]
    fn last_readiness_deleted_releases_its_hold() {
        let ours = deployment(true, true);
        let d = decide(&ours, None);
        assert_eq!(d.hold, Some(false));
        assert!(d.annotations.is_empty());
        let person = deployment(true, false);
        assert_eq!(decide(&person, None), Desired::default());
    }

    #[test]
    fn a_person_resuming_gonogo_s_hold_overrides_that_template_only() {
        // `kubectl rollout resume` on gonogo's hold: mark there, pause gone.
        let resumed = deployment(false, true);
        let d = decide(&resumed, Some(&verdict(true)));
        assert_eq!(d.hold, None, "break-glass is never re-paused");
        assert!(d.break_glass);
        assert!(!d.annotations.contains_key(ANNOTATION_PAUSED_BY_GONOGO));
        let hash = d.annotations[ANNOTATION_BREAK_GLASS].clone();
        assert!(hash.starts_with("sha256:"));
        // Recorded: the same template stays unpaused, with no further write and no new event.
        let recorded = applied(&resumed, &d);
        let again = decide(&recorded, Some(&verdict(true)));
        assert_eq!(again.hold, None);
        assert!(!again.break_glass);
        assert!(in_sync(&recorded, &again));
        // A new template (image changed) is held again; the record goes.
        let Workload::Deployment(recorded_deployment) = &recorded else {
            unreachable!()
        };
        let mut changed = Deployment::clone(recorded_deployment);
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
        let next = decide(&Workload::from(Arc::new(changed)), Some(&verdict(true)));
        assert_eq!(next.hold, Some(true));
        assert!(!next.annotations.contains_key(ANNOTATION_BREAK_GLASS));
        // Gates passing: the record is not needed any more.
        let passing = decide(&recorded, Some(&verdict(false)));
        assert!(passing.annotations.is_empty());
        assert_eq!(passing.hold, None);
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

    fn stateful_set(strategy: serde_json::Value, annotations: serde_json::Value) -> Workload {
        Workload::from(
            serde_json::from_value::<StatefulSet>(json!({
                "metadata": {"name": "db", "namespace": "shop", "annotations": annotations},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "db"}},
                    "serviceName": "db",
                    "template": {"metadata": {"labels": {"app": "db"}}},
                    "updateStrategy": strategy,
                },
            }))
            .unwrap(),
        )
    }

    fn daemon_set(strategy_type: &str, annotations: serde_json::Value) -> Workload {
        Workload::from(
            serde_json::from_value::<DaemonSet>(json!({
                "metadata": {"name": "agent", "namespace": "shop", "annotations": annotations},
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "template": {"metadata": {"labels": {"app": "agent"}}},
                    "updateStrategy": {"type": strategy_type, "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                },
            }))
            .unwrap(),
        )
    }

    #[test]
    fn a_statefulset_is_held_by_its_partition_and_released_to_its_own() {
        // A person's staged rollout: partition 2 of 3.
        let running = stateful_set(
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
            json!({}),
        );
        let hold = decide(&running, Some(&verdict(true)));
        assert_eq!(hold.hold, Some(true));
        assert_eq!(hold.annotations[ANNOTATION_PARTITION_BEFORE_HOLD], "2");
        assert_eq!(
            hold_fields(&running, Some(true)),
            json!({"updateStrategy": {"rollingUpdate": {"partition": HOLD_PARTITION}}})
        );
        // Held: partition at the hold value, marked, its own partition recorded.
        let held = stateful_set(
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": HOLD_PARTITION}}),
            json!({ANNOTATION_PAUSED_BY_GONOGO: "true", ANNOTATION_PARTITION_BEFORE_HOLD: "2",
                   ANNOTATION_BLOCKED: "true", ANNOTATION_BLOCKED_BY: "api",
                   ANNOTATION_FAILING: "api/secrets"}),
        );
        assert!(in_sync(&held, &decide(&held, Some(&verdict(true)))));
        // Released: back to the person's partition, never lower; nothing of gonogo's left.
        let release = decide(&held, Some(&verdict(false)));
        assert_eq!(release.hold, Some(false));
        assert!(release.annotations.is_empty());
        assert_eq!(
            hold_fields(&held, Some(false)),
            json!({"updateStrategy": {"rollingUpdate": {"partition": 2}}})
        );
        // A person lowering gonogo's partition by hand is a break-glass.
        let lowered = stateful_set(
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            json!({ANNOTATION_PAUSED_BY_GONOGO: "true", ANNOTATION_PARTITION_BEFORE_HOLD: "2"}),
        );
        let glass = decide(&lowered, Some(&verdict(true)));
        assert_eq!(glass.hold, None);
        assert!(glass.break_glass);
    }

    #[test]
    fn a_statefulset_updated_on_delete_has_nothing_to_hold() {
        let on_delete = stateful_set(json!({"type": "OnDelete"}), json!({}));
        let d = decide(&on_delete, Some(&verdict(true)));
        assert_eq!(d.hold, None);
        assert!(!HoldState::of(&on_delete).holdable);
        assert!(!d.annotations.contains_key(ANNOTATION_PAUSED_BY_GONOGO));
    }

    #[test]
    fn a_daemonset_is_held_on_delete_and_released_to_rolling_update() {
        let running = daemon_set("RollingUpdate", json!({}));
        let hold = decide(&running, Some(&verdict(true)));
        assert_eq!(hold.hold, Some(true));
        assert!(
            !hold
                .annotations
                .contains_key(ANNOTATION_PARTITION_BEFORE_HOLD)
        );
        assert_eq!(
            hold_fields(&running, Some(true)),
            json!({"updateStrategy": {"type": "OnDelete"}})
        );
        let held = daemon_set(
            "OnDelete",
            json!({ANNOTATION_PAUSED_BY_GONOGO: "true", ANNOTATION_BLOCKED: "true",
                   ANNOTATION_BLOCKED_BY: "api", ANNOTATION_FAILING: "api/secrets"}),
        );
        assert!(in_sync(&held, &decide(&held, Some(&verdict(true)))));
        assert_eq!(decide(&held, None).hold, Some(false));
        assert_eq!(
            hold_fields(&held, Some(false)),
            json!({"updateStrategy": {"type": "RollingUpdate"}})
        );
        // A person's own OnDelete (no mark) stays theirs.
        let theirs = daemon_set("OnDelete", json!({}));
        assert_eq!(
            decide(&theirs, Some(&verdict(true))),
            Desired {
                annotations: [(ANNOTATION_FAILING.to_string(), "api/secrets".to_string())].into(),
                ..Default::default()
            }
        );
    }
}
