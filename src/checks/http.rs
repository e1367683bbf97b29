use jiff::Timestamp;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::api::Phase;
use crate::engine::{GateKey, Outcome, ProbeObservation, ProbeOutcome, pod};

/// Parameters of the `http` check (PostRollout): GET (or HEAD) a path on a Service port in the
/// DeploymentReadiness's namespace, through its ready endpoints.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    /// A Service in the same namespace: its plain name (a DNS label), never `name.namespace`
    /// or a host name: http gates reach only their own namespace's Services.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub service: String,
    /// The Service port, by number (1-65535) or name (at most 15 characters).
    // Number and length bounds each apply to their own type only; a CEL rule telling the two
    // apart would exceed the CRD's cost budget.
    #[schemars(extend("minimum" = 1, "maximum" = 65535, "minLength" = 1, "maxLength" = 15))]
    pub port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    #[serde(default = "default_path")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = kube::core::Rule::new("self.startsWith(\"/\")").message("path must start with /"))]
    pub path: String,
    /// `GET` or `HEAD`.
    #[serde(default = "default_method")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = kube::core::Rule::new("self in [\"GET\", \"HEAD\"]").message("method is GET or HEAD"))]
    pub method: String,
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = kube::core::Rule::new("self in [\"http\", \"https\"]").message("scheme is http or https"))]
    pub scheme: String,
    /// Status codes that pass (default 200).
    #[serde(default = "default_status")]
    #[schemars(length(min = 1, max = 16))]
    #[x_kube(validation = kube::core::Rule::new("self.all(c, c >= 100 && c <= 599)").message("status codes are 100-599"))]
    pub expected_status: Vec<i32>,
    /// A substring the body must contain. The body itself is never stored or reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// Conditions on a JSON body, all of which must hold (with `bodyContains` too, if set):
    /// unlike a substring, `{path: status, equals: healthy}` neither matches `"unhealthy"` nor
    /// depends on the JSON's spacing. The body itself is never stored or reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub body_json: Vec<JsonCondition>,
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: i32,
    /// Consecutive successes needed to pass.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 100))]
    pub success_threshold: i32,
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5, max = 3600))]
    pub interval_seconds: i32,
}

/// A condition on a JSON body: every value at `path` equals `equals`.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JsonCondition {
    /// Dot-separated keys from the document's root; `*` stands for every member of an object
    /// or element of an array (`components.*.status`), a number for one array element. The
    /// condition fails when the path selects nothing, or misses on any member `*` selects.
    #[schemars(length(min = 1, max = 256))]
    pub path: String,
    /// The value every selected value must be: a JSON string equal to it, or a number, boolean
    /// or null written this way (`true`, `3`).
    #[schemars(length(max = 256))]
    pub equals: String,
}

impl JsonCondition {
    /// Whether the condition holds in `document`.
    pub fn holds(&self, document: &serde_json::Value) -> bool {
        use serde_json::Value;
        let mut selected = vec![document];
        for segment in self.path.split('.') {
            let mut next = Vec::new();
            for value in selected {
                match (segment, value) {
                    ("*", Value::Object(members)) => next.extend(members.values()),
                    ("*", Value::Array(elements)) => next.extend(elements.iter()),
                    (key, Value::Object(members)) => match members.get(key) {
                        Some(v) => next.push(v),
                        None => return false,
                    },
                    (index, Value::Array(elements)) => {
                        match index.parse::<usize>().ok().and_then(|i| elements.get(i)) {
                            Some(v) => next.push(v),
                            None => return false,
                        }
                    }
                    _ => return false,
                }
            }
            selected = next;
        }
        !selected.is_empty()
            && selected.iter().all(|v| match v {
                Value::String(text) => *text == self.equals,
                Value::Object(_) | Value::Array(_) => false,
                other => other.to_string() == self.equals,
            })
    }
}

fn default_path() -> String {
    "/".into()
}
fn default_method() -> String {
    "GET".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn default_status() -> Vec<i32> {
    vec![200]
}
fn default_timeout() -> i32 {
    5
}
fn default_one() -> i32 {
    1
}
fn default_interval() -> i32 {
    30
}

impl Http {
    /// What the body must be, worded as what it failed to be; `None` when unchecked.
    fn body_expectation(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(text) = &self.body_contains {
            parts.push(format!("does not contain {text:?}"));
        }
        if !self.body_json.is_empty() {
            let conditions: Vec<String> = self
                .body_json
                .iter()
                .map(|c| format!("{} == {:?}", c.path, c.equals))
                .collect();
            parts.push(format!(
                "is not JSON in which every {}",
                conditions.join(" and every ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join(", or "))
    }
}

impl Check for Http {
    fn default_phase(&self) -> Phase {
        Phase::PostRollout
    }

    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let snapshot = cx.snapshot;
        let name = &self.service;
        // Static part: the Service and its port, judged offline too.
        let port = match snapshot.service(name) {
            Some(service) => match service_port(service, &self.port) {
                Some(port) => port,
                None => {
                    return Outcome::fail(format!(
                        "Service {name}: no port {} (ports: {})",
                        pod::port_display(&self.port),
                        list_ports(service)
                    ));
                }
            },
            None if !snapshot.is_offline() => {
                return Outcome::fail(format!(
                    "Service {name}: not found in namespace {}",
                    snapshot.namespace
                ));
            }
            None if snapshot.is_assumed_present("Service", name) => {
                return Outcome::Skipped(format!(
                    "runtime gate: judged on the live cluster (Service {name} assumed present)"
                ));
            }
            None => {
                return Outcome::Unknown(format!(
                    "Service {name}: not in the manifest set (declare it with --assume-present service/{name})"
                ));
            }
        };
        let request = format!(
            "{} {}://{name}:{port}{}",
            self.method, self.scheme, self.path
        );
        if snapshot.is_offline() {
            return Outcome::Skipped(format!(
                "runtime gate: judged on the live cluster ({request})"
            ));
        }

        let key = GateKey {
            readiness: cx.readiness.to_string(),
            checklist: cx.checklist.to_string(),
            item: cx.item.to_string(),
        };
        let Some(observation) = snapshot.observations.probes.get(&key) else {
            return Outcome::Unknown(format!("{request}: no probe result yet"));
        };
        if let Some(stale) = staleness(
            observation,
            snapshot.now,
            self.interval_seconds,
            self.timeout_seconds,
        ) {
            return Outcome::Unknown(format!("{request}: {stale}"));
        }
        match &observation.outcome {
            ProbeOutcome::Http {
                status,
                body_matched,
            } => {
                if !self.expected_status.contains(&i32::from(*status)) {
                    let expected: Vec<String> =
                        self.expected_status.iter().map(i32::to_string).collect();
                    return Outcome::fail(format!(
                        "{request} answered {status}, expected {}",
                        expected.join(" or ")
                    ));
                }
                if let Some(expected) = self.body_expectation() {
                    match body_matched {
                        Some(true) => {}
                        Some(false) => {
                            return Outcome::fail(format!(
                                "{request} answered {status} but the body {expected}"
                            ));
                        }
                        None => {
                            return Outcome::Unknown(format!(
                                "{request} answered {status}; the body was not checked yet"
                            ));
                        }
                    }
                }
                let needed = u32::try_from(self.success_threshold.max(1)).unwrap_or(1);
                let successes = observation.consecutive_successes;
                // A Pass names the threshold, not the running count: the count grows with every
                // probe and would rewrite the status on any unrelated reconcile. Below the
                // threshold the count changes only on the way to the verdict.
                if successes >= needed && needed > 1 {
                    Outcome::Pass(format!(
                        "{request} answered {status}: {needed}/{needed} consecutive successes"
                    ))
                } else if successes >= needed {
                    Outcome::Pass(format!("{request} answered {status}"))
                } else {
                    Outcome::Unknown(format!(
                        "{request} answered {status}: {successes}/{needed} consecutive successes"
                    ))
                }
            }
            ProbeOutcome::Error(reason) => Outcome::Unknown(format!("{request}: {reason}")),
            ProbeOutcome::Refused(reason) => Outcome::fail(format!("{request}: refused: {reason}")),
            ProbeOutcome::Value(_) => {
                Outcome::Unknown(format!("{request}: the probe result is not an HTTP answer"))
            }
        }
    }
}

/// The Service port an `http` gate names (by number or name): its number.
fn service_port(service: &Service, port: &IntOrString) -> Option<i32> {
    let ports = service.spec.as_ref().and_then(|s| s.ports.as_ref())?;
    ports
        .iter()
        .find(|p| match port {
            IntOrString::Int(n) => p.port == *n,
            IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
        })
        .map(|p| p.port)
}

fn list_ports(service: &Service) -> String {
    let ports: Vec<String> = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| match &p.name {
            Some(name) => format!("{name}={}", p.port),
            None => p.port.to_string(),
        })
        .collect();
    if ports.is_empty() {
        "none".into()
    } else {
        ports.join(", ")
    }
}

/// Why a probe result is too old to judge on, if it is: the prober runs every interval, so a
/// result older than three intervals means it has stalled, and a stale Pass must not stand.
pub(super) fn staleness(
    observation: &ProbeObservation,
    now: Timestamp,
    interval_seconds: i32,
    timeout_seconds: i32,
) -> Option<String> {
    let age = now.duration_since(observation.at).as_secs();
    let limit = 3 * i64::from(interval_seconds.max(1)) + i64::from(timeout_seconds.max(0));
    // The message names the result's time, not its age, so it does not change while stale.
    (age > limit).then(|| {
        format!(
            "last probe result is from {}, more than {} ago (interval {}); the prober may have stalled",
            observation.at,
            super::prometheus::format_duration_ms(limit.saturating_mul(1000)),
            super::prometheus::format_duration_ms(i64::from(interval_seconds) * 1000)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Finding, Snapshot, Source};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::PodSpec;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn check(extra: serde_json::Value) -> Http {
        let mut params = json!({"service": "api", "port": "http", "path": "/health"});
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(params).unwrap()
    }

    #[test]
    fn json_conditions_select_every_member() {
        let condition = |path: &str, equals: &str| JsonCondition {
            path: path.into(),
            equals: equals.into(),
        };
        let doc = json!({
            "status": "healthy",
            "version": 2,
            "ok": true,
            "components": {"db": {"status": "up"}, "disk": {"status": "up"}},
            "replicas": [{"ready": true}, {"ready": true}],
            "empty": {}
        });
        assert!(condition("status", "healthy").holds(&doc));
        assert!(!condition("status", "health").holds(&doc));
        assert!(condition("version", "2").holds(&doc));
        assert!(condition("ok", "true").holds(&doc));
        assert!(condition("components.*.status", "up").holds(&doc));
        assert!(condition("replicas.*.ready", "true").holds(&doc));
        assert!(condition("replicas.1.ready", "true").holds(&doc));
        assert!(!condition("replicas.2.ready", "true").holds(&doc));
        // Nothing selected, a member without the key, a path through a scalar: no.
        assert!(!condition("empty.*.status", "up").holds(&doc));
        assert!(!condition("missing", "up").holds(&doc));
        assert!(!condition("status.deeper", "up").holds(&doc));
        assert!(!condition("components", "up").holds(&doc));
        let partial = json!({"components": {"db": {"status": "up"}, "disk": {}}});
        assert!(!condition("components.*.status", "up").holds(&partial));
        let down = json!({"components": {"db": {"status": "up"}, "disk": {"status": "down"}}});
        assert!(!condition("components.*.status", "up").holds(&down));
    }

    #[test]
    fn body_json_failure_names_the_condition() {
        let c = check(json!({"bodyJson": [{"path": "components.*.status", "equals": "up"}]}));
        assert_eq!(
            c.body_expectation().as_deref(),
            Some("is not JSON in which every components.*.status == \"up\"")
        );
    }

    fn observed(outcome: ProbeOutcome, successes: u32, at: &str) -> ProbeObservation {
        ProbeObservation {
            at: at.parse().unwrap(),
            outcome,
            consecutive_successes: successes,
            holding_since: None,
        }
    }

    fn judge(check: &Http, observation: Option<ProbeObservation>, source: Source) -> Outcome {
        let d = Deployment::default();
        let mut s = Snapshot::new("shop", "2026-06-01T00:00:00Z".parse().unwrap(), source);
        s.services.push(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "api"}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))
                .unwrap(),
        ));
        if let Some(o) = observation {
            s.observations.probes.insert(
                GateKey {
                    readiness: "api".into(),
                    checklist: "inline".into(),
                    item: "health".into(),
                },
                o,
            );
        }
        let pod = PodSpec::default();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: &s,
            workload: &crate::engine::Workload::from(d.clone()),
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "inline",
            item: "health",
        };
        check.evaluate(&cx)
    }

    const NOW: &str = "2026-06-01T00:00:00Z";

    #[test]
    fn success_threshold() {
        let c = check(json!({"successThreshold": 3}));
        let ok = |n| {
            observed(
                ProbeOutcome::Http {
                    status: 200,
                    body_matched: None,
                },
                n,
                NOW,
            )
        };
        assert_eq!(
            judge(&c, Some(ok(1)), Source::Cluster),
            Outcome::Unknown(
                "GET http://api:80/health answered 200: 1/3 consecutive successes".into()
            )
        );
        // Once passing, more successes change nothing in the status.
        for n in [3, 4, 66] {
            assert_eq!(
                judge(&c, Some(ok(n)), Source::Cluster),
                Outcome::Pass(
                    "GET http://api:80/health answered 200: 3/3 consecutive successes".into()
                )
            );
        }
    }

    #[test]
    fn status_and_body() {
        let c = check(json!({"expectedStatus": [200, 204], "bodyContains": "ok"}));
        assert_eq!(
            judge(
                &c,
                Some(observed(
                    ProbeOutcome::Http {
                        status: 500,
                        body_matched: Some(true)
                    },
                    0,
                    NOW
                )),
                Source::Cluster
            ),
            Outcome::fail("GET http://api:80/health answered 500, expected 200 or 204")
        );
        assert_eq!(
            judge(
                &c,
                Some(observed(
                    ProbeOutcome::Http {
                        status: 204,
                        body_matched: Some(false)
                    },
                    0,
                    NOW
                )),
                Source::Cluster
            ),
            Outcome::fail(
                "GET http://api:80/health answered 204 but the body does not contain \"ok\""
            )
        );
        assert!(matches!(
            judge(
                &c,
                Some(observed(
                    ProbeOutcome::Http {
                        status: 204,
                        body_matched: None
                    },
                    1,
                    NOW
                )),
                Source::Cluster
            ),
            Outcome::Unknown(_)
        ));
    }

    #[test]
    fn errors_refusals_and_missing_results() {
        let c = check(json!({}));
        assert_eq!(
            judge(&c, None, Source::Cluster),
            Outcome::Unknown("GET http://api:80/health: no probe result yet".into())
        );
        assert_eq!(
            judge(
                &c,
                Some(observed(
                    ProbeOutcome::Error("timed out after 5s".into()),
                    0,
                    NOW
                )),
                Source::Cluster
            ),
            Outcome::Unknown("GET http://api:80/health: timed out after 5s".into())
        );
        assert_eq!(
            judge(
                &c,
                Some(observed(
                    ProbeOutcome::Refused("Service in another namespace".into()),
                    0,
                    NOW
                )),
                Source::Cluster
            ),
            Outcome::Fail(vec![Finding::new(
                "GET http://api:80/health: refused: Service in another namespace"
            )])
        );
    }

    #[test]
    fn a_stale_result_does_not_pass() {
        let c = check(json!({"intervalSeconds": 30}));
        let old = observed(
            ProbeOutcome::Http {
                status: 200,
                body_matched: None,
            },
            5,
            "2026-05-31T23:50:00Z",
        );
        assert_eq!(
            judge(&c, Some(old), Source::Cluster),
            Outcome::Unknown(
                "GET http://api:80/health: last probe result is from 2026-05-31T23:50:00Z, more than 1m35s ago (interval 30s); the prober may have stalled"
                    .into()
            )
        );
        let recent = observed(
            ProbeOutcome::Http {
                status: 200,
                body_matched: None,
            },
            5,
            "2026-05-31T23:59:00Z",
        );
        assert!(matches!(
            judge(&c, Some(recent), Source::Cluster),
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn static_checks() {
        assert_eq!(
            judge(&check(json!({"port": 8080})), None, Source::Cluster),
            Outcome::fail("Service api: no port 8080 (ports: http=80)")
        );
        assert_eq!(
            judge(&check(json!({"port": "grpc"})), None, Source::Manifests),
            Outcome::fail("Service api: no port \"grpc\" (ports: http=80)")
        );
        assert_eq!(
            judge(
                &check(json!({"port": 80, "scheme": "https", "method": "HEAD"})),
                None,
                Source::Manifests
            ),
            Outcome::Skipped(
                "runtime gate: judged on the live cluster (HEAD https://api:80/health)".into()
            )
        );
        assert_eq!(
            judge(&check(json!({"service": "web"})), None, Source::Cluster),
            Outcome::fail("Service web: not found in namespace shop")
        );
        assert_eq!(
            judge(&check(json!({"service": "web"})), None, Source::Manifests),
            Outcome::Unknown("Service web: not in the manifest set (declare it with --assume-present service/web)".into())
        );
    }
}
