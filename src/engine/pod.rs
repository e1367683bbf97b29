//! Helpers over the pod template and label selectors, shared by the checks.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Snapshot;

/// How a container runs in the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerRole {
    /// `spec.containers`.
    App,
    /// An init container with `restartPolicy: Always` (a native sidecar): runs for the pod's life.
    Sidecar,
    /// A plain init container: runs to completion before the app starts.
    Init,
}

impl ContainerRole {
    /// App containers and native sidecars run for the pod's lifetime (probes apply to them).
    pub fn long_running(self) -> bool {
        !matches!(self, ContainerRole::Init)
    }
    /// The field path of a container with this role, e.g. `spec.template.spec.initContainers`.
    pub fn field(self) -> &'static str {
        match self {
            ContainerRole::App => "containers",
            ContainerRole::Sidecar | ContainerRole::Init => "initContainers",
        }
    }
}

/// Every container of the template with its role: app containers first, then init containers
/// in order. Ephemeral containers are never part of a template and are not considered.
pub fn containers(pod: &PodSpec) -> impl Iterator<Item = (&Container, ContainerRole)> {
    let app = pod.containers.iter().map(|c| (c, ContainerRole::App));
    let init = pod.init_containers.iter().flatten().map(|c| {
        let role = if c.restart_policy.as_deref() == Some("Always") {
            ContainerRole::Sidecar
        } else {
            ContainerRole::Init
        };
        (c, role)
    });
    app.chain(init)
}

/// Whether a label selector selects these labels. An empty selector selects everything.
/// The ServiceAccount a pod runs as: `serviceAccountName`, else the deprecated
/// `serviceAccount`, else `default` (as the API server defaults it).
pub fn service_account(pod: &PodSpec) -> &str {
    [&pod.service_account_name, &pod.service_account]
        .into_iter()
        .filter_map(|n| n.as_deref())
        .find(|n| !n.is_empty())
        .unwrap_or("default")
}

pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false, // the API server rejects other operators; never match on garbage
        }
    });
    labels_ok && exprs_ok
}

/// Whether a Service-style map selector selects these labels. An empty map selects nothing
/// (a selector-less Service has manually managed endpoints).
/// A label selector as people write it: `app=api,tier in (web,api)`; `{} (everything)` when
/// empty.
pub fn describe_selector(selector: &LabelSelector) -> String {
    let labels = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"));
    let expressions = selector.match_expressions.iter().flatten().map(|e| {
        let values: Vec<&str> = e.values.iter().flatten().map(String::as_str).collect();
        format!("{} {} ({})", e.key, e.operator, values.join(","))
    });
    let parts: Vec<String> = labels.chain(expressions).collect();
    if parts.is_empty() {
        "{} (everything)".into()
    } else {
        parts.join(",")
    }
}

pub fn map_selector_matches(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Whether an HPA's scaleTargetRef is this Deployment (kind Deployment, its name, apiVersion
/// apps/v1 or unset).
pub fn hpa_targets(hpa: &HorizontalPodAutoscaler, deployment: &str) -> bool {
    hpa_scaled(hpa) == Some(deployment)
}

/// The name of the Deployment a HorizontalPodAutoscaler scales, if it scales one.
pub fn hpa_scaled(hpa: &HorizontalPodAutoscaler) -> Option<&str> {
    let r = &hpa.spec.as_ref()?.scale_target_ref;
    (r.kind == "Deployment" && r.api_version.as_deref().is_none_or(|v| v == "apps/v1"))
        .then_some(r.name.as_str())
}

/// The HorizontalPodAutoscaler whose scaleTargetRef is this Deployment, if any.
pub fn hpa_for<'a>(
    snapshot: &'a Snapshot,
    deployment: &str,
) -> Option<&'a HorizontalPodAutoscaler> {
    snapshot
        .hpas
        .iter()
        .map(|h| h.as_ref())
        .find(|h| hpa_targets(h, deployment))
}

/// The replica count the Deployment runs at its low point: the HPA's minReplicas when an HPA
/// scales it (default 1), otherwise spec.replicas (default 1). Returns the source too.
pub fn baseline_replicas(
    snapshot: &Snapshot,
    deployment: &k8s_openapi::api::apps::v1::Deployment,
) -> (i32, String) {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    if let Some(hpa) = hpa_for(snapshot, name) {
        let min = hpa.spec.as_ref().and_then(|s| s.min_replicas).unwrap_or(1);
        let hpa_name = hpa.metadata.name.as_deref().unwrap_or_default();
        return (
            min,
            format!("HorizontalPodAutoscaler {hpa_name} spec.minReplicas"),
        );
    }
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    (replicas, format!("Deployment {name} spec.replicas"))
}

/// Whether a probe or Service port (number or name) exists on the container. Numbers always
/// "exist" (a container may listen on ports it does not declare); names must be declared.
pub fn container_has_port(container: &Container, port: &IntOrString) -> bool {
    match port {
        IntOrString::Int(_) => true,
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .any(|p| p.name.as_deref() == Some(name.as_str())),
    }
}

/// `IntOrString` as written in the manifest.
pub fn port_display(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => format!("{s:?}"),
    }
}
