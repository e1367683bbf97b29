use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::{Outcome, pod};

/// Parameters of the `replicas` check: the low point of the replica count (spec.replicas, or the
/// HPA's minReplicas when an HPA scales the workload; for a DaemonSet, the nodes it should run
/// on, judged on the live cluster).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("!has(self.max) || self.min <= self.max").message("min must not exceed max"))]
#[serde(rename_all = "camelCase")]
pub struct Replicas {
    #[schemars(range(min = 1))]
    pub min: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max: Option<i32>,
}

impl Check for Replicas {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let w = cx.workload;
        let Ok(spec_replicas) = w.spec_replicas() else {
            return daemon_set_nodes(self, cx);
        };
        let hpa = pod::hpa_for(cx.snapshot, w);
        if let Some(hpa) = hpa
            && spec_replicas == Some(0)
        {
            // The HPA controller leaves a workload scaled to zero alone (ScalingDisabled).
            let hpa_name = hpa.metadata.name.as_deref().unwrap_or_default();
            return Outcome::fail(format!(
                "{w} spec.replicas is 0: HorizontalPodAutoscaler {hpa_name} does not scale a {} at zero replicas",
                w.kind()
            ));
        }
        let (count, source) = pod::baseline_replicas(cx.snapshot, w);
        let defaulted = match hpa {
            Some(h) => h.spec.as_ref().is_none_or(|s| s.min_replicas.is_none()),
            None => spec_replicas.is_none(),
        };
        let value = if defaulted {
            format!("{source} is unset (defaulted to {count})")
        } else {
            format!("{source} is {count}")
        };
        if count < self.min {
            return Outcome::fail(format!("{value}, below minimum {}", self.min));
        }
        if let Some(max) = self.max
            && count > max
        {
            return Outcome::fail(format!("{value}, above maximum {max}"));
        }
        let bounds = match self.max {
            Some(max) => format!("within {}..{max}", self.min),
            None => format!("at least {}", self.min),
        };
        Outcome::Pass(format!("{value}, {bounds}"))
    }
}

/// A DaemonSet runs one pod per eligible node: the count is the nodes it should run on, known
/// only on the cluster.
fn daemon_set_nodes(check: &Replicas, cx: &Context<'_>) -> Outcome {
    let w = cx.workload;
    if cx.snapshot.is_offline() {
        return Outcome::Skipped(format!(
            "{w} runs one pod per eligible node: its count is judged on the live cluster"
        ));
    }
    let (count, source) = pod::baseline_replicas(cx.snapshot, w);
    let within = count >= check.min && check.max.is_none_or(|max| count <= max);
    let bounds = match check.max {
        Some(max) => format!("{}..{max}", check.min),
        None => format!("at least {}", check.min),
    };
    let message = format!("{source} is {count}, wanted {bounds}");
    if within {
        Outcome::Pass(message)
    } else {
        Outcome::fail(format!(
            "{message} (a DaemonSet's count follows its node selector, affinity and tolerations)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Snapshot, Source};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

    fn judge(check: &Replicas, deployment_yaml: &str, hpas: &[&str]) -> Outcome {
        let deployment: Deployment = serde_yaml_ng::from_str(deployment_yaml).unwrap();
        let mut snapshot = Snapshot::new("default", jiff::Timestamp::UNIX_EPOCH, Source::Cluster);
        snapshot.hpas = hpas
            .iter()
            .map(|h| Arc::new(serde_yaml_ng::from_str::<HorizontalPodAutoscaler>(h).unwrap()))
            .collect();
        let pod = Default::default();
        let labels = Default::default();
        check.evaluate(&Context {
            snapshot: &snapshot,
            workload: &crate::engine::Workload::from(deployment.clone()),
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "inline",
            item: "replicas",
        })
    }

    const MIN2: Replicas = Replicas {
        min: 2,
        max: Some(4),
    };
    const HPA: &str = "{metadata: {name: api}, spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}, maxReplicas: 10}}";

    #[test]
    fn spec_replicas_defaults_to_one() {
        let no_replicas = "{metadata: {name: api}, spec: {selector: {}, template: {}}}";
        assert_eq!(
            judge(&MIN2, no_replicas, &[]),
            Outcome::fail(
                "Deployment api spec.replicas is unset (defaulted to 1), below minimum 2"
            )
        );
        let five = "{metadata: {name: api}, spec: {replicas: 5, selector: {}, template: {}}}";
        assert_eq!(
            judge(&MIN2, five, &[]),
            Outcome::fail("Deployment api spec.replicas is 5, above maximum 4")
        );
        let three = "{metadata: {name: api}, spec: {replicas: 3, selector: {}, template: {}}}";
        assert_eq!(
            judge(&MIN2, three, &[]),
            Outcome::Pass("Deployment api spec.replicas is 3, within 2..4".into())
        );
    }

    #[test]
    fn an_hpa_decides_the_low_point() {
        let five = "{metadata: {name: api}, spec: {replicas: 5, selector: {}, template: {}}}";
        assert_eq!(
            judge(&MIN2, five, &[HPA]),
            Outcome::fail(
                "HorizontalPodAutoscaler api spec.minReplicas is unset (defaulted to 1), below minimum 2"
            )
        );
        let other = HPA.replace("name: api}, maxReplicas", "name: web}, maxReplicas");
        assert!(
            matches!(judge(&MIN2, five, &[&other]), Outcome::Fail(_)),
            "an HPA of another Deployment does not count"
        );
        let hpa3 = HPA.replace("maxReplicas: 10", "maxReplicas: 10, minReplicas: 3");
        assert_eq!(
            judge(&MIN2, five, &[&hpa3]),
            Outcome::Pass("HorizontalPodAutoscaler api spec.minReplicas is 3, within 2..4".into())
        );
        let zero = "{metadata: {name: api}, spec: {replicas: 0, selector: {}, template: {}}}";
        assert_eq!(
            judge(&MIN2, zero, &[&hpa3]),
            Outcome::fail(
                "Deployment api spec.replicas is 0: HorizontalPodAutoscaler api does not scale a Deployment at zero replicas"
            )
        );
    }
}
