use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, MetricSpec};

use super::{Check, Context};
use crate::engine::{Finding, Outcome, Source, WorkloadKind};

/// Parameters of the `hpa` check: an HPA whose scaleTargetRef is the Deployment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas").message("minReplicas must not exceed maxReplicas"))]
#[serde(rename_all = "camelCase")]
pub struct Hpa {
    /// The HPA's minReplicas must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_replicas: Option<i32>,
    /// The HPA's maxReplicas must be at least this (room to scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_replicas: Option<i32>,
    /// Resource metrics the HPA must scale on, e.g. `[cpu]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_metrics: Vec<String>,
}

impl Check for Hpa {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let w = cx.workload;
        if w.kind() == WorkloadKind::DaemonSet {
            return Outcome::Skipped(format!(
                "{w}: not applicable, a DaemonSet runs one pod per eligible node and no HorizontalPodAutoscaler can scale it"
            ));
        }
        let hpas: Vec<&HorizontalPodAutoscaler> =
            cx.snapshot.hpas.iter().map(|h| h.as_ref()).collect();
        let targeting: Vec<&HorizontalPodAutoscaler> = hpas
            .iter()
            .copied()
            .filter(|h| targets(h, w.kind(), w.name()))
            .collect();
        match targeting.as_slice() {
            [] => missing(cx, &hpas),
            [hpa] => self.judge(hpa, cx.snapshot.source),
            many => Outcome::fail(format!(
                "HorizontalPodAutoscalers {} all target {w}; they would fight over its replica count",
                many.iter()
                    .map(|h| name_of(h))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

use crate::engine::pod::hpa_targets as targets;

fn name_of(hpa: &HorizontalPodAutoscaler) -> &str {
    hpa.metadata.name.as_deref().unwrap_or_default()
}

/// No HPA targets the workload: missing on a cluster; offline it may be applied elsewhere.
fn missing(cx: &Context<'_>, hpas: &[&HorizontalPodAutoscaler]) -> Outcome {
    let w = cx.workload;
    // HPAs that name the workload but miss on kind or apiVersion are likely typos: say so.
    let near: Vec<String> = hpas
        .iter()
        .filter_map(|h| {
            let r = &h.spec.as_ref()?.scale_target_ref;
            (r.name == w.name()).then(|| {
                format!(
                    "HorizontalPodAutoscaler {} targets {} {} with apiVersion {}, not apps/v1 {}",
                    name_of(h),
                    r.kind,
                    r.name,
                    r.api_version.as_deref().unwrap_or("unset"),
                    w.kind()
                )
            })
        })
        .collect();
    let near = if near.is_empty() {
        String::new()
    } else {
        format!(" ({})", near.join("; "))
    };
    match cx.snapshot.source {
        Source::Cluster => Outcome::fail(format!("no HorizontalPodAutoscaler targets {w}{near}")),
        Source::Manifests => Outcome::Unknown(format!(
            "no HorizontalPodAutoscaler in the manifest set targets {w}{near}; \
             include it in the manifests (autoscaling/v2 and v1 HorizontalPodAutoscalers are read)"
        )),
    }
}

impl Hpa {
    fn judge(&self, hpa: &HorizontalPodAutoscaler, source: Source) -> Outcome {
        let name = name_of(hpa);
        let Some(spec) = hpa.spec.as_ref() else {
            return Outcome::fail(format!("HorizontalPodAutoscaler {name} has no spec"));
        };
        let mut findings = Vec::new();
        let min = spec.min_replicas.unwrap_or(1);
        if let Some(wanted) = self.min_replicas
            && min < wanted
        {
            let value = if spec.min_replicas.is_none() {
                "is unset (defaulted to 1)".to_string()
            } else {
                format!("is {min}")
            };
            findings.push(Finding::new(format!(
                "HorizontalPodAutoscaler {name} spec.minReplicas {value}, below {wanted}"
            )));
        }
        if let Some(wanted) = self.max_replicas
            && spec.max_replicas < wanted
        {
            findings.push(Finding::new(format!(
                "HorizontalPodAutoscaler {name} spec.maxReplicas is {}, below {wanted}",
                spec.max_replicas
            )));
        }
        let metrics = spec.metrics.as_deref().unwrap_or_default();
        // With no metrics the HPA controller scales on 80 % average CPU utilisation.
        let defaulted = metrics.is_empty();
        let resources: Vec<&str> = if defaulted {
            vec!["cpu"]
        } else {
            metrics.iter().filter_map(resource_name).collect()
        };
        let lacking: Vec<&str> = self
            .resource_metrics
            .iter()
            .map(String::as_str)
            .filter(|r| !resources.contains(r))
            .collect();
        if !lacking.is_empty() {
            let has = if defaulted {
                "none set, so the default cpu".to_string()
            } else {
                metrics.iter().map(describe).collect::<Vec<_>>().join(", ")
            };
            findings.push(Finding::new(format!(
                "HorizontalPodAutoscaler {name} spec.metrics has no resource metric for {} (it has: {has})",
                lacking.join(", ")
            )));
        }
        let mut note = "";
        match source {
            Source::Cluster => {
                // ScalingActive=False: it cannot compute a scale (no metrics, target at zero, ...);
                // AbleToScale=False: it cannot read or update the Deployment's scale.
                let conditions = hpa
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_deref())
                    .unwrap_or_default();
                for c in conditions.iter().filter(|c| {
                    matches!(c.type_.as_str(), "ScalingActive" | "AbleToScale")
                        && c.status == "False"
                }) {
                    let reason = c.reason.as_deref().unwrap_or("no reason");
                    let message = c
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    findings.push(Finding::new(format!(
                        "HorizontalPodAutoscaler {name}: {} is False ({reason}{message})",
                        c.type_
                    )));
                }
            }
            Source::Manifests => note = " (its status is not observed offline)",
        }
        let on = if defaulted {
            "cpu (the default metric)".to_string()
        } else {
            resources.join(", ")
        };
        let on = if on.is_empty() {
            String::new()
        } else {
            format!(" on {on}")
        };
        Outcome::from_findings(
            findings,
            Vec::new(),
            format!(
                "HorizontalPodAutoscaler {name} scales {} {} from {min} to {} replicas{on}{note}",
                spec.scale_target_ref.kind, spec.scale_target_ref.name, spec.max_replicas
            ),
        )
    }
}

/// The resource a Resource or ContainerResource metric scales on (both scale on a resource's
/// usage; ContainerResource looks at one container only).
fn resource_name(metric: &MetricSpec) -> Option<&str> {
    match metric.type_.as_str() {
        "Resource" => metric.resource.as_ref().map(|r| r.name.as_str()),
        "ContainerResource" => metric.container_resource.as_ref().map(|r| r.name.as_str()),
        _ => None,
    }
}

fn describe(metric: &MetricSpec) -> String {
    let name = match metric.type_.as_str() {
        "Resource" => metric.resource.as_ref().map(|r| r.name.clone()),
        "ContainerResource" => metric
            .container_resource
            .as_ref()
            .map(|r| format!("{} of container {}", r.name, r.container)),
        "Pods" => metric.pods.as_ref().map(|p| p.metric.name.clone()),
        "Object" => metric.object.as_ref().map(|o| o.metric.name.clone()),
        "External" => metric.external.as_ref().map(|e| e.metric.name.clone()),
        _ => None,
    };
    match name {
        Some(n) => format!("{} {n}", metric.type_),
        None => metric.type_.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::Snapshot;
    use k8s_openapi::api::apps::v1::Deployment;

    fn judge(check: &Hpa, source: Source, hpas: &[&str]) -> Outcome {
        let deployment: Deployment = serde_yaml_ng::from_str("{metadata: {name: api}}").unwrap();
        let mut snapshot = Snapshot::new("default", jiff::Timestamp::UNIX_EPOCH, source);
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
            item: "hpa",
        })
    }

    fn hpa(name: &str, rest: &str) -> String {
        format!(
            "{{metadata: {{name: {name}}}, spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: api}}, maxReplicas: 10{rest}}}}}"
        )
    }

    fn params(yaml: &str) -> Hpa {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_min_replicas_and_metrics() {
        let check = params("{minReplicas: 2, resourceMetrics: [cpu, memory]}");
        let Outcome::Fail(findings) = judge(&check, Source::Cluster, &[&hpa("api", "")]) else {
            panic!()
        };
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "HorizontalPodAutoscaler api spec.minReplicas is unset (defaulted to 1), below 2",
                "HorizontalPodAutoscaler api spec.metrics has no resource metric for memory (it has: none set, so the default cpu)",
            ]
        );
        assert_eq!(
            judge(&params("{resourceMetrics: [cpu]}"), Source::Cluster, &[&hpa("api", "")]),
            Outcome::Pass("HorizontalPodAutoscaler api scales Deployment api from 1 to 10 replicas on cpu (the default metric)".into())
        );
    }

    #[test]
    fn container_resource_metrics_count() {
        let metrics = ", metrics: [{type: ContainerResource, containerResource: {name: memory, container: app, target: {type: Utilization, averageUtilization: 70}}}, {type: Pods, pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: '10'}}}]";
        let check = params("{resourceMetrics: [memory, cpu]}");
        assert_eq!(
            judge(&check, Source::Cluster, &[&hpa("api", metrics)]),
            Outcome::fail(
                "HorizontalPodAutoscaler api spec.metrics has no resource metric for cpu (it has: ContainerResource memory of container app, Pods rps)"
            )
        );
    }

    #[test]
    fn two_hpas_and_near_misses() {
        let check = params("{}");
        assert_eq!(
            judge(&check, Source::Cluster, &[&hpa("a", ""), &hpa("b", "")]),
            Outcome::fail(
                "HorizontalPodAutoscalers a, b all target Deployment api; they would fight over its replica count"
            )
        );
        let old = hpa("api", "").replace("apps/v1", "extensions/v1beta1");
        assert_eq!(
            judge(&check, Source::Cluster, &[&old]),
            Outcome::fail(
                "no HorizontalPodAutoscaler targets Deployment api (HorizontalPodAutoscaler api targets Deployment api with apiVersion extensions/v1beta1, not apps/v1 Deployment)"
            )
        );
        let Outcome::Unknown(why) = judge(&check, Source::Manifests, &[]) else {
            panic!()
        };
        assert!(
            why.starts_with(
                "no HorizontalPodAutoscaler in the manifest set targets Deployment api;"
            )
        );
    }

    #[test]
    fn status_only_on_a_cluster() {
        let status = "{metadata: {name: api}, spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}, maxReplicas: 10}, status: {desiredReplicas: 0, conditions: [{type: AbleToScale, status: 'True', reason: SucceededGetScale}, {type: ScalingActive, status: 'False', reason: FailedGetResourceMetric, message: 'missing request for cpu in container app'}]}}";
        assert_eq!(
            judge(&params("{}"), Source::Cluster, &[status]),
            Outcome::fail(
                "HorizontalPodAutoscaler api: ScalingActive is False (FailedGetResourceMetric: missing request for cpu in container app)"
            )
        );
        assert_eq!(
            judge(&params("{}"), Source::Manifests, &[status]),
            Outcome::Pass("HorizontalPodAutoscaler api scales Deployment api from 1 to 10 replicas on cpu (the default metric) (its status is not observed offline)".into())
        );
    }
}
