//! API versions Kubernetes no longer serves.
//!
//! One rule: an object in a removed API version of a kind gonogo reads is judged as the
//! version that replaced it — converted the way the API server converted it while it served
//! both — with a warning naming the object, its version and the replacement, because a
//! cluster refuses it as written. Nothing is dropped silently.
//!
//! A version still served but not the one gonogo reads is converted without a warning:
//! `autoscaling/v1` HorizontalPodAutoscalers (see [`hpa_v1_as_v2`]). Other versions of the
//! kinds gonogo reads (`autoscaling/v2beta2`, ...) are skipped with a warning by the manifest
//! set.

use serde_json::{Map, Value, json};

use super::Document;

/// A removed API version and what replaced it.
struct Removed {
    api_version: &'static str,
    kind: &'static str,
    replacement: &'static str,
    /// The first Kubernetes minor that no longer serves it.
    removed_in: &'static str,
}

/// Served versions read by conversion to the one gonogo reads, by kind (see [`hpa_v1_as_v2`]).
pub const ALSO_READ: &[(&str, &str)] = &[("HorizontalPodAutoscaler", "autoscaling/v1")];

const REMOVED: &[Removed] = &[
    Removed {
        api_version: "extensions/v1beta1",
        kind: "Deployment",
        replacement: "apps/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "apps/v1beta1",
        kind: "Deployment",
        replacement: "apps/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "apps/v1beta2",
        kind: "Deployment",
        replacement: "apps/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "apps/v1beta1",
        kind: "StatefulSet",
        replacement: "apps/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "apps/v1beta2",
        kind: "StatefulSet",
        replacement: "apps/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "extensions/v1beta1",
        kind: "DaemonSet",
        replacement: "apps/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "apps/v1beta2",
        kind: "DaemonSet",
        replacement: "apps/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "extensions/v1beta1",
        kind: "NetworkPolicy",
        replacement: "networking.k8s.io/v1",
        removed_in: "1.16",
    },
    Removed {
        api_version: "extensions/v1beta1",
        kind: "Ingress",
        replacement: "networking.k8s.io/v1",
        removed_in: "1.22",
    },
    Removed {
        api_version: "networking.k8s.io/v1beta1",
        kind: "Ingress",
        replacement: "networking.k8s.io/v1",
        removed_in: "1.22",
    },
    Removed {
        api_version: "policy/v1beta1",
        kind: "PodDisruptionBudget",
        replacement: "policy/v1",
        removed_in: "1.25",
    },
    Removed {
        api_version: "discovery.k8s.io/v1beta1",
        kind: "EndpointSlice",
        replacement: "discovery.k8s.io/v1",
        removed_in: "1.25",
    },
];

/// Bring `doc` to the served version of its kind when its version was removed; the warning
/// to print when it was.
pub fn upgrade(doc: &mut Document) -> Option<String> {
    let api_version = doc.value.get("apiVersion")?.as_str()?;
    let kind = doc.value.get("kind")?.as_str()?;
    let removed = REMOVED
        .iter()
        .find(|r| r.api_version == api_version && r.kind == kind)?;
    let (kind, old_version) = (removed.kind, removed.api_version);
    let name = doc
        .value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string();
    let object = doc.value.as_object_mut()?;
    object.insert("apiVersion".into(), removed.replacement.into());
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        match kind {
            "Deployment" => selector_from_template(spec),
            "StatefulSet" | "DaemonSet" => {
                selector_from_template(spec);
                // These first versions defaulted updates to OnDelete.
                if matches!(old_version, "apps/v1beta1" | "extensions/v1beta1")
                    && spec.get("updateStrategy").is_none_or(Value::is_null)
                {
                    spec.insert("updateStrategy".into(), json!({"type": "OnDelete"}));
                }
            }
            "Ingress" => ingress(spec),
            "PodDisruptionBudget" => pdb(spec),
            _ => {}
        }
    }
    Some(format!(
        "{}:{}: {kind} {name} is {}, which Kubernetes {}+ does not serve; judged as {} (change its apiVersion to {}: a cluster refuses it as written)",
        doc.file,
        doc.line,
        removed.api_version,
        removed.removed_in,
        removed.replacement,
        removed.replacement
    ))
}

/// The old versions of the workload kinds defaulted a missing selector to the template's labels.
fn selector_from_template(spec: &mut Map<String, Value>) {
    if spec.get("selector").is_none_or(Value::is_null)
        && let Some(labels) = spec
            .get("template")
            .and_then(|t| t.pointer("/metadata/labels"))
            .cloned()
    {
        spec.insert("selector".into(), json!({"matchLabels": labels}));
    }
}

/// `serviceName`/`servicePort` backends became `service: {name, port}`; `pathType` became
/// required (the old default: ImplementationSpecific); `backend` became `defaultBackend`.
fn ingress(spec: &mut Map<String, Value>) {
    if let Some(backend) = spec.remove("backend") {
        spec.insert("defaultBackend".into(), backend);
    }
    if let Some(backend) = spec.get_mut("defaultBackend") {
        convert_backend(backend);
    }
    for rule in spec
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for path in rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(path) = path.as_object_mut() else {
                continue;
            };
            path.entry("pathType")
                .or_insert_with(|| "ImplementationSpecific".into());
            if let Some(backend) = path.get_mut("backend") {
                convert_backend(backend);
            }
        }
    }
}

fn convert_backend(backend: &mut Value) {
    let Some(backend) = backend.as_object_mut() else {
        return;
    };
    let Some(name) = backend.remove("serviceName") else {
        return;
    };
    let port = match backend.remove("servicePort") {
        Some(Value::Number(n)) => json!({"number": n}),
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(n) => json!({"number": n}),
            Err(_) => json!({"name": s}),
        },
        _ => Value::Null,
    };
    let mut service = json!({"name": name});
    if !port.is_null() {
        service["port"] = port;
    }
    backend.insert("service".into(), service);
}

/// In policy/v1beta1 an empty selector selects no pod; in policy/v1 it selects every pod.
fn pdb(spec: &mut Map<String, Value>) {
    let empty = match spec.get("selector") {
        None | Some(Value::Null) => true,
        Some(Value::Object(s)) => s.values().all(|v| match v {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }),
        Some(_) => false,
    };
    if empty {
        spec.insert(
            "selector".into(),
            json!({"matchExpressions": [{"key": "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match", "operator": "Exists"}]}),
        );
    }
}

/// An `autoscaling/v1` HorizontalPodAutoscaler (still served) as the API server shows it in
/// `autoscaling/v2`: `targetCPUUtilizationPercentage` becomes a Resource `cpu` metric with a
/// Utilization target, `currentCPUUtilizationPercentage` its current value. `None` for any
/// other object.
pub fn hpa_v1_as_v2(value: &Value) -> Option<Value> {
    if value.get("apiVersion")?.as_str()? != "autoscaling/v1"
        || value.get("kind")?.as_str()? != "HorizontalPodAutoscaler"
    {
        return None;
    }
    let mut value = value.clone();
    let object = value.as_object_mut()?;
    object.insert("apiVersion".into(), "autoscaling/v2".into());
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(target) = spec.remove("targetCPUUtilizationPercentage")
        && !target.is_null()
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target}}}]),
        );
    }
    if let Some(status) = object.get_mut("status").and_then(Value::as_object_mut)
        && let Some(current) = status.remove("currentCPUUtilizationPercentage")
        && !current.is_null()
    {
        status.insert(
            "currentMetrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": current}}}]),
        );
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(value: Value) -> Document {
        Document {
            file: "old.yaml".into(),
            line: 3,
            helm_source: None,
            value,
        }
    }

    #[test]
    fn an_old_deployment_is_judged_as_apps_v1_with_a_warning() {
        let mut d = doc(
            json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}}}}}),
        );
        let warning = upgrade(&mut d).unwrap();
        assert_eq!(d.value["apiVersion"], "apps/v1");
        assert_eq!(d.value["spec"]["selector"]["matchLabels"]["app"], "web");
        assert!(
            warning.starts_with("old.yaml:3: Deployment web is extensions/v1beta1, which Kubernetes 1.16+ does not serve; judged as apps/v1"),
            "{warning}"
        );
        let mut current = doc(json!({"apiVersion": "apps/v1", "kind": "Deployment"}));
        assert_eq!(upgrade(&mut current), None);
    }

    #[test]
    fn an_old_daemonset_is_judged_as_apps_v1_with_its_old_default_strategy() {
        let mut old = doc(
            json!({"apiVersion": "extensions/v1beta1", "kind": "DaemonSet",
                   "metadata": {"name": "agent"},
                   "spec": {"template": {"metadata": {"labels": {"app": "agent"}}}}}),
        );
        let warning = upgrade(&mut old).unwrap();
        assert!(
            warning.contains("DaemonSet agent is extensions/v1beta1"),
            "{warning}"
        );
        assert_eq!(old.value["apiVersion"], "apps/v1");
        assert_eq!(
            old.value["spec"]["selector"],
            json!({"matchLabels": {"app": "agent"}})
        );
        assert_eq!(
            old.value["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );
        let mut newer = doc(json!({"apiVersion": "apps/v1beta2", "kind": "StatefulSet",
                   "metadata": {"name": "db"}, "spec": {"selector": {"matchLabels": {"app": "db"}}}}));
        assert!(upgrade(&mut newer).is_some());
        assert!(
            newer.value["spec"].get("updateStrategy").is_none(),
            "apps/v1beta2 defaulted RollingUpdate"
        );
    }

    #[test]
    fn an_old_ingress_gets_the_v1_backend_shape() {
        let mut d = doc(
            json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
            "metadata": {"name": "web"},
            "spec": {"backend": {"serviceName": "web", "servicePort": "http"},
                     "rules": [{"http": {"paths": [{"path": "/", "backend": {"serviceName": "web", "servicePort": 80}}]}}]}}),
        );
        upgrade(&mut d).unwrap();
        assert_eq!(
            d.value["spec"]["defaultBackend"],
            json!({"service": {"name": "web", "port": {"name": "http"}}})
        );
        let path = &d.value["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["pathType"], "ImplementationSpecific");
        assert_eq!(
            path["backend"],
            json!({"service": {"name": "web", "port": {"number": 80}}})
        );
    }

    #[test]
    fn an_empty_v1beta1_pdb_selector_still_selects_nothing() {
        let mut d = doc(
            json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "p"}, "spec": {"selector": {}, "minAvailable": 1}}),
        );
        upgrade(&mut d).unwrap();
        assert_eq!(d.value["apiVersion"], "policy/v1");
        assert!(d.value["spec"]["selector"]["matchExpressions"].is_array());
    }

    #[test]
    fn an_autoscaling_v1_hpa_reads_as_v2_with_a_cpu_utilization_metric() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 3, "maxReplicas": 11, "targetCPUUtilizationPercentage": 50},
            "status": {"currentReplicas": 3, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 12}});
        let v2 = hpa_v1_as_v2(&v1).unwrap();
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(v2["spec"]["minReplicas"], 3);
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}])
        );
        assert!(v2["spec"].get("targetCPUUtilizationPercentage").is_none());
        assert_eq!(
            v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
            12
        );
        // Without a CPU target there is no metric (the API server converts it so too).
        let bare = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"}, "spec": {"maxReplicas": 2}});
        assert!(
            hpa_v1_as_v2(&bare).unwrap()["spec"]
                .get("metrics")
                .is_none()
        );
        assert_eq!(
            hpa_v1_as_v2(
                &json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"})
            ),
            None
        );
    }
}
