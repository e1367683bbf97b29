use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use kube_cel::cel;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cel::{NotEvaluated, compile, evaluate_bounded, shorten};
use super::{Check, Context};
use crate::engine::{Finding, Outcome, ResourceKind, Resources, pod};

/// Parameters of the `resource` check: objects of any kind the API server serves (custom
/// resources included) exist, and optionally have a condition or satisfy a CEL expression.
/// Namespaced kinds are read in the readiness object's namespace only; cluster-scoped kinds
/// (Node, StorageClass, ClusterIssuer) only from a ClusterReadinessChecklist.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("!has(self.name) || !has(self.selector)").message("set name or selector, not both"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.count) || !has(self.count.max) || !has(self.count.min) || self.count.min <= self.count.max").message("count.min must not exceed count.max"))]
pub struct Resource {
    /// The kind's API version, e.g. `cert-manager.io/v1`.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^([a-z0-9.-]+/)?v[0-9a-z]+$")
    )]
    pub api_version: String,
    /// The kind, e.g. `Certificate`.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[A-Z][A-Za-z0-9]*$"))]
    pub kind: String,
    /// One object by name; `{{ .target }}` stands for the workload's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// The objects with these labels (without name or selector: every object of the kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// A condition each counted object must have in `status.conditions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionMatch>,
    /// A CEL expression each counted object must satisfy; `object` is the object, `now` the
    /// evaluation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub expression: Option<String>,
    /// How many selected objects must pass (default: at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Count>,
    /// Reported when the gate fails, before the details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}

/// A condition in `status.conditions`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionMatch {
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// Default `"True"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self in [\"True\", \"False\", \"Unknown\"]").message("status is True, False or Unknown"))]
    pub status: Option<String>,
}

/// Bounds on the number of passing objects.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Count {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max: Option<u32>,
}

impl Resource {
    /// The kind, as the snapshot keys it.
    pub fn resource_kind(&self) -> ResourceKind {
        ResourceKind {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
        }
    }

    /// The object name, with `{{ .target }}` replaced.
    pub fn name_for(&self, target: &str) -> Option<String> {
        self.name
            .as_ref()
            .map(|n| n.replace("{{ .target }}", target))
    }
}

impl Check for Resource {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let kind = &self.kind;
        let snapshot = cx.snapshot;
        // Refused at admission; offline (and for objects stored before the rule) an Unknown.
        if is_cluster_scoped(&self.api_version, kind) && !cx.from_cluster_checklist() {
            return cluster_scoped_unknown(kind);
        }
        let name = self.name_for(cx.workload_name());
        let (cluster_scoped, objects) = match snapshot.resources.get(&self.resource_kind()) {
            Some(Resources::Objects {
                cluster_scoped,
                objects,
            }) => (*cluster_scoped, objects),
            Some(Resources::Unavailable(why)) => return Outcome::Unknown(why.clone()),
            None if snapshot.is_offline() => {
                if let Some(name) = &name
                    && snapshot.is_assumed_present(kind, name)
                {
                    return Outcome::Unknown(format!(
                        "{kind} {name}: declared present (--assume-present); its state is not known offline"
                    ));
                }
                return Outcome::Unknown(format!(
                    "no {kind} ({}) in the manifests{}; it may live in the cluster (pass --assume-present {kind}/<name> to say so)",
                    self.api_version,
                    name.as_ref()
                        .map(|n| format!(" named {n}"))
                        .unwrap_or_default()
                ));
            }
            None => {
                return Outcome::Unknown(format!("{kind} ({}): not watched yet", self.api_version));
            }
        };
        if cluster_scoped && !cx.from_cluster_checklist() {
            return cluster_scoped_unknown(kind);
        }
        let selected: Vec<&Arc<Value>> = objects
            .iter()
            .filter(|o| match (&name, &self.selector) {
                (Some(name), _) => object_name(o) == name,
                (None, Some(selector)) => pod::selector_matches(selector, &labels(o)),
                (None, None) => true,
            })
            .collect();
        let what = match (&name, &self.selector) {
            (Some(name), _) => format!("{kind} {name}"),
            (None, Some(selector)) => {
                format!("{kind}s selected by {}", pod::describe_selector(selector))
            }
            (None, None) => format!("{kind}s"),
        };
        let min = self.count.as_ref().and_then(|c| c.min).unwrap_or(1) as usize;
        let max = self.count.as_ref().and_then(|c| c.max).map(|m| m as usize);
        let offline_note = if snapshot.is_offline() {
            " (offline: no status is observed)"
        } else {
            ""
        };

        let mut passing = Vec::new();
        let mut reasons = Vec::new();
        let mut unknown = Vec::new();
        for object in &selected {
            match self.judge_object(object, cx) {
                Judged::Pass => passing.push(object_name(object)),
                Judged::Fail(why) => reasons.push(why),
                Judged::Unknown(why) => unknown.push(why),
            }
        }
        let judged = if self.condition.is_some() || self.expression.is_some() {
            " passing"
        } else {
            ""
        };
        let count_ok = passing.len() >= min && max.is_none_or(|m| passing.len() <= m);
        if count_ok {
            // More passing objects than `max` is decided; Unknown ones cannot lower the count.
            let names = shorten_list(&passing);
            return Outcome::Pass(if passing.is_empty() {
                format!("no {what} (count max {})", max.unwrap_or(0))
            } else {
                format!(
                    "{what}: {names}{}",
                    if judged.is_empty() {
                        " exists"
                    } else {
                        " ready"
                    }
                )
            });
        }
        if !unknown.is_empty() && passing.len() < min && passing.len() + unknown.len() >= min {
            return Outcome::Unknown(unknown.join("; "));
        }
        let mut message = match (&self.message, selected.is_empty()) {
            (Some(m), _) => format!("{m}: "),
            (None, _) => String::new(),
        };
        if selected.is_empty() {
            message.push_str(&format!(
                "no {what} found{}",
                if cluster_scoped {
                    String::new()
                } else {
                    format!(" in namespace {}", snapshot.namespace)
                }
            ));
        } else if max.is_some_and(|m| passing.len() > m) {
            message.push_str(&format!(
                "{} {what}{judged}, at most {} allowed: {}",
                passing.len(),
                max.unwrap_or(0),
                shorten_list(&passing)
            ));
        } else {
            message.push_str(&format!(
                "{} of {} {what}{judged}, at least {min} required",
                passing.len(),
                selected.len()
            ));
            if !reasons.is_empty() {
                message.push_str(&format!(": {}", reasons.join("; ")));
            }
        }
        message.push_str(offline_note);
        Outcome::Fail(vec![Finding::new(message)])
    }
}

enum Judged {
    Pass,
    Fail(String),
    Unknown(String),
}

impl Resource {
    fn judge_object(&self, object: &Value, cx: &Context<'_>) -> Judged {
        let name = object_name(object);
        let kind = &self.kind;
        if let Some(want) = &self.condition {
            let status = want.status.as_deref().unwrap_or("True");
            let found = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(want.type_.as_str()));
            let Some(found) = found else {
                return if cx.snapshot.is_offline() {
                    Judged::Unknown(format!(
                        "{kind} {name}: condition {} is not observed offline",
                        want.type_
                    ))
                } else {
                    Judged::Fail(format!("{kind} {name}: no condition {} yet", want.type_))
                };
            };
            let text = |key: &str| found.get(key).and_then(Value::as_str).unwrap_or_default();
            if text("status") != status {
                let mut why = format!(
                    "{kind} {name}: condition {} is {}",
                    want.type_,
                    text("status")
                );
                if !text("reason").is_empty() {
                    why.push_str(&format!(" ({})", text("reason")));
                }
                if !text("message").is_empty() {
                    why.push_str(&format!(": {}", shorten(text("message"), 200)));
                }
                return Judged::Fail(why);
            }
        }
        if let Some(expression) = &self.expression {
            let shown = shorten(expression, 120);
            let compiled = match compile(expression) {
                Ok(compiled) => compiled,
                Err(e) => {
                    return Judged::Fail(format!("expression does not compile: {e}"));
                }
            };
            let variables = match cel::to_value(Ints(object)) {
                Ok(value) => vec![
                    ("object", value),
                    (
                        "now",
                        cel::Value::String(Arc::new(cx.snapshot.now.to_string())),
                    ),
                ],
                Err(e) => return Judged::Unknown(format!("{kind} {name}: {e}")),
            };
            match evaluate_bounded(&compiled, variables) {
                Ok(cel::Value::Bool(true)) => {}
                Ok(cel::Value::Bool(false)) => {
                    return Judged::Fail(format!("{kind} {name}: {shown} is false"));
                }
                Ok(other) => {
                    return Judged::Fail(format!(
                        "{kind} {name}: {shown} returned {}, not bool",
                        other.type_of()
                    ));
                }
                Err(NotEvaluated::Error(e)) => {
                    return Judged::Unknown(format!("{kind} {name}: {shown}: {e}"));
                }
                Err(e) => return Judged::Unknown(format!("{kind} {name}: {e}")),
            }
        }
        Judged::Pass
    }
}

/// Kinds known to be cluster-scoped, with their API group (`""` is the core group). The
/// controller learns a kind's scope from discovery; offline and at admission this list stands
/// in for it.
pub const CLUSTER_SCOPED_KINDS: &[(&str, &str)] = &[
    ("", "Node"),
    ("", "Namespace"),
    ("", "PersistentVolume"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("gonogo.dev", "ClusterReadinessChecklist"),
];

/// Whether `kind` of `api_version` (`v1`, `storage.k8s.io/v1`) is a cluster-scoped kind gonogo
/// knows.
pub fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    CLUSTER_SCOPED_KINDS.contains(&(group, kind))
}

/// A namespace's checklist (or inline item) naming a cluster-scoped kind: known offline from
/// [`CLUSTER_SCOPED_KINDS`], live from discovery.
fn cluster_scoped_unknown(kind: &str) -> Outcome {
    Outcome::Unknown(format!(
        "{kind} is cluster-scoped: only a ClusterReadinessChecklist may read it (a namespace's checklists and a DeploymentReadiness's inline items read their namespace only)"
    ))
}

/// Said at admission (the CRD rule below) when a namespace's checklist names a cluster-scoped
/// kind.
pub const CLUSTER_SCOPED_REFUSAL: &str = "a resource gate on a cluster-scoped kind (Node, StorageClass, ClusterIssuer, ...) reads the whole cluster: put it in a ClusterReadinessChecklist (a namespace's checklists and a DeploymentReadiness's inline items read their namespace only)";

/// The admission rule on `spec.items` of the namespaced kinds whose items read their own
/// namespace (ReadinessChecklist, DeploymentReadiness; not ClusterReadinessChecklist): no item
/// is a `resource` gate on a cluster-scoped kind of [`CLUSTER_SCOPED_KINDS`].
pub fn namespaced_items_rule()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::ValidationRule {
    let known = CLUSTER_SCOPED_KINDS
        .iter()
        .map(|(group, kind)| {
            let version = if group.is_empty() {
                "i.resource.apiVersion.matches('^v[0-9a-z]+$')".to_string()
            } else {
                format!("i.resource.apiVersion.startsWith('{group}/')")
            };
            format!("(i.resource.kind == '{kind}' && {version})")
        })
        .collect::<Vec<_>>()
        .join(" || ");
    k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::ValidationRule {
        rule: format!("self.all(i, !has(i.resource) || !({known}))"),
        message: Some(CLUSTER_SCOPED_REFUSAL.to_string()),
        ..Default::default()
    }
}

/// A JSON value serialized with its whole numbers as signed integers, as the API server's CEL
/// sees a JSON object (`object.spec.replicas == 3` compares int with int, not uint with int).
struct Ints<'a>(&'a Value);

impl Serialize for Ints<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => s.serialize_i64(i),
                (None, Some(u)) => s.serialize_u64(u),
                _ => s.serialize_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Ints(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, &Ints(v))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

fn object_name(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// An object's labels, from its JSON (the controller's dynamic watches read them too).
pub(crate) fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

fn shorten_list(names: &[&str]) -> String {
    match names.len() {
        0..=5 => names.join(", "),
        n => format!("{} and {} more", names[..5].join(", "), n - 5),
    }
}
