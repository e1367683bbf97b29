use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Check, Context};
use crate::api::ReadinessApproval;
use crate::engine::{Finding, Outcome, pod};

/// Parameters of the `approval` check: a sign-off recorded as a ReadinessApproval for the
/// current revision (container images, or the whole pod template), not expired.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// Who may approve; empty means anyone allowed to create ReadinessApprovals here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// What an approval is bound to: `Images` (default: every container's image) or `Template`
    /// (the whole pod template: images, env, resources, probes, labels, annotations…).
    #[serde(default = "default_bind")]
    #[x_kube(validation = kube::core::Rule::new("self in [\"Images\", \"Template\"]").message("bindTo is Images or Template"))]
    #[schemars(length(max = 16))]
    pub bind_to: String,
}

fn default_bind() -> String {
    "Images".into()
}

/// The revision an approval binds to: `container=image` of every container and init container
/// of the template, sorted. `gonogo approve` records exactly this list.
pub fn current_images(pod: &PodSpec) -> Vec<String> {
    let mut images: Vec<String> = pod::containers(pod)
        .map(|(c, _)| format!("{}={}", c.name, c.image.as_deref().unwrap_or_default()))
        .collect();
    images.sort();
    images
}

/// The revision a `bindTo: Template` approval binds to: `sha256:<hex>` of the pod template's
/// JSON. Not the Deployment generation: gonogo's own pause and unpause bump the generation,
/// which would void every approval it was waiting for. `gonogo approve` records exactly this.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    // k8s-openapi serialises fields in a fixed order and maps sorted, so equal templates
    // give equal JSON.
    let json = serde_json::to_vec(template).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A hash short enough for a message, like a git commit.
fn short(hash: &str) -> &str {
    hash.get(..19).unwrap_or(hash)
}

/// What the current revision is, for the gate's binding.
enum Revision {
    Images(Vec<String>),
    Template(String),
}

impl Check for Approval {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let qualified = format!("{}/{}", cx.checklist, cx.item);
        let approvals: Vec<&ReadinessApproval> = cx
            .snapshot
            .approvals
            .iter()
            .map(|a| a.as_ref())
            .filter(|a| {
                a.spec.readiness_ref.name == cx.readiness
                    && (a.spec.item == cx.item || a.spec.item == qualified)
            })
            .collect();
        if cx.snapshot.is_offline() && approvals.is_empty() {
            return Outcome::Unknown(
                "approvals are recorded in the cluster (gonogo approve)".into(),
            );
        }
        let w = cx.workload;
        let revision = if self.bind_to == "Template" {
            match w.template() {
                Some(template) => Revision::Template(template_hash(template)),
                None => {
                    return Outcome::Unknown(format!("{w} has no spec.template yet"));
                }
            }
        } else {
            Revision::Images(current_images(cx.pod))
        };

        let mut notes = Vec::new();
        for approval in &approvals {
            let spec = &approval.spec;
            let who = &spec.approver;
            if !self.approvers.is_empty() && !self.approvers.contains(who) {
                notes.push(format!(
                    "approval by {who} does not count: not one of the approvers ({})",
                    self.approvers.join(", ")
                ));
                continue;
            }
            if let Some(expires) = spec.expires.as_ref().filter(|e| e.0 <= cx.snapshot.now) {
                notes.push(format!("approval by {who} expired {}", expires.0));
                continue;
            }
            let mismatch = match &revision {
                Revision::Images(current) => images_mismatch(
                    &spec.revision.images,
                    current,
                    spec.revision.template.as_deref(),
                ),
                Revision::Template(current) => match spec.revision.template.as_deref() {
                    Some(t) if t == current => None,
                    Some(t) => Some(format!(
                        "was for pod template {}, the template of {w} is now {}",
                        short(t),
                        short(current)
                    )),
                    None => Some(
                        "approved images, but this gate binds approvals to the whole pod template"
                            .to_string(),
                    ),
                },
            };
            match mismatch {
                Some(why) => notes.push(format!("approval by {who} {why}")),
                None => {
                    let what = match &revision {
                        Revision::Images(images) => format!("images {}", images.join(", ")),
                        Revision::Template(t) => format!("pod template {}", short(t)),
                    };
                    let until = spec
                        .expires
                        .as_ref()
                        .map(|e| format!(", until {}", e.0))
                        .unwrap_or_default();
                    return Outcome::Pass(format!("approved by {who} for {what}{until}"));
                }
            }
        }
        if notes.is_empty() {
            return Outcome::fail(format!(
                "no ReadinessApproval for item {} of DeploymentReadiness {} (record one with gonogo approve)",
                cx.item, cx.readiness
            ));
        }
        Outcome::Fail(notes.into_iter().map(Finding::new).collect())
    }
}

/// Why an approval of `approved` images does not cover `current`, if it does not.
fn images_mismatch(
    approved: &[String],
    current: &[String],
    template: Option<&str>,
) -> Option<String> {
    if approved.is_empty() {
        let t = template
            .map(|t| format!(" {}", short(t)))
            .unwrap_or_default();
        return Some(format!(
            "approved pod template{t}, but this gate binds approvals to container images"
        ));
    }
    let approved: BTreeSet<&String> = approved.iter().collect();
    let current: BTreeSet<&String> = current.iter().collect();
    if approved == current {
        return None;
    }
    // Name only what differs: a template may run many containers.
    let join = |set: BTreeSet<&&String>| {
        set.into_iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let only_approved = join(approved.difference(&current).collect());
    let only_current = join(current.difference(&approved).collect());
    let none = |s: String| {
        if s.is_empty() {
            "nothing else".to_string()
        } else {
            s
        }
    };
    Some(format!(
        "was for {}, the template now runs {}",
        none(only_approved),
        none(only_current)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Snapshot, Source};
    use k8s_openapi::api::apps::v1::Deployment;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn pod() -> PodSpec {
        serde_json::from_value(json!({
            "initContainers": [
                {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0", "restartPolicy": "Always"},
                {"name": "migrate", "image": "ghcr.io/acme/migrate:2.0"}
            ],
            "containers": [{"name": "api", "image": "ghcr.io/acme/api:1.4.2"}]
        }))
        .unwrap()
    }

    fn approval(
        item: &str,
        approver: &str,
        images: &[&str],
        template: Option<&str>,
        expires: Option<&str>,
    ) -> Arc<ReadinessApproval> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "gonogo.dev/v1alpha1", "kind": "ReadinessApproval",
                "metadata": {"name": format!("{item}-{approver}")},
                "spec": {
                    "readinessRef": {"name": "api"}, "item": item, "approver": approver,
                    "revision": {"images": images, "template": template},
                    "expires": expires,
                }
            }))
            .unwrap(),
        )
    }

    fn judge(check: &Approval, approvals: Vec<Arc<ReadinessApproval>>, source: Source) -> Outcome {
        let d = deployment();
        let mut s = Snapshot::new("default", "2026-06-01T00:00:00Z".parse().unwrap(), source);
        s.approvals = approvals;
        let pod = pod();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: &s,
            workload: &crate::engine::Workload::from(d.clone()),
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "sre",
            item: "signoff",
        };
        check.evaluate(&cx)
    }

    fn deployment() -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "api", "generation": 5},
            "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": "api"}}, "spec": pod()}}
        }))
        .unwrap()
    }

    fn images() -> Approval {
        Approval {
            approvers: vec![],
            bind_to: "Images".into(),
        }
    }

    const CURRENT: [&str; 3] = [
        "api=ghcr.io/acme/api:1.4.2",
        "migrate=ghcr.io/acme/migrate:2.0",
        "proxy=envoyproxy/envoy:v1.31.0",
    ];

    #[test]
    fn current_images_covers_every_container_sorted() {
        assert_eq!(current_images(&pod()), CURRENT);
        assert!(current_images(&PodSpec::default()).is_empty());
    }

    #[test]
    fn qualified_item_name_matches() {
        let outcome = judge(
            &images(),
            vec![approval("sre/signoff", "alice", &CURRENT, None, None)],
            Source::Cluster,
        );
        assert!(
            matches!(outcome, Outcome::Pass(ref m) if m.starts_with("approved by alice for images api=")),
            "{outcome:?}"
        );
        let other_checklist = judge(
            &images(),
            vec![approval("other/signoff", "alice", &CURRENT, None, None)],
            Source::Cluster,
        );
        assert!(
            matches!(other_checklist, Outcome::Fail(ref f) if f[0].message.starts_with("no ReadinessApproval for item signoff"))
        );
    }

    #[test]
    fn an_older_image_approval_names_the_difference() {
        let old = [
            "api=ghcr.io/acme/api:1.4.1",
            "migrate=ghcr.io/acme/migrate:2.0",
            "proxy=envoyproxy/envoy:v1.31.0",
        ];
        assert_eq!(
            judge(
                &images(),
                vec![approval("signoff", "alice", &old, None, None)],
                Source::Cluster
            ),
            Outcome::fail(
                "approval by alice was for api=ghcr.io/acme/api:1.4.1, the template now runs api=ghcr.io/acme/api:1.4.2"
            )
        );
    }

    #[test]
    fn an_expired_approval_does_not_count_but_a_fresh_one_does() {
        let expired = approval(
            "signoff",
            "alice",
            &CURRENT,
            None,
            Some("2026-05-01T00:00:00Z"),
        );
        assert_eq!(
            judge(&images(), vec![expired.clone()], Source::Cluster),
            Outcome::fail("approval by alice expired 2026-05-01T00:00:00Z")
        );
        let fresh = approval(
            "signoff",
            "bob",
            &CURRENT,
            None,
            Some("2026-07-01T00:00:00Z"),
        );
        assert!(matches!(
            judge(&images(), vec![expired, fresh], Source::Cluster),
            Outcome::Pass(ref m) if m.starts_with("approved by bob") && m.ends_with("until 2026-07-01T00:00:00Z")
        ));
    }

    #[test]
    fn template_hash_changes_with_any_template_field_but_not_with_pausing() {
        let mut d = deployment();
        let before = template_hash(&d.spec.as_ref().unwrap().template);
        assert!(
            before.starts_with("sha256:") && before.len() == 71,
            "{before}"
        );
        // gonogo's pause touches spec.paused and the generation, never the template.
        let spec = d.spec.as_mut().unwrap();
        spec.paused = Some(true);
        d.metadata.generation = Some(6);
        assert_eq!(template_hash(&d.spec.as_ref().unwrap().template), before);
        let template = &mut d.spec.as_mut().unwrap().template;
        template.metadata.get_or_insert_default().annotations = Some(
            [(
                "kubectl.kubernetes.io/restartedAt".to_string(),
                "2026-06-01T00:00:00Z".to_string(),
            )]
            .into(),
        );
        assert_ne!(template_hash(template), before);
    }

    #[test]
    fn approvers_and_template_binding() {
        let check = Approval {
            approvers: vec!["alice".into()],
            bind_to: "Template".into(),
        };
        let current = template_hash(&deployment().spec.unwrap().template);
        let old = format!("sha256:{}", "0".repeat(64));
        assert_eq!(
            judge(
                &check,
                vec![approval("signoff", "mallory", &[], Some(&current), None)],
                Source::Cluster
            ),
            Outcome::fail("approval by mallory does not count: not one of the approvers (alice)")
        );
        assert_eq!(
            judge(
                &check,
                vec![approval("signoff", "alice", &[], Some(&old), None)],
                Source::Cluster
            ),
            Outcome::fail(format!(
                "approval by alice was for pod template sha256:000000000000, the template of Deployment api is now {}",
                &current[..19]
            ))
        );
        assert_eq!(
            judge(
                &check,
                vec![approval("signoff", "alice", &[], Some(&current), None)],
                Source::Cluster
            ),
            Outcome::Pass(format!(
                "approved by alice for pod template {}",
                &current[..19]
            ))
        );
        assert_eq!(
            judge(
                &check,
                vec![approval("signoff", "alice", &CURRENT, None, None)],
                Source::Cluster
            ),
            Outcome::fail(
                "approval by alice approved images, but this gate binds approvals to the whole pod template"
            )
        );
        assert_eq!(
            judge(
                &images(),
                vec![approval("signoff", "alice", &[], Some(&current), None)],
                Source::Cluster
            ),
            Outcome::fail(format!(
                "approval by alice approved pod template {}, but this gate binds approvals to container images",
                &current[..19]
            ))
        );
    }

    #[test]
    fn offline_without_approvals_is_unknown() {
        assert_eq!(
            judge(&images(), vec![], Source::Manifests),
            Outcome::Unknown("approvals are recorded in the cluster (gonogo approve)".into())
        );
        assert!(matches!(
            judge(
                &images(),
                vec![approval("signoff", "alice", &CURRENT, None, None)],
                Source::Manifests
            ),
            Outcome::Pass(_)
        ));
    }
}
