//! Metric series follow renames and deletions, on the real control plane (needs the Go-built
//! control plane: run it through `tests/run.sh`): a gate renamed loses its old
//! `gonogo_gate_passing` series, and a DeploymentReadiness deleted without gonogo's finalizer
//! (its target never existed, so none was added) loses all of its series, although it is never
//! reconciled again.

mod operator;
mod support;

use std::time::{Duration, Instant};

use gonogo::api::{DeploymentReadiness, GateOutcome};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use operator::{http_get, watched_namespace_with_api};
use support::{from_yaml, wait_gates};

fn series(port: u16, readiness: &str) -> Vec<String> {
    let (_, body) = http_get(port, "/metrics").expect("GET /metrics");
    body.lines()
        .filter(|l| !l.starts_with('#') && l.contains(&format!("readiness=\"{readiness}\"")))
        .map(str::to_string)
        .collect()
}

async fn wait_series(port: u16, what: &str, until: impl Fn(&[String]) -> bool, readiness: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = series(port, readiness);
        if until(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}; series now:\n{}",
            now.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn renamed_gates_and_objects_deleted_without_finalizer_leave_no_series() {
    let w = watched_namespace_with_api("metric-series").await;
    let port = w.operator.port;
    let dr: DeploymentReadiness = from_yaml(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: orphan}\nspec:\n  targetRef: {name: never-created}\n  enforcement: Annotate\n  items: [{name: old-name, cel: {expression: \"1 == 1\"}}]\n",
    );
    w.drs.create(&PostParams::default(), &dr).await.unwrap();
    wait_gates(
        &w.drs,
        "orphan",
        Duration::from_secs(30),
        &[("old-name", GateOutcome::Unknown, "never-created not found")],
    )
    .await;
    wait_series(
        port,
        "the gate's series never appeared",
        |s| s.iter().any(|l| l.contains("gate=\"old-name\"")),
        "orphan",
    )
    .await;

    // Renamed: the old series goes, the new one comes.
    w.drs
        .patch(
            "orphan",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "spec": {"items": [{"name": "new-name", "cel": {"expression": "1 == 1"}}]}
            })),
        )
        .await
        .unwrap();
    wait_series(
        port,
        "the renamed gate's old series stayed",
        |s| {
            s.iter().any(|l| l.contains("gate=\"new-name\""))
                && !s.iter().any(|l| l.contains("gate=\"old-name\""))
        },
        "orphan",
    )
    .await;

    // Deleted without the finalizer: never reconciled again, every series goes.
    let current = w.drs.get("orphan").await.unwrap();
    assert!(
        current.finalizers().is_empty(),
        "{:?}",
        current.finalizers()
    );
    w.drs
        .delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    wait_series(
        port,
        "the deleted object's series stayed",
        |s| s.is_empty(),
        "orphan",
    )
    .await;
    w.operator.assert_no_forbidden();
}
