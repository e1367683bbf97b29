use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::{Finding, Outcome, Snapshot, pod};

/// Parameters of the `pvcsBound` check: every claim the template mounts (and `claims`) exists
/// and is Bound. A Pending claim whose StorageClass binds WaitForFirstConsumer passes PreRollout:
/// it binds only once a pod is scheduled, so blocking on it would deadlock. With `requireAny`, a
/// template that mounts no claim (and a checklist that names none) fails.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PvcsBound {
    /// Further claim names to require.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
    /// Fail when there is no claim to judge: the template mounts no PersistentVolumeClaim
    /// (`ephemeral` volumes do not count) and `claims` is empty. Default false: mounting
    /// nothing passes.
    #[serde(default)]
    pub require_any: bool,
}

/// What one claim's state means for the gate.
enum Verdict {
    Bound,
    /// Not Bound, but fine (WaitForFirstConsumer); the note says why.
    Waiting(String),
    Fail(String),
    Unknown(String),
}

impl Check for PvcsBound {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        // Claim name → where it is used, in order of first use.
        let mut claims: Vec<(&str, Vec<String>)> = Vec::new();
        // `ephemeral` volumes get a claim per pod, created with the pod: nothing to find before.
        let mut ephemeral = Vec::new();
        for volume in cx.pod.volumes.iter().flatten() {
            if let Some(pvc) = &volume.persistent_volume_claim {
                add(
                    &mut claims,
                    &pvc.claim_name,
                    format!("volume {}", volume.name),
                );
            } else if volume.ephemeral.is_some() {
                ephemeral.push(volume.name.as_str());
            }
        }
        for name in &self.claims {
            add(&mut claims, name, "required by the checklist".into());
        }
        // A StatefulSet's claims from its volumeClaimTemplates: the StatefulSet controller
        // creates each with its pod, so a missing one is waited for, not a failure.
        let from_templates = pod::claims_of_templates(cx.workload);
        let ephemeral_note = (!ephemeral.is_empty()).then(|| {
            format!(
                "ephemeral volume(s) {} get a claim per pod, not checked",
                ephemeral.join(", ")
            )
        });
        if claims.is_empty() && from_templates.is_empty() && self.require_any {
            let ephemeral = ephemeral_note
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            return Outcome::fail(format!(
                "requireAny: the pod template mounts no PersistentVolumeClaim{ephemeral} and the checklist names none"
            ));
        }
        if claims.is_empty() && from_templates.is_empty() {
            let mut message = "the pod template mounts no PersistentVolumeClaims".to_string();
            if let Some(note) = ephemeral_note {
                message = format!("{message}; {note}");
            }
            return Outcome::Pass(message);
        }

        let mut findings = Vec::new();
        let mut unknown = Vec::new();
        let mut bound = Vec::new();
        let mut notes = Vec::new();
        for (name, usages) in &claims {
            let used = usages.join(", ");
            match claim_verdict(cx.snapshot, name, &used) {
                Verdict::Bound => bound.push(*name),
                Verdict::Waiting(note) => notes.push(note),
                Verdict::Fail(message) => findings.push(Finding::new(message)),
                Verdict::Unknown(message) => unknown.push(message),
            }
        }
        let mut pending_pods = Vec::new();
        for name in &from_templates {
            let used = format!("volumeClaimTemplates of {}", cx.workload);
            if cx.snapshot.is_offline() {
                continue;
            }
            if cx.snapshot.pvc(name).is_none() {
                pending_pods.push(name.as_str());
                continue;
            }
            match claim_verdict(cx.snapshot, name, &used) {
                Verdict::Bound => bound.push(name.as_str()),
                Verdict::Waiting(note) => notes.push(note),
                Verdict::Fail(message) => findings.push(Finding::new(message)),
                Verdict::Unknown(message) => unknown.push(message),
            }
        }
        if cx.snapshot.is_offline() && !from_templates.is_empty() {
            notes.push(format!(
                "{} claim(s) from the volumeClaimTemplates of {} are created with its pods, not checked offline",
                from_templates.len(),
                cx.workload
            ));
        }
        if !pending_pods.is_empty() {
            notes.push(format!(
                "PVC {} not created yet (the StatefulSet controller creates each with its pod)",
                pending_pods.join(", ")
            ));
        }
        let mut pass = Vec::new();
        if !bound.is_empty() {
            pass.push(format!("PVC {} Bound", bound.join(", ")));
        }
        pass.extend(notes);
        pass.extend(ephemeral_note);
        Outcome::from_findings(findings, unknown, pass.join("; "))
    }
}

/// Record that `name` is used by `usage`, keeping the order of first use.
fn add<'a>(claims: &mut Vec<(&'a str, Vec<String>)>, name: &'a str, usage: String) {
    if name.is_empty() {
        return; // the API server rejects empty claim names
    }
    match claims.iter_mut().find(|(n, _)| *n == name) {
        Some((_, usages)) => usages.push(usage),
        None => claims.push((name, vec![usage])),
    }
}

fn claim_verdict(snapshot: &Snapshot, name: &str, used: &str) -> Verdict {
    let Some(pvc) = snapshot.pvc(name) else {
        if !snapshot.is_offline() {
            return Verdict::Fail(format!("PVC {name}: not found ({used})"));
        }
        if snapshot.is_assumed_present("PersistentVolumeClaim", name) {
            return Verdict::Unknown(format!(
                "PVC {name}: assumed present (--assume-present), its phase is not observable offline"
            ));
        }
        return Verdict::Unknown(format!(
            "PVC {name}: not in the manifests ({used}); if it is created elsewhere, declare it with --assume-present pvc/{name}"
        ));
    };
    if snapshot.is_offline() {
        return Verdict::Unknown(format!(
            "PVC {name}: in the manifests, but its phase is not observable offline"
        ));
    }
    judge_phase(snapshot, name, pvc)
}

/// A live claim's phase. A claim the PV controller has not processed yet has no phase; it is
/// Pending in all but name.
fn judge_phase(snapshot: &Snapshot, name: &str, pvc: &PersistentVolumeClaim) -> Verdict {
    // Pods that use a claim being deleted are refused by the scheduler.
    if pvc.metadata.deletion_timestamp.is_some() {
        return Verdict::Fail(format!("PVC {name}: being deleted"));
    }
    let phase = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending");
    match phase {
        "Bound" => Verdict::Bound,
        "Lost" => Verdict::Fail(format!(
            "PVC {name}: Lost (its PersistentVolume no longer exists)"
        )),
        "Pending" => {
            let class_name = pvc
                .spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref());
            let class = match class_name {
                Some("") => {
                    return Verdict::Fail(format!(
                        "PVC {name}: Pending (storageClassName \"\" binds only a pre-created PersistentVolume, and none matches)"
                    ));
                }
                Some(class) => match snapshot.storage_class(class) {
                    Some(sc) => sc,
                    None => {
                        return Verdict::Fail(format!(
                            "PVC {name}: Pending (StorageClass {class} not found)"
                        ));
                    }
                },
                // Unset: the default class is assigned (retroactively since Kubernetes 1.28).
                None => match snapshot.default_storage_class() {
                    Some(sc) => sc,
                    None => {
                        return Verdict::Fail(format!(
                            "PVC {name}: Pending (no storageClassName and no default StorageClass)"
                        ));
                    }
                },
            };
            let mode = class.volume_binding_mode.as_deref().unwrap_or("Immediate");
            let class = class.metadata.name.as_deref().unwrap_or_default();
            if mode == "WaitForFirstConsumer" {
                // A WaitForFirstConsumer claim binds only when a pod using it is scheduled, so a
                // PreRollout gate that waited for Bound would deadlock the rollout. The Context
                // does not carry the gate's phase and needs not: a PostRollout gate judged after
                // the pods were scheduled sees the claim Bound, and pods that cannot be
                // scheduled fail the rollout and readyReplicas gates.
                Verdict::Waiting(format!(
                    "PVC {name}: Pending, binds when the first pod is scheduled (StorageClass {class} is WaitForFirstConsumer)"
                ))
            } else {
                Verdict::Fail(format!(
                    "PVC {name}: Pending (StorageClass {class} binds {mode})"
                ))
            }
        }
        other => Verdict::Unknown(format!("PVC {name}: phase {other:?} not understood")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{evaluate, fail_messages, snapshot};
    use crate::engine::Source;

    const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: x}]
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: data}}
        - name: scratch
          ephemeral: {volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}}
"#;

    fn pvc(spec: &str, phase: Option<&str>) -> String {
        let status = phase
            .map(|p| format!("status: {{phase: {p}}}\n"))
            .unwrap_or_default();
        format!(
            "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data}}\nspec: {spec}\n{status}"
        )
    }

    fn class(name: &str, mode: Option<&str>, default: bool) -> String {
        let mode = mode
            .map(|m| format!("volumeBindingMode: {m}\n"))
            .unwrap_or_default();
        let annotations = if default {
            "\n  annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}"
        } else {
            ""
        };
        format!(
            "---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {name}{annotations}\nprovisioner: x\n{mode}"
        )
    }

    fn run(yaml: &str) -> Outcome {
        evaluate(&PvcsBound::default(), &snapshot(yaml, Source::Cluster, &[]))
    }

    #[test]
    fn unset_class_uses_the_default_class() {
        let yaml = format!(
            "{DEPLOYMENT}{}{}{}",
            pvc("{}", Some("Pending")),
            class("local", Some("WaitForFirstConsumer"), true),
            class("fast", None, false)
        );
        assert!(
            matches!(run(&yaml), Outcome::Pass(m) if m.contains("StorageClass local is WaitForFirstConsumer") && m.contains("ephemeral volume(s) scratch"))
        );
        let yaml = format!(
            "{DEPLOYMENT}{}{}",
            pvc("{}", Some("Pending")),
            class("fast", None, false)
        );
        assert_eq!(
            fail_messages(&run(&yaml)),
            ["PVC data: Pending (no storageClassName and no default StorageClass)"]
        );
    }

    #[test]
    fn immediate_default_mode_and_missing_class_fail() {
        let yaml = format!(
            "{DEPLOYMENT}{}{}",
            pvc("{storageClassName: fast}", Some("Pending")),
            class("fast", None, false)
        );
        assert_eq!(
            fail_messages(&run(&yaml)),
            ["PVC data: Pending (StorageClass fast binds Immediate)"]
        );
        let yaml = format!("{DEPLOYMENT}{}", pvc("{storageClassName: gone}", None));
        assert_eq!(
            fail_messages(&run(&yaml)),
            ["PVC data: Pending (StorageClass gone not found)"]
        );
        let yaml = format!(
            "{DEPLOYMENT}{}",
            pvc("{storageClassName: \"\"}", Some("Pending"))
        );
        assert!(
            fail_messages(&run(&yaml))[0]
                .contains("storageClassName \"\" binds only a pre-created PersistentVolume")
        );
    }

    #[test]
    fn lost_and_deleting_fail() {
        let yaml = format!("{DEPLOYMENT}{}", pvc("{}", Some("Lost")));
        assert_eq!(
            fail_messages(&run(&yaml)),
            ["PVC data: Lost (its PersistentVolume no longer exists)"]
        );
        let yaml = format!("{DEPLOYMENT}{}", pvc("{}", Some("Bound")))
            .replace("metadata: {name: data}", "metadata: {name: data, deletionTimestamp: \"2026-05-31T00:00:00Z\", finalizers: [kubernetes.io/pvc-protection]}");
        assert_eq!(fail_messages(&run(&yaml)), ["PVC data: being deleted"]);
    }

    #[test]
    fn explicit_claims_and_duplicates() {
        let check = PvcsBound {
            claims: vec!["data".into(), "archive".into()],
            require_any: true,
        };
        let yaml = format!("{DEPLOYMENT}{}", pvc("{}", Some("Bound")));
        assert_eq!(
            fail_messages(&evaluate(&check, &snapshot(&yaml, Source::Cluster, &[]))),
            ["PVC archive: not found (required by the checklist)"]
        );
    }

    #[test]
    fn require_any_fails_a_template_without_claims_offline_too() {
        let check = PvcsBound {
            claims: vec![],
            require_any: true,
        };
        let yaml = DEPLOYMENT.replace(
            "        - {name: data, persistentVolumeClaim: {claimName: data}}\n",
            "",
        );
        for source in [Source::Cluster, Source::Manifests] {
            assert_eq!(
                fail_messages(&evaluate(&check, &snapshot(&yaml, source, &[]))),
                [
                    "requireAny: the pod template mounts no PersistentVolumeClaim (ephemeral volume(s) scratch get a claim per pod, not checked) and the checklist names none"
                ]
            );
        }
    }

    #[test]
    fn offline_is_never_a_pass() {
        let yaml = format!("{DEPLOYMENT}{}", pvc("{}", Some("Bound")));
        let s = snapshot(&yaml, Source::Manifests, &[]);
        assert_eq!(
            evaluate(&PvcsBound::default(), &s),
            Outcome::Unknown(
                "PVC data: in the manifests, but its phase is not observable offline".into()
            )
        );
        let s = snapshot(DEPLOYMENT, Source::Manifests, &[]);
        assert!(
            matches!(evaluate(&PvcsBound::default(), &s), Outcome::Unknown(m) if m.contains("--assume-present pvc/data"))
        );
        let s = snapshot(
            DEPLOYMENT,
            Source::Manifests,
            &[("PersistentVolumeClaim", "data")],
        );
        assert!(
            matches!(evaluate(&PvcsBound::default(), &s), Outcome::Unknown(m) if m.contains("assumed present"))
        );
    }
}
