use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Check, Context};
use crate::engine::{Finding, Outcome, pod};

/// Parameters of the `probes` check. Applies to app containers and native sidecars.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Probes {
    /// Require a readinessProbe.
    #[serde(default = "super::yes")]
    pub readiness: bool,
    /// Require a livenessProbe.
    #[serde(default = "super::yes")]
    pub liveness: bool,
    /// Require a startupProbe.
    #[serde(default)]
    pub startup: bool,
    /// Require the liveness and readiness probes to differ (a shared one restarts pods that are merely busy).
    #[serde(default)]
    pub distinct: bool,
    /// Only these containers; empty means every app container and native sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
}

impl Check for Probes {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let mut findings = Vec::new();
        let mut checked = 0;
        for (container, role) in pod::containers(cx.pod) {
            // Plain init containers run to completion; the API server refuses probes on them.
            if !role.long_running()
                || (!self.containers.is_empty() && !self.containers.contains(&container.name))
            {
                continue;
            }
            checked += 1;
            let wanted = [
                (self.readiness, "readinessProbe", &container.readiness_probe),
                (self.liveness, "livenessProbe", &container.liveness_probe),
                (self.startup, "startupProbe", &container.startup_probe),
            ];
            for (required, field, probe) in wanted {
                match probe {
                    None if required => findings.push(Finding::in_container(
                        &container.name,
                        format!("no {field}"),
                    )),
                    None => {}
                    Some(probe) => {
                        if let Some(port) =
                            named_port(probe).filter(|p| !pod::container_has_port(container, p))
                        {
                            findings.push(Finding::in_container(
                                &container.name,
                                format!(
                                    "{field} port {} names no port of the container",
                                    pod::port_display(port)
                                ),
                            ));
                        }
                    }
                }
            }
            if self.distinct
                && let (Some(l), Some(r)) = (&container.liveness_probe, &container.readiness_probe)
                && l == r
            {
                findings.push(Finding::in_container(
                    &container.name,
                    "livenessProbe is identical to readinessProbe (a busy pod would be restarted instead of taken out of rotation)",
                ));
            }
        }
        for name in &self.containers {
            if !pod::containers(cx.pod).any(|(c, _)| &c.name == name) {
                findings.push(Finding::new(format!(
                    "container {name}: not in the pod template"
                )));
            }
        }
        let kinds: Vec<&str> = [
            (self.readiness, "readiness"),
            (self.liveness, "liveness"),
            (self.startup, "startup"),
        ]
        .into_iter()
        .filter_map(|(on, k)| on.then_some(k))
        .collect();
        Outcome::from_findings(
            findings,
            Vec::new(),
            format!("{checked} container(s) have {} probes", kinds.join(", ")),
        )
    }
}

/// The port of an httpGet, tcpSocket probe when it is given by name.
fn named_port(probe: &Probe) -> Option<&IntOrString> {
    let port = probe
        .http_get
        .as_ref()
        .map(|h| &h.port)
        .or(probe.tcp_socket.as_ref().map(|t| &t.port))?;
    matches!(port, IntOrString::String(_)).then_some(port)
}
