use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::{Finding, Outcome, Source};

/// Parameters of the `serviceAccount` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Refuse the namespace's `default` ServiceAccount (or none set).
    #[serde(default = "super::yes")]
    pub disallow_default: bool,
    /// Require that no token is mounted: `automountServiceAccountToken: false` on the pod, or
    /// unset there and false on its ServiceAccount.
    #[serde(default)]
    pub disallow_token_automount: bool,
}

impl Check for ServiceAccount {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let w = cx.workload;
        let pod = cx.pod;
        let set = |v: &Option<String>| v.clone().filter(|n| !n.is_empty());
        // serviceAccountName wins; the deprecated serviceAccount is its fallback.
        let (account, field) = match (set(&pod.service_account_name), set(&pod.service_account)) {
            (Some(n), _) => (n, "spec.template.spec.serviceAccountName"),
            (None, Some(n)) => (
                n,
                "spec.template.spec.serviceAccount (deprecated; use serviceAccountName)",
            ),
            (None, None) => (String::new(), "spec.template.spec.serviceAccountName"),
        };
        let mut findings = Vec::new();
        if self.disallow_default {
            if account.is_empty() {
                findings.push(Finding::new(format!(
                    "{w}: {field} is unset, so the pods run as the namespace's default ServiceAccount"
                )));
            } else if account == "default" {
                findings.push(Finding::new(format!(
                    "{w}: {field} is default (the namespace's default ServiceAccount)"
                )));
            }
        }
        let shown_account = if account.is_empty() {
            "default"
        } else {
            account.as_str()
        };
        // The pod's own setting wins; unset, the ServiceAccount's decides (Kubernetes mounts
        // the token unless one of them says false).
        let account_object = cx
            .snapshot
            .service_accounts
            .iter()
            .find(|sa| sa.metadata.name.as_deref() == Some(shown_account));
        let mut automount_from = "";
        if self.disallow_token_automount {
            match (pod.automount_service_account_token, account_object) {
                (Some(false), _) => {}
                (Some(true), _) => findings.push(Finding::new(format!(
                    "{w}: spec.template.spec.automountServiceAccountToken is true"
                ))),
                (None, Some(sa)) => match sa.automount_service_account_token {
                    Some(false) => {
                        automount_from = " (set on the ServiceAccount; the pod template leaves it unset)"
                    }
                    setting => findings.push(Finding::new(format!(
                        "{w}: spec.template.spec.automountServiceAccountToken is unset and ServiceAccount \
                         {shown_account} {}, so the token is mounted; set automountServiceAccountToken: false on the \
                         pod template or on the ServiceAccount",
                        if setting == Some(true) {
                            "sets automountServiceAccountToken: true"
                        } else {
                            "leaves automountServiceAccountToken unset"
                        }
                    ))),
                },
                (None, None) => findings.push(Finding::new(format!(
                    "{w}: spec.template.spec.automountServiceAccountToken is unset, so the token is mounted unless \
                     ServiceAccount {shown_account} sets automountServiceAccountToken: false, and {}; set it to false on the pod \
                     template (or include the ServiceAccount)",
                    match cx.snapshot.source {
                        Source::Manifests => "the manifest set does not include it",
                        Source::Cluster => "it does not exist",
                    }
                ))),
            }
        }
        let mut pass = format!("pods run as ServiceAccount {shown_account}");
        if field.contains("deprecated") {
            pass.push_str(" (set through the deprecated spec.template.spec.serviceAccount)");
        }
        if self.disallow_token_automount {
            pass.push_str(", automountServiceAccountToken: false");
            pass.push_str(automount_from);
        }
        Outcome::from_findings(findings, Vec::new(), pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(check: &ServiceAccount, pod_yaml: &str) -> Outcome {
        crate::checks::testing::judge_pod(check, pod_yaml, &[])
    }

    const BOTH: ServiceAccount = ServiceAccount {
        disallow_default: true,
        disallow_token_automount: true,
    };

    #[test]
    fn names_and_the_deprecated_field() {
        let only_default = ServiceAccount {
            disallow_default: true,
            disallow_token_automount: false,
        };
        assert_eq!(
            judge(&only_default, "{containers: [], serviceAccountName: ''}"),
            Outcome::fail(
                "Deployment api: spec.template.spec.serviceAccountName is unset, so the pods run as the namespace's default ServiceAccount"
            )
        );
        assert_eq!(
            judge(&only_default, "{containers: [], serviceAccount: default}"),
            Outcome::fail(
                "Deployment api: spec.template.spec.serviceAccount (deprecated; use serviceAccountName) is default (the namespace's default ServiceAccount)"
            )
        );
        assert_eq!(
            judge(&only_default, "{containers: [], serviceAccount: api}"),
            Outcome::Pass("pods run as ServiceAccount api (set through the deprecated spec.template.spec.serviceAccount)".into())
        );
        // serviceAccountName wins over the deprecated field.
        assert!(matches!(
            judge(
                &only_default,
                "{containers: [], serviceAccount: default, serviceAccountName: api}"
            ),
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn token_automount() {
        let Outcome::Fail(findings) = judge(&BOTH, "{containers: [], serviceAccountName: api}")
        else {
            panic!()
        };
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains(
            "ServiceAccount api sets automountServiceAccountToken: false, and it does not exist"
        ));
        assert_eq!(
            judge(
                &BOTH,
                "{containers: [], serviceAccountName: api, automountServiceAccountToken: true}"
            ),
            Outcome::fail(
                "Deployment api: spec.template.spec.automountServiceAccountToken is true"
            )
        );
        assert_eq!(
            judge(
                &BOTH,
                "{containers: [], serviceAccountName: api, automountServiceAccountToken: false}"
            ),
            Outcome::Pass(
                "pods run as ServiceAccount api, automountServiceAccountToken: false".into()
            )
        );
    }
}
