use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service as K8sService;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::references::{assumed_of_kind, labels_display, pairs_display};
use super::{Check, Context};
use crate::api::Phase;
use crate::engine::{Finding, Outcome, Snapshot, pod};

/// Parameters of the `service` check: a Service selects the pods, its named target ports exist,
/// and (with `readyEndpoints`, PostRollout by default) its EndpointSlices have ready endpoints.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// A specific Service; by default a StatefulSet's governing Service (spec.serviceName),
    /// otherwise any Service that selects the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Require at least this many ready endpoints (live only). 0 = do not look at endpoints.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub ready_endpoints: i32,
}

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

impl Check for Service {
    /// Endpoints exist only once pods run, so a gate that counts them judges after the rollout.
    fn default_phase(&self) -> Phase {
        if self.ready_endpoints > 0 {
            Phase::PostRollout
        } else {
            Phase::PreRollout
        }
    }

    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let snapshot = cx.snapshot;
        // A StatefulSet's own Service is the one its spec.serviceName governs it by.
        let name = self.name.as_deref().or(cx.workload.service_name());
        let services: Vec<&K8sService> = match name {
            Some(name) => match snapshot.service(name) {
                None => return self.absent(cx, Some(name)),
                Some(svc) => {
                    let selector = svc
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.clone())
                        .unwrap_or_default();
                    if selector.is_empty() {
                        return Outcome::fail(format!(
                            "Service {name}: has no selector, so it selects no pods (its endpoints are managed by hand)"
                        ));
                    }
                    if !pod::map_selector_matches(&selector, cx.pod_labels) {
                        return Outcome::fail(format!(
                            "Service {name}: selector {} does not select the pods ({})",
                            pairs_display(&selector),
                            labels_display(cx.pod_labels)
                        ));
                    }
                    vec![svc]
                }
            },
            None => {
                let selecting: Vec<&K8sService> = snapshot
                    .services
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|svc| {
                        svc.spec
                            .as_ref()
                            .and_then(|s| s.selector.as_ref())
                            .is_some_and(|sel| pod::map_selector_matches(sel, cx.pod_labels))
                    })
                    .collect();
                if selecting.is_empty() {
                    return self.absent(cx, None);
                }
                selecting
            }
        };
        let names: Vec<&str> = services
            .iter()
            .map(|s| s.metadata.name.as_deref().unwrap_or_default())
            .collect();

        let findings: Vec<Finding> = services
            .iter()
            .flat_map(|svc| port_findings(svc, cx))
            .collect();
        if !findings.is_empty() {
            return Outcome::Fail(findings);
        }
        let selected = format!("Service {} selects the pods", names.join(", "));
        if self.ready_endpoints <= 0 {
            return Outcome::Pass(format!("{selected}; named targetPorts exist"));
        }
        if snapshot.is_offline() {
            return Outcome::Skipped(format!(
                "{selected}; ready endpoints are not observable offline"
            ));
        }
        let counts: Vec<(&str, usize, bool)> = names
            .iter()
            .map(|name| {
                let (ready, has_slices) = ready_endpoints(snapshot, name);
                (*name, ready, has_slices)
            })
            .collect();
        let want = usize::try_from(self.ready_endpoints).unwrap_or(0);
        if let Some((name, ready, _)) = counts.iter().find(|(_, ready, _)| *ready >= want) {
            return Outcome::Pass(format!(
                "Service {name} selects the pods; {ready} ready endpoint(s) (want at least {want})"
            ));
        }
        Outcome::Fail(
            counts
                .iter()
                .map(|(name, ready, has_slices)| {
                    let why = if *has_slices {
                        String::new()
                    } else {
                        format!(" (no EndpointSlice labelled {SERVICE_NAME_LABEL}={name})")
                    };
                    Finding::new(format!(
                        "Service {name}: {ready} ready endpoint(s), want at least {want}{why}"
                    ))
                })
                .collect(),
        )
    }
}

impl Service {
    /// No Service selects the pods (`name` unset), or the named one does not exist. Offline,
    /// it may be created elsewhere.
    fn absent(&self, cx: &Context<'_>, name: Option<&str>) -> Outcome {
        let snapshot = cx.snapshot;
        let missing = match name {
            Some(n) => format!("Service {n}: not found"),
            None => format!(
                "no Service selects the pods ({})",
                labels_display(cx.pod_labels)
            ),
        };
        if !snapshot.is_offline() {
            return Outcome::fail(missing);
        }
        let assumed: Vec<&str> = match name {
            Some(n) => snapshot
                .is_assumed_present("Service", n)
                .then_some(n)
                .into_iter()
                .collect(),
            None => assumed_of_kind(snapshot, "Service"),
        };
        if assumed.is_empty() {
            return Outcome::Unknown(match name {
                Some(n) => format!(
                    "Service {n}: not in the manifests; if it is created outside these manifests, declare it with --assume-present service/{n}"
                ),
                None => format!(
                    "{missing}; if one is created outside these manifests, declare it with --assume-present service/NAME"
                ),
            });
        }
        let note = format!(
            "Service {} assumed present (--assume-present), its selector and ports not verified",
            assumed.join(", ")
        );
        if self.ready_endpoints > 0 {
            Outcome::Skipped(format!(
                "{note}; ready endpoints are not observable offline"
            ))
        } else {
            Outcome::Pass(note)
        }
    }
}

/// Named targetPorts must name a port, with the Service port's protocol, of an app container
/// or native sidecar: the EndpointSlice controller resolves them there, and a name it cannot
/// resolve leaves the pod out of the Service.
fn port_findings(svc: &K8sService, cx: &Context<'_>) -> Vec<Finding> {
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let mut findings = Vec::new();
    for port in svc.spec.iter().flat_map(|s| s.ports.iter().flatten()) {
        let Some(IntOrString::String(target)) = &port.target_port else {
            continue;
        };
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        let declared: Vec<&str> = pod::containers(cx.pod)
            .filter(|(_, role)| role.long_running())
            .flat_map(|(c, _)| c.ports.iter().flatten())
            .filter(|p| p.name.as_deref() == Some(target.as_str()))
            .map(|p| p.protocol.as_deref().unwrap_or("TCP"))
            .collect();
        if declared.is_empty() {
            findings.push(Finding::new(format!(
                "Service {name}: targetPort {target:?} names no port of the pod's containers"
            )));
        } else if !declared.contains(&protocol) {
            findings.push(Finding::new(format!(
                "Service {name}: targetPort {target:?} names a {} port of the pod's containers, but the Service port is {protocol}",
                declared.join("/")
            )));
        }
    }
    findings
}

/// Ready endpoints of a Service over its EndpointSlices, and whether it has any slice.
/// `conditions.ready` unset counts as ready (the API says to interpret unknown as ready). A pod
/// appears once per address family in dual-stack clusters, so endpoints are counted by pod.
fn ready_endpoints(snapshot: &Snapshot, service: &str) -> (usize, bool) {
    let slices: Vec<_> = snapshot
        .endpoint_slices
        .iter()
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .is_some_and(|n| n == service)
        })
        .collect();
    let mut ready = BTreeSet::new();
    for endpoint in slices.iter().flat_map(|s| s.endpoints.iter()) {
        if !endpoint
            .conditions
            .as_ref()
            .and_then(|c| c.ready)
            .unwrap_or(true)
        {
            continue;
        }
        let id = match &endpoint.target_ref {
            Some(r) if r.name.is_some() => format!(
                "{}/{}",
                r.kind.as_deref().unwrap_or_default(),
                r.name.as_deref().unwrap_or_default()
            ),
            _ => endpoint.addresses.join(","),
        };
        ready.insert(id);
    }
    (ready.len(), !slices.is_empty())
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
    spec:
      initContainers:
        - {name: proxy, image: envoy, restartPolicy: Always, ports: [{name: admin, containerPort: 9901}]}
        - {name: migrate, image: m, ports: [{name: setup, containerPort: 1}]}
      containers:
        - {name: api, image: x, ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: http}, {port: 9901, targetPort: admin}]
"#;

    fn slice(name: &str, service: &str, endpoints: &str) -> String {
        format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, labels: {{kubernetes.io/service-name: {service}}}}}\naddressType: IPv4\nendpoints: {endpoints}\n"
        )
    }

    fn check(ready: i32) -> Service {
        Service {
            name: None,
            ready_endpoints: ready,
        }
    }

    #[test]
    fn default_phase_follows_ready_endpoints() {
        assert_eq!(check(0).default_phase(), Phase::PreRollout);
        assert_eq!(check(1).default_phase(), Phase::PostRollout);
    }

    #[test]
    fn sidecar_ports_count_but_init_ports_and_wrong_protocols_do_not() {
        let yaml = format!(
            "{DEPLOYMENT}---\napiVersion: v1\nkind: Service\nmetadata: {{name: other}}\nspec: {{selector: {{app: api}}, ports: [{{port: 1, targetPort: setup}}, {{port: 53, targetPort: dns}}, {{port: 53, protocol: UDP, targetPort: dns}}]}}\n"
        );
        assert_eq!(
            fail_messages(&evaluate(&check(0), &snapshot(&yaml, Source::Cluster, &[]))),
            [
                r#"Service other: targetPort "setup" names no port of the pod's containers"#,
                r#"Service other: targetPort "dns" names a UDP port of the pod's containers, but the Service port is TCP"#,
            ]
        );
    }

    #[test]
    fn selectorless_service_selects_nothing() {
        let yaml = DEPLOYMENT.replace("  selector: {app: api}\n  ports", "  ports");
        let named = Service {
            name: Some("api".into()),
            ready_endpoints: 0,
        };
        assert_eq!(
            fail_messages(&evaluate(&named, &snapshot(&yaml, Source::Cluster, &[]))),
            [
                "Service api: has no selector, so it selects no pods (its endpoints are managed by hand)"
            ]
        );
        assert_eq!(
            fail_messages(&evaluate(&check(0), &snapshot(&yaml, Source::Cluster, &[]))),
            ["no Service selects the pods (labels app=api)"]
        );
    }

    #[test]
    fn named_service_with_another_selector_fails() {
        let yaml = DEPLOYMENT.replace(
            "selector: {app: api}\n  ports",
            "selector: {app: web}\n  ports",
        );
        let named = Service {
            name: Some("api".into()),
            ready_endpoints: 0,
        };
        assert_eq!(
            fail_messages(&evaluate(&named, &snapshot(&yaml, Source::Cluster, &[]))),
            ["Service api: selector app=web does not select the pods (labels app=api)"]
        );
    }

    #[test]
    fn ready_endpoints_count_nil_as_ready_and_dedupe_dual_stack() {
        let pod = |n: &str, ready: &str| {
            format!("{{addresses: [10.0.0.{n}], targetRef: {{kind: Pod, name: api-{n}}}{ready}}}")
        };
        let yaml = format!(
            "{DEPLOYMENT}{}{}{}",
            slice(
                "a",
                "api",
                &format!(
                    "[{}, {}, {}]",
                    pod("1", ""),
                    pod("2", ", conditions: {ready: true}"),
                    pod("3", ", conditions: {ready: false}")
                )
            ),
            // The IPv6 slice of the same pods.
            slice("b", "api", &format!("[{}]", pod("1", ""))),
            slice("c", "other", &format!("[{}]", pod("9", ""))),
        );
        let s = snapshot(&yaml, Source::Cluster, &[]);
        assert_eq!(ready_endpoints(&s, "api"), (2, true));
        assert!(
            matches!(evaluate(&check(2), &s), Outcome::Pass(m) if m.contains("2 ready endpoint(s)"))
        );
        assert_eq!(
            fail_messages(&evaluate(&check(3), &s)),
            ["Service api: 2 ready endpoint(s), want at least 3"]
        );
    }

    #[test]
    fn no_slices_says_so() {
        let s = snapshot(DEPLOYMENT, Source::Cluster, &[]);
        assert_eq!(
            fail_messages(&evaluate(&check(1), &s)),
            [
                "Service api: 0 ready endpoint(s), want at least 1 (no EndpointSlice labelled kubernetes.io/service-name=api)"
            ]
        );
    }

    #[test]
    fn offline() {
        let s = snapshot(DEPLOYMENT, Source::Manifests, &[]);
        assert!(
            matches!(evaluate(&check(1), &s), Outcome::Skipped(m) if m.contains("not observable offline"))
        );
        let named = Service {
            name: Some("web".into()),
            ready_endpoints: 0,
        };
        assert_eq!(
            evaluate(&named, &s),
            Outcome::Unknown(
                "Service web: not in the manifests; if it is created outside these manifests, declare it with --assume-present service/web".into()
            )
        );
        let s = snapshot(DEPLOYMENT, Source::Manifests, &[("Service", "web")]);
        assert!(
            matches!(evaluate(&named, &s), Outcome::Pass(m) if m.contains("web assumed present"))
        );
        let lone = DEPLOYMENT.split("---").next().unwrap();
        assert_eq!(
            evaluate(&check(0), &snapshot(lone, Source::Manifests, &[])),
            Outcome::Unknown(
                "no Service selects the pods (labels app=api); if one is created outside these manifests, declare it with --assume-present service/NAME".into()
            )
        );
    }
}
