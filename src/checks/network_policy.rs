use k8s_openapi::api::networking::v1::NetworkPolicySpec;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::references::{assumed_of_kind, labels_display};
use super::{Check, Context};
use crate::engine::{Outcome, pod};

/// Parameters of the `networkPolicy` check: a NetworkPolicy selects the pods.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// Policy types that must cover the pods (default Ingress). Each may come from a different
    /// NetworkPolicy; an empty list only requires some NetworkPolicy to select the pods.
    #[serde(default = "default_policy_types")]
    pub policy_types: Vec<PolicyType>,
}

/// A NetworkPolicy direction.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyType {
    Ingress,
    Egress,
}

impl PolicyType {
    fn as_str(self) -> &'static str {
        match self {
            PolicyType::Ingress => "Ingress",
            PolicyType::Egress => "Egress",
        }
    }
}

fn default_policy_types() -> Vec<PolicyType> {
    vec![PolicyType::Ingress]
}

/// The policy types a NetworkPolicy covers, defaulted as the API server does when unset:
/// Ingress always, Egress when it has egress rules.
fn effective_types(spec: &NetworkPolicySpec) -> Vec<String> {
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => types.to_vec(),
        _ => {
            let mut types = vec!["Ingress".to_string()];
            if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                types.push("Egress".to_string());
            }
            types
        }
    }
}

impl Check for NetworkPolicy {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        // (name, effective policy types) of every NetworkPolicy that selects the pods.
        let mut selecting: Vec<(&str, Vec<String>)> = Vec::new();
        for np in cx.snapshot.network_policies.iter().map(AsRef::as_ref) {
            let Some(spec) = np.spec.as_ref() else {
                continue;
            };
            // An empty (or absent) podSelector selects every pod of the namespace.
            let selects = spec
                .pod_selector
                .as_ref()
                .is_none_or(|s| pod::selector_matches(s, cx.pod_labels));
            if selects {
                selecting.push((
                    np.metadata.name.as_deref().unwrap_or_default(),
                    effective_types(spec),
                ));
            }
        }
        let uncovered: Vec<&str> = self
            .policy_types
            .iter()
            .map(|t| t.as_str())
            .filter(|t| {
                !selecting
                    .iter()
                    .any(|(_, types)| types.iter().any(|c| c == t))
            })
            .collect();
        let described: Vec<String> = selecting
            .iter()
            .map(|(name, types)| format!("NetworkPolicy {name} ({})", types.join(", ")))
            .collect();

        if selecting.is_empty() || !uncovered.is_empty() {
            let message = if selecting.is_empty() {
                format!(
                    "no NetworkPolicy selects the pods ({})",
                    labels_display(cx.pod_labels)
                )
            } else {
                format!(
                    "no NetworkPolicy selecting the pods covers {} (selecting: {})",
                    uncovered.join(", "),
                    described.join(", ")
                )
            };
            let assumed = assumed_of_kind(cx.snapshot, "NetworkPolicy");
            if !assumed.is_empty() {
                return Outcome::Pass(format!(
                    "NetworkPolicy {} assumed present (--assume-present), its podSelector and policyTypes not verified ({message})",
                    assumed.join(", ")
                ));
            }
            if cx.snapshot.is_offline() {
                return Outcome::Unknown(format!(
                    "{message}; if one is created outside these manifests, declare it with --assume-present networkpolicy/NAME"
                ));
            }
            return Outcome::fail(message);
        }
        Outcome::Pass(format!("selected by {}", described.join(", ")))
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
    spec: {containers: [{name: api, image: x}]}
"#;

    fn with_policy(name: &str, spec: &str) -> String {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}}}\nspec: {spec}\n"
        )
    }

    fn both() -> NetworkPolicy {
        NetworkPolicy {
            policy_types: vec![PolicyType::Ingress, PolicyType::Egress],
        }
    }

    #[test]
    fn policy_types_default_from_rules() {
        let spec: NetworkPolicySpec =
            serde_yaml_ng::from_str("{podSelector: {}, egress: [{}]}").unwrap();
        assert_eq!(effective_types(&spec), ["Ingress", "Egress"]);
        let spec: NetworkPolicySpec =
            serde_yaml_ng::from_str("{podSelector: {}, egress: []}").unwrap();
        assert_eq!(effective_types(&spec), ["Ingress"]);
        let spec: NetworkPolicySpec =
            serde_yaml_ng::from_str("{podSelector: {}, policyTypes: [Egress]}").unwrap();
        assert_eq!(effective_types(&spec), ["Egress"]);
        let spec: NetworkPolicySpec =
            serde_yaml_ng::from_str("{podSelector: {}, policyTypes: []}").unwrap();
        assert_eq!(effective_types(&spec), ["Ingress"]);
    }

    #[test]
    fn types_may_come_from_different_policies() {
        let yaml = format!(
            "{DEPLOYMENT}{}{}",
            with_policy("deny-all", "{podSelector: {}}"),
            with_policy(
                "egress",
                "{podSelector: {matchLabels: {app: api}}, policyTypes: [Egress]}"
            )
        );
        let outcome = evaluate(&both(), &snapshot(&yaml, Source::Cluster, &[]));
        assert_eq!(
            outcome,
            Outcome::Pass(
                "selected by NetworkPolicy deny-all (Ingress), NetworkPolicy egress (Egress)"
                    .into()
            )
        );
    }

    #[test]
    fn uncovered_type_fails_naming_the_selecting_policies() {
        let yaml = format!(
            "{DEPLOYMENT}{}",
            with_policy("deny-all", "{podSelector: {}}")
        );
        assert_eq!(
            fail_messages(&evaluate(&both(), &snapshot(&yaml, Source::Cluster, &[]))),
            [
                "no NetworkPolicy selecting the pods covers Egress (selecting: NetworkPolicy deny-all (Ingress))"
            ]
        );
    }

    #[test]
    fn empty_required_types_need_only_a_selecting_policy() {
        let check = NetworkPolicy {
            policy_types: vec![],
        };
        let yaml = format!(
            "{DEPLOYMENT}{}",
            with_policy("egress-only", "{podSelector: {}, policyTypes: [Egress]}")
        );
        assert!(matches!(
            evaluate(&check, &snapshot(&yaml, Source::Cluster, &[])),
            Outcome::Pass(_)
        ));
        assert!(matches!(
            evaluate(&check, &snapshot(DEPLOYMENT, Source::Cluster, &[])),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn offline_absent_is_unknown_unless_assumed() {
        let check = NetworkPolicy {
            policy_types: default_policy_types(),
        };
        let s = snapshot(DEPLOYMENT, Source::Manifests, &[]);
        assert!(
            matches!(evaluate(&check, &s), Outcome::Unknown(m) if m.contains("--assume-present networkpolicy/NAME"))
        );
        let s = snapshot(
            DEPLOYMENT,
            Source::Manifests,
            &[("NetworkPolicy", "default-deny")],
        );
        assert!(
            matches!(evaluate(&check, &s), Outcome::Pass(m) if m.contains("default-deny assumed present"))
        );
    }

    #[test]
    fn parameters_reject_unknown_types() {
        assert!(
            serde_json::from_str::<NetworkPolicy>(r#"{"policyTypes": ["Ingress", "Sideways"]}"#)
                .is_err()
        );
        let check: NetworkPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(check.policy_types, [PolicyType::Ingress]);
    }
}
