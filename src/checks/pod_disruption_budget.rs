use k8s_openapi::api::policy::v1::PodDisruptionBudget as Pdb;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::references::{assumed_of_kind, labels_display};
use super::{Check, Context};
use crate::engine::{Outcome, pod};

/// Parameters of the `podDisruptionBudget` check: exactly one PDB selects the pods, and it
/// allows at least one voluntary disruption at the Deployment's low replica count.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    /// Fail a PDB that can never allow a disruption (node drains would hang).
    #[serde(default = "super::yes")]
    pub require_disruption_allowed: bool,
}

impl Check for PodDisruptionBudget {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let mut selecting = Vec::new();
        let mut others = Vec::new();
        for pdb in cx.snapshot.pdbs.iter().map(AsRef::as_ref) {
            let name = pdb.metadata.name.as_deref().unwrap_or_default();
            // policy/v1: an empty selector selects every pod of the namespace, a missing one none.
            match pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) {
                Some(selector) if pod::selector_matches(selector, cx.pod_labels) => {
                    selecting.push(pdb)
                }
                Some(_) => others.push(format!("PodDisruptionBudget {name} selects other pods")),
                None => others.push(format!(
                    "PodDisruptionBudget {name} has no selector, so it selects no pod"
                )),
            }
        }
        match selecting.as_slice() {
            [] => {
                let assumed = assumed_of_kind(cx.snapshot, "PodDisruptionBudget");
                if !assumed.is_empty() {
                    return Outcome::Pass(format!(
                        "PodDisruptionBudget {} assumed present (--assume-present), its selector and budget not verified",
                        assumed.join(", ")
                    ));
                }
                let mut message = format!(
                    "no PodDisruptionBudget selects the pods ({})",
                    labels_display(cx.pod_labels)
                );
                if !others.is_empty() {
                    message = format!("{message}; {}", others.join("; "));
                }
                if cx.snapshot.is_offline() {
                    Outcome::Unknown(format!(
                        "{message}; if one is created outside these manifests, declare it with --assume-present pdb/NAME"
                    ))
                } else {
                    Outcome::fail(message)
                }
            }
            [pdb] => self.judge(pdb, cx),
            many => {
                let names: Vec<&str> = many
                    .iter()
                    .map(|p| p.metadata.name.as_deref().unwrap_or_default())
                    .collect();
                Outcome::fail(format!(
                    "PodDisruptionBudgets {} all select the pods; the eviction API refuses to evict a pod covered by more than one, so node drains would hang",
                    names.join(", ")
                ))
            }
        }
    }
}

impl PodDisruptionBudget {
    /// Judge the one PDB that selects the pods against the workload's low replica count.
    fn judge(&self, pdb: &Pdb, cx: &Context<'_>) -> Outcome {
        let name = pdb.metadata.name.as_deref().unwrap_or_default();
        let (replicas, source) = pod::baseline_replicas(cx.snapshot, cx.workload);
        let Some(spec) = pdb.spec.as_ref() else {
            return Outcome::fail(format!("PodDisruptionBudget {name}: no spec"));
        };
        let (field, value) = match (&spec.min_available, &spec.max_unavailable) {
            (Some(_), Some(_)) => {
                return Outcome::fail(format!(
                    "PodDisruptionBudget {name}: sets both minAvailable and maxUnavailable (the API server accepts only one)"
                ));
            }
            // Neither: the disruption controller then wants 0 healthy pods, so it protects none.
            (None, None) => {
                return Outcome::fail(format!(
                    "PodDisruptionBudget {name}: sets neither minAvailable nor maxUnavailable, so it protects no pod"
                ));
            }
            (Some(min), None) => ("minAvailable", min),
            (None, Some(max)) => ("maxUnavailable", max),
        };
        // The disruption controller rounds both kinds of percentage up.
        let Some(scaled) = scaled_up(value, replicas) else {
            return Outcome::fail(format!(
                "PodDisruptionBudget {name}: {field} {} is neither an integer nor a percentage",
                pod::port_display(value)
            ));
        };
        let shown = match value {
            IntOrString::Int(n) => n.to_string(),
            IntOrString::String(s) => format!("{s} (rounds up to {scaled})"),
        };
        if replicas <= 0 && cx.workload.spec_replicas().is_err() && cx.workload.progress().is_none()
        {
            // A DaemonSet's count is the nodes that should run it: known on the cluster only.
            return Outcome::Pass(format!(
                "PodDisruptionBudget {name} selects the pods; {field} {shown}; how many disruptions it allows depends on the nodes {} runs on, known on the cluster only",
                cx.workload
            ));
        }
        if replicas <= 0 {
            return Outcome::Pass(format!(
                "PodDisruptionBudget {name} selects the pods; {replicas} replicas ({source}), nothing to disrupt"
            ));
        }
        let allowed = if field == "minAvailable" {
            replicas.saturating_sub(scaled)
        } else {
            scaled.min(replicas)
        }
        .max(0);
        if allowed == 0 && self.require_disruption_allowed {
            return Outcome::fail(format!(
                "PodDisruptionBudget {name}: {field} {shown} with {replicas} replicas ({source}) never allows a disruption"
            ));
        }
        Outcome::Pass(format!(
            "PodDisruptionBudget {name} selects the pods; {field} {shown} allows {allowed} disruption(s) at {replicas} replicas ({source})"
        ))
    }
}

/// An int-or-percentage scaled to `total`, percentages rounded up as the disruption controller
/// does. `None` for a string that is not a percentage (the API server rejects those).
fn scaled_up(value: &IntOrString, total: i32) -> Option<i32> {
    match value {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.parse().ok()?;
            let total = i64::from(total.max(0));
            // A percentage is any digits the user wrote: saturate, never overflow.
            let scaled = percent
                .saturating_mul(total)
                .saturating_add(99)
                .div_euclid(100);
            Some(i32::try_from(scaled.clamp(0, i64::from(i32::MAX))).unwrap_or(i32::MAX))
        }
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
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, tier: web}}
    spec: {containers: [{name: api, image: x}]}
"#;

    fn pdb(spec: &str) -> String {
        format!(
            "{DEPLOYMENT}---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: api}}\nspec: {spec}\n"
        )
    }

    fn check() -> PodDisruptionBudget {
        PodDisruptionBudget {
            require_disruption_allowed: true,
        }
    }

    fn outcome(spec: &str) -> Outcome {
        evaluate(&check(), &snapshot(&pdb(spec), Source::Cluster, &[]))
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled_up(&IntOrString::String("50%".into()), 3), Some(2));
        assert_eq!(scaled_up(&IntOrString::String("34%".into()), 3), Some(2));
        assert_eq!(scaled_up(&IntOrString::String("33%".into()), 3), Some(1));
        assert_eq!(scaled_up(&IntOrString::String("0%".into()), 3), Some(0));
        assert_eq!(scaled_up(&IntOrString::String("100%".into()), 3), Some(3));
        assert_eq!(scaled_up(&IntOrString::String("3".into()), 3), None);
        assert_eq!(scaled_up(&IntOrString::String("%".into()), 3), None);
    }

    #[test]
    fn min_available_percent_that_rounds_up_to_all_replicas_fails() {
        // 67% of 3 is 2.01, rounded up to 3: no pod may ever go.
        assert_eq!(
            fail_messages(&outcome(
                "{minAvailable: 67%, selector: {matchLabels: {app: api}}}"
            )),
            [
                "PodDisruptionBudget api: minAvailable 67% (rounds up to 3) with 3 replicas (Deployment api spec.replicas) never allows a disruption"
            ]
        );
        assert!(
            matches!(outcome("{minAvailable: 66%, selector: {matchLabels: {app: api}}}"), Outcome::Pass(m) if m.contains("allows 1 disruption"))
        );
    }

    #[test]
    fn max_unavailable_zero_fails_and_small_percent_rounds_up_to_one() {
        assert_eq!(
            fail_messages(&outcome(
                "{maxUnavailable: 0%, selector: {matchLabels: {app: api}}}"
            )),
            [
                "PodDisruptionBudget api: maxUnavailable 0% (rounds up to 0) with 3 replicas (Deployment api spec.replicas) never allows a disruption"
            ]
        );
        assert!(
            matches!(outcome("{maxUnavailable: 1%, selector: {matchLabels: {app: api}}}"), Outcome::Pass(m) if m.contains("allows 1 disruption"))
        );
    }

    #[test]
    fn match_expressions_select() {
        let spec = "{maxUnavailable: 1, selector: {matchExpressions: [{key: app, operator: In, values: [api, web]}, {key: canary, operator: DoesNotExist}, {key: tier, operator: Exists}, {key: tier, operator: NotIn, values: [db]}]}}";
        assert!(matches!(outcome(spec), Outcome::Pass(_)));
        let spec = "{maxUnavailable: 1, selector: {matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}}";
        assert_eq!(
            fail_messages(&outcome(spec)),
            [
                "no PodDisruptionBudget selects the pods (labels app=api,tier=web); PodDisruptionBudget api selects other pods"
            ]
        );
    }

    #[test]
    fn missing_selector_selects_nothing_and_empty_selects_all() {
        assert_eq!(
            fail_messages(&outcome("{maxUnavailable: 1}")),
            [
                "no PodDisruptionBudget selects the pods (labels app=api,tier=web); PodDisruptionBudget api has no selector, so it selects no pod"
            ]
        );
        assert!(matches!(
            outcome("{maxUnavailable: 1, selector: {}}"),
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn both_neither_or_garbage_fail() {
        assert!(
            fail_messages(&outcome(
                "{minAvailable: 1, maxUnavailable: 1, selector: {}}"
            ))[0]
                .contains("sets both")
        );
        assert!(fail_messages(&outcome("{selector: {}}"))[0].contains("sets neither"));
        assert_eq!(
            fail_messages(&outcome("{minAvailable: two, selector: {}}")),
            [
                r#"PodDisruptionBudget api: minAvailable "two" is neither an integer nor a percentage"#
            ]
        );
    }

    #[test]
    fn hpa_min_replicas_is_the_baseline() {
        let yaml = format!(
            "{}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: api}}\nspec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: api}}, minReplicas: 2, maxReplicas: 10}}\n",
            pdb("{minAvailable: 2, selector: {matchLabels: {app: api}}}")
        );
        assert_eq!(
            fail_messages(&evaluate(&check(), &snapshot(&yaml, Source::Cluster, &[]))),
            [
                "PodDisruptionBudget api: minAvailable 2 with 2 replicas (HorizontalPodAutoscaler api spec.minReplicas) never allows a disruption"
            ]
        );
    }

    #[test]
    fn disruption_not_required_passes_a_blocking_budget() {
        let check = PodDisruptionBudget {
            require_disruption_allowed: false,
        };
        let s = snapshot(
            &pdb("{minAvailable: 3, selector: {}}"),
            Source::Cluster,
            &[],
        );
        assert!(
            matches!(evaluate(&check, &s), Outcome::Pass(m) if m.contains("allows 0 disruption"))
        );
    }

    #[test]
    fn offline_absent_is_unknown_unless_assumed() {
        let s = snapshot(DEPLOYMENT, Source::Manifests, &[]);
        assert!(
            matches!(evaluate(&check(), &s), Outcome::Unknown(m) if m.contains("--assume-present pdb/NAME"))
        );
        let s = snapshot(
            DEPLOYMENT,
            Source::Manifests,
            &[("PodDisruptionBudget", "api-pdb")],
        );
        assert!(
            matches!(evaluate(&check(), &s), Outcome::Pass(m) if m.contains("api-pdb assumed present"))
        );
        // In a cluster, absent means missing, whatever was assumed.
        let s = snapshot(
            DEPLOYMENT,
            Source::Cluster,
            &[("PodDisruptionBudget", "api-pdb")],
        );
        assert!(matches!(evaluate(&check(), &s), Outcome::Fail(_)));
    }
}
