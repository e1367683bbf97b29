//! One object the API server accepted never blinds the operator, on the real control plane.
//!
//! The current CRDs refuse values gonogo cannot read. Objects stored under an older, wider
//! schema may still hold them: this test loosens the CRDs (every bound removed, as before
//! they existed), stores such objects next to 20 healthy DeploymentReadiness objects, and
//! checks that the healthy ones are reconciled as before, that each unreadable one is
//! reported on the object (or on the readiness objects using it), that the log carries no
//! object body, and that a restarted operator still becomes ready.

mod operator;
mod support;

use std::time::{Duration, Instant};

use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use operator::{Operator, install};
use serde_json::Value;
use support::{TIMEOUT, TestNamespace, cluster, condition, from_yaml, ready_is, wait_until};

const HEALTHY: usize = 20;

fn deployment(name: &str, secret: &str) -> Deployment {
    from_yaml(&format!(
        r#"
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: api
        image: registry.k8s.io/pause:3.10
        env:
        - name: KEY
          valueFrom: {{secretKeyRef: {{name: {secret}, key: KEY}}}}
"#
    ))
}

fn readiness(name: &str, target: &str) -> DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec:\n  targetRef: {{name: {target}}}\n  items: [{{name: secrets, secrets: {{}}}}]\n"
    ))
}

fn secret(name: &str) -> Secret {
    from_yaml(&format!(
        "metadata: {{name: {name}}}\nstringData: {{KEY: k}}\n"
    ))
}

/// An object the API server stores only under the loosened schema, and the field gonogo
/// cannot read in it.
struct Bad {
    name: String,
    yaml: String,
    field: &'static str,
}

fn bad_objects(ns: &str) -> Vec<Bad> {
    let waiver = |expires: &str| {
        format!(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: NAME, namespace: {ns}}}\nspec:\n  targetRef: {{name: held}}\n  items: [{{name: secrets, secrets: {{}}}}]\n  waivers: [{{item: secrets, reason: later, owner: team, expires: \"{expires}\"}}]\n"
        )
    };
    let bad = |name: &str, yaml: String, field| Bad {
        name: name.to_string(),
        yaml: yaml.replace("NAME", name),
        field,
    };
    vec![
        // jiff's range: the date-time overflows.
        bad(
            "bad-expires",
            waiver("9999-12-31T00:00:00Z"),
            "spec.waivers[0].expires",
        ),
        // jiff's precision: ten fraction digits.
        bad(
            "bad-fraction",
            waiver("2030-01-01T00:00:00.1234567891Z"),
            "spec.waivers[0].expires",
        ),
        // An int-or-string past i32.
        bad(
            "bad-port",
            format!(
                "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessChecklist\nmetadata: {{name: NAME, namespace: {ns}}}\nspec:\n  items: [{{name: web, http: {{service: web, port: 3000000000}}}}]\n"
            ),
            "spec.items[0].http.port",
        ),
        // The same in a cluster-scoped checklist, past the second item. (A plain `format: int32`
        // field past i32 is refused by the API server itself, loosened CRD or not.)
        bad(
            &format!("bad-cluster-{ns}"),
            "apiVersion: gonogo.dev/v1alpha1\nkind: ClusterReadinessChecklist\nmetadata: {name: NAME}\nspec:\n  items: [{name: rollout, rollout: {}}, {name: web, http: {service: web, port: -3000000000}}]\n".to_string(),
            "spec.items[1].http.port",
        ),
        // A date-time in an approval.
        bad(
            "bad-approval",
            format!(
                "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessApproval\nmetadata: {{name: NAME, namespace: {ns}}}\nspec:\n  readinessRef: {{name: dr-1}}\n  item: signoff\n  approver: alice\n  revision: {{images: [\"api=registry.k8s.io/pause:3.10\"]}}\n  expires: \"9999-12-31T00:00:00Z\"\n"
            ),
            "spec.expires",
        ),
    ]
}

/// Readable objects that use the unreadable checklists, and one readable at an extreme of
/// time arithmetic (refused by the current CRD, readable by gonogo's types).
fn users(ns: &str) -> String {
    format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: uses-bad-port, namespace: {ns}}}\nspec:\n  targetRef: {{name: app-1}}\n  enforcement: Annotate\n  checklists: [{{name: bad-port}}]\n---\napiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: uses-bad-cluster, namespace: {ns}}}\nspec:\n  targetRef: {{name: app-2}}\n  enforcement: Annotate\n  checklists: [{{name: bad-cluster-{ns}, kind: ClusterReadinessChecklist}}]\n---\napiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: far-deadline, namespace: {ns}}}\nspec:\n  targetRef: {{name: app-3}}\n  enforcement: Annotate\n  progressDeadlineSeconds: 9223372036854775807\n  items: [{{name: secrets, secrets: {{required: [{{name: never-created}}]}}}}]\n"
    )
}

/// Every bound removed from the CRDs, as an older gonogo's CRDs were.
fn loosened_crds() -> String {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                for key in [
                    "pattern",
                    "maximum",
                    "minimum",
                    "maxLength",
                    "maxItems",
                    "x-kubernetes-validations",
                ] {
                    fields.remove(key);
                }
                fields.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    gonogo::api::crds()
        .iter()
        .map(|crd| {
            let mut crd = serde_json::to_value(crd).unwrap();
            strip(&mut crd);
            format!("---\n{}\n", serde_json::to_string(&crd).unwrap())
        })
        .collect()
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// The status of an object gonogo's types cannot read, through kubectl.
async fn raw_conditions(ns: &str, name: &str) -> Vec<Value> {
    let out = cluster()
        .kubectl(&["get", "deploymentreadiness", name, "-n", ns, "-o", "json"])
        .await;
    let object: Value = serde_json::from_str(&out).unwrap();
    object["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_unreadable_reported(ns: &str, bad: &Bad) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let conditions = raw_conditions(ns, &bad.name).await;
        let has = |type_: &str, status: &str| {
            conditions.iter().any(|c| {
                c["type"] == type_
                    && c["status"] == status
                    && c["reason"] == "Unreadable"
                    && c["message"].as_str().is_some_and(|m| m.contains(bad.field))
            })
        };
        if has("Ready", "False") && has("Stalled", "True") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never reported Unreadable naming {}: {conditions:?}",
            bad.name,
            bad.field
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn unreadable_objects_never_blind_the_operator() {
    let cluster = cluster();
    install(cluster).await;
    let client: Client = cluster.client().await;
    let ns = TestNamespace::new(&client, "unreadable").await;
    let bad = bad_objects(&ns.name);

    // The current CRDs refuse every one of them, naming the field.
    for b in &bad {
        let out = cluster
            .try_run("kubectl", &["apply", "-f", "-"], Some(&b.yaml))
            .await;
        assert!(
            !out.success() && out.stderr.contains(b.field),
            "{} should be refused naming {}: {out:?}",
            b.name,
            b.field
        );
    }

    // Stored anyway under the old, wider schema.
    cluster
        .kubectl_stdin(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            &loosened_crds(),
        )
        .await;
    let pp = PostParams::default();
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let secrets: Api<Secret> = ns.api(&client);
    for i in 1..HEALTHY {
        secrets
            .create(&pp, &secret(&format!("key-{i}")))
            .await
            .unwrap();
    }
    for i in 0..HEALTHY {
        drs.create(&pp, &readiness(&format!("dr-{i}"), &format!("app-{i}")))
            .await
            .unwrap();
    }
    // Client-side apply: the objects carry `last-applied-configuration`, which the log must
    // not repeat.
    let (listed, watched) = bad.split_at(bad.len() - 1);
    for b in listed {
        cluster.kubectl_stdin(&["apply", "-f", "-"], &b.yaml).await;
    }
    cluster
        .kubectl_stdin(&["apply", "-f", "-"], &users(&ns.name))
        .await;

    // Started with unreadable objects present: the initial lists still complete.
    let mut operator = Operator::start(cluster, "unreadable", &["--namespace", &ns.name]).await;
    for b in watched {
        cluster.kubectl_stdin(&["apply", "-f", "-"], &b.yaml).await;
    }
    for i in 0..HEALTHY {
        deployments
            .create(&pp, &deployment(&format!("app-{i}"), &format!("key-{i}")))
            .await
            .unwrap();
    }
    // Held at creation by the admission policy; the unreadable readiness keeps it held.
    deployments
        .create(&pp, &deployment("held", "key-1"))
        .await
        .unwrap();

    for i in 1..HEALTHY {
        wait_until(&drs, &format!("dr-{i}"), "to be Ready", TIMEOUT, |d| {
            ready_is(d, "True")
        })
        .await;
    }
    wait_until(
        &drs,
        "dr-0",
        "to block on its missing Secret",
        TIMEOUT,
        |d| ready_is(d, "False") && d.status.as_ref().is_some_and(|s| s.blocking),
    )
    .await;
    wait_until(&deployments, "app-0", "to be held", TIMEOUT, paused).await;

    for b in bad
        .iter()
        .filter(|b| b.yaml.contains("kind: DeploymentReadiness"))
    {
        wait_unreadable_reported(&ns.name, b).await;
    }
    for (user, checklist, field) in [
        ("uses-bad-port", "bad-port", "spec.items[0].http.port"),
        (
            "uses-bad-cluster",
            "bad-cluster-",
            "spec.items[1].http.port",
        ),
    ] {
        wait_until(
            &drs,
            user,
            "to name the unreadable checklist",
            TIMEOUT,
            |d| {
                condition(d, "Ready").is_some_and(|(status, reason, message)| {
                    status == "False"
                        && reason == "ChecklistUnreadable"
                        && message.contains(checklist)
                        && message.contains(field)
                })
            },
        )
        .await;
    }
    // Readable, at the far end of time arithmetic: judged like any other.
    wait_until(&drs, "far-deadline", "to be judged", TIMEOUT, |d| {
        ready_is(d, "False")
    })
    .await;

    // The healthy ones are still served at full speed.
    let created = Instant::now();
    secrets.create(&pp, &secret("key-0")).await.unwrap();
    wait_until(
        &deployments,
        "app-0",
        "to be released",
        Duration::from_secs(10),
        |d| !paused(d),
    )
    .await;
    let release = created.elapsed();
    eprintln!("released app-0 {release:?} after its Secret was created");
    assert!(
        release < Duration::from_secs(1),
        "released after {release:?}"
    );
    let held = deployments.get("held").await.unwrap();
    assert!(
        paused(&held),
        "a Deployment gated by an unreadable readiness stays held"
    );

    // Named in the log by kind, name and field; no object body anywhere.
    let log = operator.log_text();
    for b in &bad {
        assert!(
            log.lines().any(|l| l.contains("cannot read this object")
                && l.contains(&b.name)
                && l.contains(b.field)),
            "the log does not name {} and {}:\n{log}",
            b.name,
            b.field
        );
    }
    for body_mark in [
        "last-applied-configuration",
        "managedFields",
        "\"apiVersion\"",
        "Error deserializing",
    ] {
        assert!(
            !log.contains(body_mark),
            "the log carries {body_mark:?}:\n{log}"
        );
    }
    assert_eq!(
        operator.metric("gonogo_watch_restarts_total"),
        0.0,
        "no watch failed:\n{log}"
    );

    // A restart with the unreadable objects present still becomes ready (Operator::restart
    // waits for /readyz), and still serves the healthy ones.
    let restarted = Instant::now();
    operator.restart().await;
    eprintln!("ready {:?} after a restart", restarted.elapsed());
    secrets.delete("key-1", &Default::default()).await.unwrap();
    wait_until(&drs, "dr-1", "to see its Secret gone", TIMEOUT, |d| {
        ready_is(d, "False")
    })
    .await;
    operator.assert_no_forbidden();
}
