use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{Check, Context};
use crate::engine::{Finding, Outcome, pod, quantity};

/// Parameters of the `resources` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Resources that need a request on every container (default cpu, memory).
    #[serde(default = "default_requests")]
    pub requests: Vec<String>,
    /// Resources that need a limit on every container (default memory).
    #[serde(default = "default_limits")]
    pub limits: Vec<String>,
    /// Allowed ranges for requests or limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub ranges: Vec<ResourceRange>,
    /// Also check plain init containers (app containers and native sidecars are always checked).
    #[serde(default)]
    pub init_containers: bool,
}

fn default_requests() -> Vec<String> {
    vec!["cpu".into(), "memory".into()]
}
fn default_limits() -> Vec<String> {
    vec!["memory".into()]
}

/// A range a request or limit must fall in. Quantities as in a pod spec (`250m`, `512Mi`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("!has(self.min) || !has(self.max) || quantity(self.min).compareTo(quantity(self.max)) <= 0").message("min must not exceed max"))]
#[serde(rename_all = "camelCase")]
pub struct ResourceRange {
    /// e.g. `cpu`, `memory`, `ephemeral-storage`.
    pub resource: String,
    /// `requests` or `limits`.
    pub field: RangeOn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self)").message("must be a quantity such as 250m or 512Mi"))]
    #[schemars(length(max = 64))]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self)").message("must be a quantity such as 250m or 512Mi"))]
    #[schemars(length(max = 64))]
    pub max: Option<String>,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RangeOn {
    Requests,
    Limits,
}

impl Check for Resources {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let mut findings = Vec::new();
        let mut unknown = Vec::new();
        let ranges: Vec<Bounds<'_>> = self
            .ranges
            .iter()
            .filter_map(|r| Bounds::new(r, &mut unknown))
            .collect();
        let mut checked = 0;
        for (container, role) in pod::containers(cx.pod) {
            // Plain init containers run one at a time before the app; their resources count
            // toward the pod's only when they exceed the app containers', so they are opt-in.
            if role == pod::ContainerRole::Init && !self.init_containers {
                continue;
            }
            checked += 1;
            let resources = container.resources.as_ref();
            let values = Values {
                requests: resources.and_then(|r| r.requests.as_ref()),
                limits: resources.and_then(|r| r.limits.as_ref()),
            };
            let name = container.name.as_str();
            for resource in &self.requests {
                if values.request(resource).is_none() {
                    findings.push(Finding::in_container(
                        name,
                        format!("no {resource} request (resources.requests.{resource})"),
                    ));
                }
            }
            for resource in &self.limits {
                if values.limit(resource).is_none() {
                    findings.push(Finding::in_container(
                        name,
                        format!("no {resource} limit (resources.limits.{resource})"),
                    ));
                }
            }
            for bounds in &ranges {
                if let Some(message) = bounds.judge(&values, self) {
                    findings.push(Finding::in_container(name, message));
                }
            }
        }
        if checked == 0 {
            unknown.push("the pod template has no containers to check".to_string());
        }
        Outcome::from_findings(findings, unknown, self.pass_message(checked))
    }
}

impl Resources {
    fn pass_message(&self, checked: usize) -> String {
        let mut parts = Vec::new();
        if !self.requests.is_empty() {
            parts.push(format!("requests {}", self.requests.join(", ")));
        }
        if !self.limits.is_empty() {
            parts.push(format!("limits {}", self.limits.join(", ")));
        }
        let mut message = if parts.is_empty() {
            format!("{checked} container(s) checked")
        } else {
            format!("{checked} container(s) have {}", parts.join(" and "))
        };
        if !self.ranges.is_empty() {
            message.push_str(&format!(", within {} range(s)", self.ranges.len()));
        }
        message
    }
}

/// A container's requests and limits.
struct Values<'a> {
    requests: Option<&'a BTreeMap<String, Quantity>>,
    limits: Option<&'a BTreeMap<String, Quantity>>,
}

impl<'a> Values<'a> {
    /// The effective request and whether it was defaulted from the limit: when a container sets
    /// a limit but no request, Kubernetes defaults the request to the limit, so it counts.
    fn request(&self, resource: &str) -> Option<(&'a str, bool)> {
        match self.requests.and_then(|r| r.get(resource)) {
            Some(q) => Some((q.0.as_str(), false)),
            None => self.limit(resource).map(|q| (q, true)),
        }
    }
    fn limit(&self, resource: &str) -> Option<&'a str> {
        self.limits
            .and_then(|l| l.get(resource))
            .map(|q| q.0.as_str())
    }
}

/// A range with its bounds parsed.
struct Bounds<'a> {
    range: &'a ResourceRange,
    min: Option<(&'a str, f64)>,
    max: Option<(&'a str, f64)>,
}

impl<'a> Bounds<'a> {
    /// `None` (with the reason in `unknown`) when a bound is not a quantity: the API server
    /// refuses those, but offline checklists are not validated.
    fn new(range: &'a ResourceRange, unknown: &mut Vec<String>) -> Option<Self> {
        let mut bound = |field: &str, q: &'a Option<String>| match q.as_deref() {
            None => Some(None),
            Some(text) => match quantity::parse(text) {
                Some(v) => Some(Some((text, v))),
                None => {
                    unknown.push(format!(
                        "range for {} {}: {field} {text:?} is not a quantity",
                        range.resource,
                        range.field.field()
                    ));
                    None
                }
            },
        };
        let min = bound("min", &range.min);
        let max = bound("max", &range.max);
        Some(Bounds {
            range,
            min: min?,
            max: max?,
        })
    }

    /// A problem with the container's value for this range, if any.
    fn judge(&self, values: &Values<'_>, params: &Resources) -> Option<String> {
        let resource = self.range.resource.as_str();
        let (kind, field) = (self.range.field.noun(), self.range.field.field());
        let (text, defaulted) = match self.range.field {
            RangeOn::Requests => match values.request(resource) {
                Some(v) => v,
                // No request: nothing is reserved, below any minimum; already reported when required.
                None => {
                    let (min, _) = self.min?;
                    return (!params.requests.iter().any(|r| r == resource)).then(|| {
                        format!("no {resource} request ({field}.{resource}), below minimum {min}")
                    });
                }
            },
            RangeOn::Limits => match values.limit(resource) {
                Some(v) => (v, false),
                // No limit: unbounded, above any maximum; already reported when required.
                None => {
                    let (max, _) = self.max?;
                    return (!params.limits.iter().any(|r| r == resource))
                        .then(|| format!("no {resource} limit ({field}.{resource}), unbounded above maximum {max}"));
                }
            },
        };
        let note = if defaulted {
            " (defaulted from the limit)"
        } else {
            ""
        };
        let Some(value) = quantity::parse(text) else {
            return Some(format!(
                "{resource} {kind} {text:?} ({field}.{resource}) is not a quantity"
            ));
        };
        if let Some((min, min_v)) = self.min
            && less(value, min_v)
        {
            return Some(format!(
                "{resource} {kind} {text}{note} below minimum {min}"
            ));
        }
        if let Some((max, max_v)) = self.max
            && less(max_v, value)
        {
            return Some(format!(
                "{resource} {kind} {text}{note} above maximum {max}"
            ));
        }
        None
    }
}

impl RangeOn {
    fn noun(self) -> &'static str {
        match self {
            RangeOn::Requests => "request",
            RangeOn::Limits => "limit",
        }
    }
    fn field(self) -> &'static str {
        match self {
            RangeOn::Requests => "resources.requests",
            RangeOn::Limits => "resources.limits",
        }
    }
}

/// `a < b`, ignoring floating-point noise from unit conversion (`300m` vs `0.3`).
fn less(a: f64, b: f64) -> bool {
    a < b && (b - a) > 1e-12 * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(check: &Resources, pod_yaml: &str) -> Outcome {
        crate::checks::testing::judge_pod(check, pod_yaml, &[])
    }

    fn params(yaml: &str) -> Resources {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn messages(outcome: Outcome) -> Vec<String> {
        match outcome {
            Outcome::Fail(f) => f.into_iter().map(|f| f.message).collect(),
            other => panic!("expected Fail, got {other:?}"),
        }
    }

    #[test]
    fn a_limit_counts_as_the_request() {
        let pod = "containers: [{name: api, resources: {limits: {cpu: 500m, memory: 256Mi}}}]";
        assert_eq!(
            judge(&params("{}"), pod),
            Outcome::Pass("1 container(s) have requests cpu, memory and limits memory".into())
        );
        // ... and is judged as the request by ranges, saying so.
        let ranged = params("{ranges: [{resource: cpu, field: requests, min: '1'}]}");
        assert_eq!(
            messages(judge(&ranged, pod)),
            ["container api: cpu request 500m (defaulted from the limit) below minimum 1"]
        );
    }

    #[test]
    fn plain_init_containers_only_on_request() {
        let pod = "
containers: [{name: api, resources: {requests: {cpu: 100m, memory: 1Gi}, limits: {memory: 1Gi}}}]
initContainers:
  - {name: migrate}
  - {name: proxy, restartPolicy: Always}
";
        assert_eq!(
            messages(judge(&params("{}"), pod)),
            [
                "container proxy: no cpu request (resources.requests.cpu)",
                "container proxy: no memory request (resources.requests.memory)",
                "container proxy: no memory limit (resources.limits.memory)"
            ]
        );
        let with_init = messages(judge(&params("{initContainers: true}"), pod));
        assert_eq!(with_init.len(), 6);
        assert!(
            with_init.contains(
                &"container migrate: no memory limit (resources.limits.memory)".to_string()
            )
        );
    }

    #[test]
    fn ranges_on_limits_and_missing_values() {
        let check = params(
            "{requests: [], limits: [], ranges: [{resource: memory, field: limits, min: 128Mi, max: 1Gi}, {resource: cpu, field: requests, min: 100m, max: '2'}]}",
        );
        assert_eq!(
            messages(judge(
                &check,
                "containers: [{name: api, resources: {requests: {cpu: '3'}, limits: {memory: 2Gi}}}]"
            )),
            [
                "container api: memory limit 2Gi above maximum 1Gi",
                "container api: cpu request 3 above maximum 2"
            ]
        );
        // Missing values: no limit is unbounded (above any max), no request is below any min.
        assert_eq!(
            messages(judge(&check, "containers: [{name: api}]")),
            [
                "container api: no memory limit (resources.limits.memory), unbounded above maximum 1Gi",
                "container api: no cpu request (resources.requests.cpu), below minimum 100m"
            ]
        );
        // Bounds are inclusive and compared in base units, whatever the suffix.
        let exact = "containers: [{name: api, resources: {requests: {cpu: '0.1'}, limits: {memory: '1073741824'}}}]";
        assert!(matches!(judge(&check, exact), Outcome::Pass(_)));
    }

    #[test]
    fn missing_values_are_reported_once() {
        let check = params("{ranges: [{resource: memory, field: limits, max: 1Gi}]}");
        let pod = "containers: [{name: api, resources: {requests: {cpu: 1m, memory: 1Mi}}}]";
        assert_eq!(
            messages(judge(&check, pod)),
            ["container api: no memory limit (resources.limits.memory)"]
        );
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let check = params("{ranges: [{resource: cpu, field: requests, min: lots}]}");
        let pod = "containers: [{name: api, resources: {requests: {cpu: 1, memory: 1Mi}, limits: {memory: 1Mi}}}]";
        assert_eq!(
            judge(&check, pod),
            Outcome::Unknown(
                "range for cpu resources.requests: min \"lots\" is not a quantity".into()
            )
        );
        let check = params("{ranges: [{resource: cpu, field: requests, min: 1m}]}");
        let pod = "containers: [{name: api, resources: {requests: {cpu: much, memory: 1Mi}, limits: {memory: 1Mi}}}]";
        assert_eq!(
            messages(judge(&check, pod)),
            ["container api: cpu request \"much\" (resources.requests.cpu) is not a quantity"]
        );
        assert!(matches!(
            judge(&params("{}"), "containers: []"),
            Outcome::Unknown(_)
        ));
    }
}
