//! Helpers over the pod template and label selectors, shared by the checks.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Snapshot, Workload, WorkloadKind};

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

/// Whether an HPA's scaleTargetRef is this workload (its kind and name, apiVersion apps/v1 or
/// unset).
pub fn hpa_targets(hpa: &HorizontalPodAutoscaler, kind: WorkloadKind, name: &str) -> bool {
    hpa_scaled(hpa) == Some((kind, name))
}

/// The workload a HorizontalPodAutoscaler scales, if it scales a Deployment or StatefulSet
/// (a DaemonSet has no scale subresource).
pub fn hpa_scaled(hpa: &HorizontalPodAutoscaler) -> Option<(WorkloadKind, &str)> {
    let r = &hpa.spec.as_ref()?.scale_target_ref;
    let kind = WorkloadKind::from_kind(&r.kind).filter(|k| *k != WorkloadKind::DaemonSet)?;
    r.api_version
        .as_deref()
        .is_none_or(|v| v == "apps/v1")
        .then_some((kind, r.name.as_str()))
}

/// The HorizontalPodAutoscaler whose scaleTargetRef is this workload, if any.
pub fn hpa_for<'a>(
    snapshot: &'a Snapshot,
    workload: &Workload,
) -> Option<&'a HorizontalPodAutoscaler> {
    snapshot
        .hpas
        .iter()
        .map(|h| h.as_ref())
        .find(|h| hpa_targets(h, workload.kind(), workload.name()))
}

/// The replica count the workload runs at its low point: the HPA's minReplicas when an HPA
/// scales it (default 1), otherwise spec.replicas (default 1). Returns the source too. A
/// DaemonSet runs one pod per eligible node: its count is the nodes it is scheduled on
/// (`status.desiredNumberScheduled`), 0 before its controller reported one.
pub fn baseline_replicas(snapshot: &Snapshot, workload: &Workload) -> (i32, String) {
    if let Some(hpa) = hpa_for(snapshot, workload) {
        let min = hpa.spec.as_ref().and_then(|s| s.min_replicas).unwrap_or(1);
        let hpa_name = hpa.metadata.name.as_deref().unwrap_or_default();
        return (
            min,
            format!("HorizontalPodAutoscaler {hpa_name} spec.minReplicas"),
        );
    }
    match workload.spec_replicas() {
        Ok(replicas) => (replicas.unwrap_or(1), format!("{workload} spec.replicas")),
        Err(_) => (
            workload.progress().map_or(0, |p| p.desired),
            format!("{workload} status.desiredNumberScheduled (one pod per node)"),
        ),
    }
}

/// The claims a StatefulSet's `volumeClaimTemplates` give its pods: `<template>-<set>-<ordinal>`
/// for each ordinal below spec.replicas (default 1); none for other kinds.
pub fn claims_of_templates(workload: &Workload) -> Vec<String> {
    let templates = workload.volume_claim_templates();
    if templates.is_empty() {
        return Vec::new();
    }
    let replicas = workload.spec_replicas().ok().flatten().unwrap_or(1).max(0);
    let name = workload.name();
    templates
        .iter()
        .filter_map(|t| t.metadata.name.as_deref())
        .flat_map(|t| (0..replicas).map(move |i| format!("{t}-{name}-{i}")))
        .collect()
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
