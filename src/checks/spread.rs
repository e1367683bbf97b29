use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodAffinityTerm, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Check, Context};
use crate::engine::{Outcome, pod};

/// Parameters of the `spread` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    /// The topology key pods must spread over.
    #[serde(default = "default_topology_key")]
    pub topology_key: String,
    /// Only hard rules count (requiredDuringScheduling anti-affinity, or `whenUnsatisfiable: DoNotSchedule`).
    #[serde(default)]
    pub required: bool,
}

fn default_topology_key() -> String {
    "kubernetes.io/hostname".into()
}

const ANTI_AFFINITY: &str = "affinity.podAntiAffinity";

impl Check for Spread {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let namespace = cx.snapshot.namespace.as_str();
        // Near misses: rules that exist but do not spread these pods over the key, and why.
        let mut found = Vec::new();

        let anti = cx
            .pod
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref());
        let required = anti
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or_default();
        for (i, term) in required.iter().enumerate() {
            let field =
                format!("{ANTI_AFFINITY}.requiredDuringSchedulingIgnoredDuringExecution[{i}]");
            match self.term_problem(term, cx.pod_labels, namespace) {
                None => {
                    return Outcome::Pass(format!(
                        "{field} keeps the pods apart on {}",
                        self.topology_key
                    ));
                }
                Some(why) => found.push(format!("{field} {why}")),
            }
        }
        let preferred = anti
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or_default();
        for (i, weighted) in preferred.iter().enumerate() {
            let field =
                format!("{ANTI_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
            match self.term_problem(&weighted.pod_affinity_term, cx.pod_labels, namespace) {
                Some(why) => found.push(format!("{field} {why}")),
                None if self.required => found.push(format!(
                    "{field} is only preferred (required: true needs requiredDuringScheduling)"
                )),
                None => {
                    return Outcome::Pass(format!(
                        "{field} prefers to keep the pods apart on {} (weight {})",
                        self.topology_key, weighted.weight
                    ));
                }
            }
        }
        for (i, constraint) in cx
            .pod
            .topology_spread_constraints
            .iter()
            .flatten()
            .enumerate()
        {
            let field = format!("topologySpreadConstraints[{i}]");
            match self.constraint_problem(constraint, cx.pod_labels) {
                None => {
                    return Outcome::Pass(format!(
                        "{field} spreads the pods over {} ({}, maxSkew {})",
                        self.topology_key, constraint.when_unsatisfiable, constraint.max_skew
                    ));
                }
                Some(why) => found.push(format!("{field} {why}")),
            }
        }

        let what = if self.required {
            "no required pod anti-affinity and no DoNotSchedule topologySpreadConstraint"
        } else {
            "no pod anti-affinity and no topologySpreadConstraint"
        };
        let detail = if found.is_empty() {
            "the pod template has neither".to_string()
        } else {
            format!("found: {}", found.join("; "))
        };
        Outcome::fail(format!(
            "{}: {what} spreads the pods ({}) over {}; {detail}",
            cx.workload,
            show_labels(cx.pod_labels),
            self.topology_key
        ))
    }
}

impl Spread {
    /// Why an anti-affinity term does not keep these pods apart on the key, if it does not.
    fn term_problem(
        &self,
        term: &PodAffinityTerm,
        labels: &BTreeMap<String, String>,
        namespace: &str,
    ) -> Option<String> {
        if term.topology_key != self.topology_key {
            return Some(format!("is on topology key {}", term.topology_key));
        }
        if let Some(why) = selector_problem(term.label_selector.as_ref(), labels) {
            return Some(why);
        }
        // mismatchLabelKeys adds `key notin (own value)`, which excludes the pods' own replicas.
        if let Some(key) = term
            .mismatch_label_keys
            .iter()
            .flatten()
            .find(|k| labels.contains_key(*k))
        {
            return Some(format!(
                "has mismatchLabelKeys {key}, which excludes the pods' own replicas"
            ));
        }
        if !covers_namespace(term, namespace) {
            return Some(format!("selects pods in other namespaces than {namespace}"));
        }
        // matchLabelKeys only adds `key in (own value)`: the pods' own replicas still match.
        None
    }

    /// Why a topology spread constraint does not spread these pods over the key, if it does not.
    fn constraint_problem(
        &self,
        constraint: &TopologySpreadConstraint,
        labels: &BTreeMap<String, String>,
    ) -> Option<String> {
        if constraint.topology_key != self.topology_key {
            return Some(format!("is on topology key {}", constraint.topology_key));
        }
        if let Some(why) = selector_problem(constraint.label_selector.as_ref(), labels) {
            return Some(why);
        }
        if self.required && constraint.when_unsatisfiable != "DoNotSchedule" {
            return Some(format!(
                "has whenUnsatisfiable {} (required: true needs DoNotSchedule)",
                constraint.when_unsatisfiable
            ));
        }
        None
    }
}

/// Why a rule's labelSelector does not select the pods, if it does not. A missing selector
/// selects no pods, for anti-affinity terms and spread constraints alike.
fn selector_problem(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    match selector {
        None => Some("has no labelSelector (selects no pods)".into()),
        Some(s) if !pod::selector_matches(s, labels) => Some(format!(
            "has a labelSelector ({}) that does not select the pods",
            show_selector(s)
        )),
        Some(_) => None,
    }
}

/// Whether an anti-affinity term looks at the pods' own namespace: `namespaces` and
/// `namespaceSelector` are unioned, and both absent means the pod's own namespace. The
/// namespace's labels are not in the snapshot, so a namespaceSelector is judged on the
/// `kubernetes.io/metadata.name` label every namespace carries.
fn covers_namespace(term: &PodAffinityTerm, namespace: &str) -> bool {
    let listed = term.namespaces.as_deref().unwrap_or_default();
    if listed.iter().any(|n| n == namespace) {
        return true;
    }
    match &term.namespace_selector {
        None => listed.is_empty(),
        Some(selector) => {
            let labels = BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                namespace.to_string(),
            )]);
            pod::selector_matches(selector, &labels)
        }
    }
}

fn show_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "no labels".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn show_selector(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            op => format!("{} {} ({values})", e.key, op.to_lowercase()),
        });
    }
    if parts.is_empty() {
        "everything".into()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(check: &Spread, pod_yaml: &str) -> Outcome {
        crate::checks::testing::judge_pod(check, pod_yaml, &[("app", "api"), ("tier", "web")])
    }

    fn soft() -> Spread {
        serde_yaml_ng::from_str("{}").unwrap()
    }
    fn hard() -> Spread {
        serde_yaml_ng::from_str("{required: true}").unwrap()
    }

    fn message(outcome: Outcome) -> String {
        match outcome {
            Outcome::Fail(f) => f
                .into_iter()
                .map(|f| f.message)
                .collect::<Vec<_>>()
                .join("; "),
            other => panic!("expected Fail, got {other:?}"),
        }
    }

    const PREFERRED: &str = "
containers: []
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchExpressions: [{key: app, operator: In, values: [api]}]}
";

    #[test]
    fn preferred_counts_unless_required() {
        assert_eq!(
            judge(&soft(), PREFERRED),
            Outcome::Pass("affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0] prefers to keep the pods apart on kubernetes.io/hostname (weight 100)".into())
        );
        assert_eq!(
            message(judge(&hard(), PREFERRED)),
            "Deployment api: no required pod anti-affinity and no DoNotSchedule topologySpreadConstraint spreads the pods (app=api,tier=web) over kubernetes.io/hostname; found: affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0] is only preferred (required: true needs requiredDuringScheduling)"
        );
    }

    #[test]
    fn terms_must_select_the_pods_own_replicas() {
        let pod = "
containers: []
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: web}}}
      - {topologyKey: kubernetes.io/hostname}
      - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: api}}, mismatchLabelKeys: [tier]}
      - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: api}}, namespaces: [other]}
      - {topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app: api}}}
";
        let m = message(judge(&hard(), pod));
        for part in [
            "[0] has a labelSelector (app=web) that does not select the pods",
            "[1] has no labelSelector (selects no pods)",
            "[2] has mismatchLabelKeys tier, which excludes the pods' own replicas",
            "[3] selects pods in other namespaces than default",
            "[4] is on topology key topology.kubernetes.io/zone",
        ] {
            assert!(m.contains(part), "{part} not in {m}");
        }
        let own_ns_by_selector = "
containers: []
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {app: api}}
        namespaces: [other]
        namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: default}}
        matchLabelKeys: [tier]
";
        assert!(matches!(
            judge(&hard(), own_ns_by_selector),
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn topology_spread_constraints() {
        let pod = "
containers: []
topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: api}}}
";
        assert_eq!(
            judge(&soft(), pod),
            Outcome::Pass("topologySpreadConstraints[0] spreads the pods over kubernetes.io/hostname (ScheduleAnyway, maxSkew 1)".into())
        );
        assert!(message(judge(&hard(), pod)).contains("topologySpreadConstraints[0] has whenUnsatisfiable ScheduleAnyway (required: true needs DoNotSchedule)"));
        let zone: Spread =
            serde_yaml_ng::from_str("{topologyKey: topology.kubernetes.io/zone}").unwrap();
        assert!(
            message(judge(&zone, pod))
                .contains("topologySpreadConstraints[0] is on topology key kubernetes.io/hostname")
        );
        assert!(
            message(judge(&soft(), "containers: []")).ends_with("; the pod template has neither")
        );
    }
}
