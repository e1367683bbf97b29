//! The CRD schemas are no wider than gonogo's types, on the real API server: for every risky
//! field (date-times, integers, int-or-string ports, bounded strings), a value at the bound is
//! accepted and gonogo reads it back; the value just past it is refused at admission, with
//! the field named. And a `resource` gate on a cluster-scoped kind is refused in a namespace's
//! checklist and in inline items, and accepted in a ClusterReadinessChecklist.

mod support;

use gonogo::api::{
    ClusterReadinessChecklist, DeploymentReadiness, ReadinessApproval, ReadinessChecklist,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::{TestNamespace, cluster};

/// One field at one value: whether the API server must accept it.
struct Case {
    kind: &'static str,
    /// JSON pointer into the object.
    field: &'static str,
    value: Value,
    accepted: bool,
}

fn case(kind: &'static str, field: &'static str, value: Value, accepted: bool) -> Case {
    Case {
        kind,
        field,
        value,
        accepted,
    }
}

fn base(kind: &str) -> Value {
    let checklist_spec = json!({"items": [
        {"name": "http", "http": {"service": "web", "port": 8080}},
        {"name": "prom", "prometheus": {"query": "up", "operator": ">", "threshold": 0}},
        {"name": "replicas", "replicas": {"min": 1}},
        {"name": "hpa", "hpa": {}},
        {"name": "ready", "readyReplicas": {}},
        {"name": "tls", "tlsCertificate": {"secretName": "tls"}},
    ]});
    match kind {
        "DeploymentReadiness" => json!({
            "spec": {
                "targetRef": {"name": "web"},
                "items": [{"name": "rollout", "rollout": {}}],
                "waivers": [{"item": "rollout", "reason": "r", "owner": "o", "expires": "2030-01-01T00:00:00Z"}],
            }
        }),
        "ReadinessChecklist" | "ClusterReadinessChecklist" => json!({"spec": checklist_spec}),
        "ReadinessApproval" => json!({
            "spec": {
                "readinessRef": {"name": "web"},
                "item": "signoff",
                "approver": "alice",
                "revision": {"images": ["api=nginx:1"]},
                "expires": "2030-01-01T00:00:00Z",
            }
        }),
        other => panic!("no base object for {other}"),
    }
}

fn cases() -> Vec<Case> {
    let dr = "DeploymentReadiness";
    let rcl = "ReadinessChecklist";
    let crcl = "ClusterReadinessChecklist";
    let approval = "ReadinessApproval";
    let expires = "/spec/waivers/0/expires";
    let port = "/spec/items/0/http/port";
    vec![
        // Date-times: jiff's range and nanosecond precision.
        case(dr, expires, json!("9999-12-30T00:00:00Z"), true),
        case(dr, expires, json!("9999-12-31T00:00:00Z"), false),
        case(dr, expires, json!("9999-12-30T00:00:01Z"), false),
        case(dr, expires, json!("9999-12-30T23:59:00+23:59"), true),
        case(dr, expires, json!("9999-12-30T12:00:00-23:00"), false),
        case(dr, expires, json!("0001-01-01T00:00:00Z"), true),
        case(dr, expires, json!("2030-01-01T00:00:00.123456789Z"), true),
        case(dr, expires, json!("2030-01-01T00:00:00.1234567891Z"), false),
        case(dr, expires, json!("2030-01-01t00:00:00z"), false),
        case(
            approval,
            "/spec/expires",
            json!("9999-12-30T00:00:00Z"),
            true,
        ),
        case(
            approval,
            "/spec/expires",
            json!("9999-12-31T00:00:00Z"),
            false,
        ),
        // Numbers used in time arithmetic.
        case(dr, "/spec/progressDeadlineSeconds", json!(2147483647), true),
        case(
            dr,
            "/spec/progressDeadlineSeconds",
            json!(2147483648u64),
            false,
        ),
        case(dr, "/spec/progressDeadlineSeconds", json!(0), false),
        case(rcl, "/spec/items/0/http/timeoutSeconds", json!(60), true),
        case(rcl, "/spec/items/0/http/timeoutSeconds", json!(61), false),
        case(rcl, "/spec/items/0/http/intervalSeconds", json!(3600), true),
        case(
            rcl,
            "/spec/items/0/http/intervalSeconds",
            json!(3601),
            false,
        ),
        case(
            rcl,
            "/spec/items/1/prometheus/intervalSeconds",
            json!(3601),
            false,
        ),
        case(
            rcl,
            "/spec/items/1/prometheus/for",
            json!("999999999h"),
            true,
        ),
        case(
            rcl,
            "/spec/items/1/prometheus/for",
            json!("9999999999h"),
            false,
        ),
        case(
            rcl,
            "/spec/items/1/prometheus/threshold",
            json!(f64::MAX),
            true,
        ),
        // Integers: the width of the Rust type.
        case(rcl, "/spec/items/2/replicas/min", json!(2147483647), true),
        case(
            rcl,
            "/spec/items/2/replicas/min",
            json!(2147483648u64),
            false,
        ),
        case(
            rcl,
            "/spec/items/3/hpa/maxReplicas",
            json!(2147483647),
            true,
        ),
        case(
            rcl,
            "/spec/items/3/hpa/maxReplicas",
            json!(2147483648u64),
            false,
        ),
        case(
            rcl,
            "/spec/items/4/readyReplicas/min",
            json!(2147483648u64),
            false,
        ),
        case(
            rcl,
            "/spec/items/5/tlsCertificate/minDaysValid",
            json!(3650),
            true,
        ),
        case(
            rcl,
            "/spec/items/5/tlsCertificate/minDaysValid",
            json!(3651),
            false,
        ),
        case(rcl, "/spec/items/0/http/expectedStatus", json!([599]), true),
        case(
            rcl,
            "/spec/items/0/http/expectedStatus",
            json!([2147483648u64]),
            false,
        ),
        // The int-or-string port.
        case(rcl, port, json!(65535), true),
        case(rcl, port, json!(65536), false),
        case(rcl, port, json!(3000000000u64), false),
        case(rcl, port, json!(0), false),
        case(rcl, port, json!("metrics-port-15"), true),
        case(rcl, port, json!("metrics-port-016"), false),
        case(crcl, port, json!(3000000000u64), false),
        // Strings.
        case(dr, "/spec/waivers/0/reason", json!("r".repeat(1024)), true),
        case(dr, "/spec/waivers/0/reason", json!("r".repeat(1025)), false),
        case(rcl, "/spec/description", json!("d".repeat(4096)), true),
        case(rcl, "/spec/description", json!("d".repeat(4097)), false),
        case(approval, "/spec/approver", json!("a".repeat(4097)), false),
    ]
}

fn api_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("gonogo.dev", "v1alpha1", kind))
}

/// Reads `object` as gonogo's type for `kind`; the error names the field.
fn read_as(kind: &str, object: Value) -> Result<(), String> {
    fn read<K: serde::de::DeserializeOwned>(object: Value) -> Result<(), String> {
        serde_path_to_error::deserialize::<_, K>(object)
            .map(|_| ())
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }
    match kind {
        "DeploymentReadiness" => read::<DeploymentReadiness>(object),
        "ReadinessChecklist" => read::<ReadinessChecklist>(object),
        "ClusterReadinessChecklist" => read::<ClusterReadinessChecklist>(object),
        "ReadinessApproval" => read::<ReadinessApproval>(object),
        other => Err(format!("unknown kind {other}")),
    }
}

/// Sets the field at `pointer`, adding it to its parent object if needed.
fn set(object: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match object.pointer_mut(parent) {
        Some(Value::Object(fields)) => {
            fields.insert(key.to_string(), value);
        }
        Some(Value::Array(items)) => items[key.parse::<usize>().expect("an index")] = value,
        _ => panic!("no {parent} in {object}"),
    }
}

/// The field as the API server names it: `spec.items[0].http.port`.
fn field_name(pointer: &str) -> String {
    let mut name = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        if part.chars().all(|c| c.is_ascii_digit()) {
            name.push_str(&format!("[{part}]"));
        } else {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(part);
        }
    }
    name
}

#[tokio::test]
async fn every_value_the_api_server_accepts_gonogo_can_read() {
    let cluster = cluster();
    cluster.apply_crds().await;
    let client: Client = cluster.client().await;
    let ns = TestNamespace::new(&client, "bounds").await;
    let mut failures = Vec::new();
    for (i, c) in cases().iter().enumerate() {
        let resource = api_resource(c.kind);
        let api: Api<DynamicObject> = if c.kind.starts_with("Cluster") {
            Api::all_with(client.clone(), &resource)
        } else {
            Api::namespaced_with(client.clone(), &ns.name, &resource)
        };
        let mut object = base(c.kind);
        set(&mut object, c.field, c.value.clone());
        object["apiVersion"] = json!("gonogo.dev/v1alpha1");
        object["kind"] = json!(c.kind);
        object["metadata"] = json!({"name": format!("{}-{i}", ns.name)});
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        let shown = shown(&c.value);
        match (
            api.create(&PostParams::default(), &object).await,
            c.accepted,
        ) {
            (Ok(created), true) => {
                // What a watch would deliver: the stored object, read back.
                let stored = api.get(&created.name_unchecked()).await.unwrap();
                if let Err(e) = read_as(c.kind, serde_json::to_value(&stored).unwrap()) {
                    failures.push(format!(
                        "{} {} = {shown}: accepted, but gonogo cannot read it: {e}",
                        c.kind, c.field
                    ));
                }
            }
            (Ok(created), false) => {
                let readable = read_as(c.kind, serde_json::to_value(&created).unwrap());
                failures.push(format!(
                    "{} {} = {shown}: accepted, expected a refusal (gonogo reads it: {readable:?})",
                    c.kind, c.field
                ));
            }
            (Err(kube::Error::Api(e)), false) => {
                let field = field_name(c.field);
                if e.code != 422 || !e.message.contains(&field) {
                    failures.push(format!(
                        "{} {} = {shown}: refused, but not naming {field}: {} {}",
                        c.kind, c.field, e.code, e.message
                    ));
                }
            }
            (Err(e), _) => failures.push(format!(
                "{} {} = {shown}: {e} (expected it accepted: {})",
                c.kind, c.field, c.accepted
            )),
        }
        if c.kind.starts_with("Cluster") {
            let _ = api
                .delete(&format!("{}-{i}", ns.name), &Default::default())
                .await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} boundary cases wrong:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
}

/// Status is written by gonogo, but a user allowed to write it must not make the object
/// unreadable either.
#[tokio::test]
async fn a_status_date_time_gonogo_cannot_read_is_refused() {
    let cluster = cluster();
    cluster.apply_crds().await;
    let client: Client = cluster.client().await;
    let ns = TestNamespace::new(&client, "bounds-status").await;
    let api: Api<DeploymentReadiness> = ns.api(&client);
    let mut object = base("DeploymentReadiness");
    object["apiVersion"] = json!("gonogo.dev/v1alpha1");
    object["kind"] = json!("DeploymentReadiness");
    object["metadata"] = json!({"name": "web"});
    api.create(
        &PostParams::default(),
        &serde_json::from_value(object).unwrap(),
    )
    .await
    .unwrap();
    let params = PatchParams::apply("bounds-test").force();
    for (since, accepted) in [
        ("9998-12-31T23:59:59.999999999Z", true),
        ("9999-01-01T00:00:00Z", false),
        ("2030-01-01T00:00:00.1234567891Z", false),
    ] {
        let patch = json!({
            "apiVersion": "gonogo.dev/v1alpha1", "kind": "DeploymentReadiness",
            "status": {"waitingSince": since},
        });
        let result = api.patch_status("web", &params, &Patch::Apply(patch)).await;
        match (result, accepted) {
            (Ok(_), true) => {}
            (Err(kube::Error::Api(e)), false) => {
                assert!(e.message.contains("status.waitingSince"), "{}", e.message)
            }
            (result, _) => panic!("waitingSince {since}: {result:?}, expected accepted={accepted}"),
        }
    }
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 40 {
        format!("{}... ({} chars)", &text[..20], text.len())
    } else {
        text
    }
}

/// A namespace's checklist or inline items naming a cluster-scoped kind are refused at
/// admission with the rule's words; a ClusterReadinessChecklist takes the same item, and a
/// namespaced kind (or a kind called Node in another group) passes everywhere.
#[tokio::test]
async fn a_cluster_scoped_kind_is_refused_outside_a_cluster_checklist() {
    let cluster = cluster();
    cluster.apply_crds().await;
    let client: Client = cluster.client().await;
    let ns = TestNamespace::new(&client, "bounds-scope").await;
    let item = |api_version: &str, kind: &str| json!([{"name": "gate", "resource": {"apiVersion": api_version, "kind": kind}}]);
    let mut failures = Vec::new();
    let cases = [
        ("ReadinessChecklist", "v1", "Node", false),
        (
            "ReadinessChecklist",
            "storage.k8s.io/v1",
            "StorageClass",
            false,
        ),
        ("DeploymentReadiness", "v1", "Node", false),
        (
            "DeploymentReadiness",
            "cert-manager.io/v1",
            "ClusterIssuer",
            false,
        ),
        ("ClusterReadinessChecklist", "v1", "Node", true),
        (
            "ClusterReadinessChecklist",
            "storage.k8s.io/v1",
            "StorageClass",
            true,
        ),
        (
            "ReadinessChecklist",
            "cert-manager.io/v1",
            "Certificate",
            true,
        ),
        ("ReadinessChecklist", "example.com/v1", "Node", true),
        (
            "DeploymentReadiness",
            "cert-manager.io/v1",
            "Certificate",
            true,
        ),
    ];
    for (i, (kind, api_version, gate_kind, accepted)) in cases.into_iter().enumerate() {
        let resource = api_resource(kind);
        let api: Api<DynamicObject> = if kind.starts_with("Cluster") {
            Api::all_with(client.clone(), &resource)
        } else {
            Api::namespaced_with(client.clone(), &ns.name, &resource)
        };
        let name = format!("{}-{i}", ns.name);
        let mut object = base(kind);
        object["spec"]["items"] = item(api_version, gate_kind);
        object["apiVersion"] = json!("gonogo.dev/v1alpha1");
        object["kind"] = json!(kind);
        object["metadata"] = json!({"name": name});
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        match (api.create(&PostParams::default(), &object).await, accepted) {
            (Ok(_), true) => {}
            (Err(kube::Error::Api(e)), false)
                if e.code == 422
                    && e.message.contains("spec.items")
                    && e.message.contains("put it in a ClusterReadinessChecklist") => {}
            (result, _) => failures.push(format!(
                "{kind} with a {gate_kind} ({api_version}) gate: {:?}, expected accepted={accepted}",
                result.map(|o| o.name_unchecked())
            )),
        }
        if kind.starts_with("Cluster") {
            let _ = api.delete(&name, &Default::default()).await;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
