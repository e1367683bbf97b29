//! The `job` gate on the real control plane (needs the Go-built control plane: run it through
//! `tests/run.sh`), with `gonogo run` as the chart's ServiceAccount: a migration Job failing
//! holds the Deployment, naming the Job's reason; the Job of the next attempt succeeding
//! releases it; a CronJob's last success ageing past `maxAge` fails the gate.
//!
//! The Jobs carry `spec.managedBy`, so the cluster's Job controller leaves them alone and the
//! test writes their status as a Job controller would.

mod operator;
mod support;

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, Patch, PatchParams, PostParams};
use operator::{WatchedNamespace, watched_namespace_with_api};
use serde_json::json;
use support::{
    TIMEOUT, delete_ignore_missing, from_yaml, gate_message, paused, ready_is, wait_until,
};

/// How soon a verdict must follow a Job's change: a watch event and one reconcile.
const PROMPTLY: Duration = Duration::from_secs(5);

fn migration_job() -> Job {
    from_yaml(
        r#"
metadata: {name: migrate, labels: {app: api}}
spec:
  managedBy: gonogo.dev/e2e-test
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: "registry.k8s.io/pause:3.10"}]
"#,
    )
}

async fn set_status(jobs: &Api<Job>, status: serde_json::Value) {
    jobs.patch_status(
        "migrate",
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap_or_else(|e| panic!("Job status {status}: {e}"));
}

#[tokio::test]
async fn a_failed_migration_holds_the_deployment_until_the_next_one_succeeds() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        deployments,
    } = watched_namespace_with_api("jobgate").await;
    let jobs: Api<Job> = ns.api(&client);
    let pp = PostParams::default();
    drs.create(
        &pp,
        &from_yaml(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  items:
  - name: migrated
    description: Database migrations ran
    job: {name: migrate}
"#,
        ),
    )
    .await
    .unwrap();
    wait_until(&drs, "api", "to fail: no Job yet", TIMEOUT, |d| {
        ready_is(d, "False") && gate_message(d, "migrated").contains("Job migrate: none found")
    })
    .await;
    wait_until(&deployments, "api", "to be held", TIMEOUT, paused).await;

    jobs.create(&pp, &migration_job()).await.unwrap();
    let start = "2026-01-01T00:00:00Z";
    set_status(&jobs, json!({"startTime": start, "active": 1})).await;
    wait_until(&drs, "api", "to see the Job running", PROMPTLY, |d| {
        gate_message(d, "migrated").contains("running since")
    })
    .await;
    set_status(
        &jobs,
        json!({
            "startTime": start, "active": 0, "failed": 1,
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": start, "lastProbeTime": start},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": start, "lastProbeTime": start},
            ],
        }),
    )
    .await;
    let dr = wait_until(&drs, "api", "to name the Job's failure", PROMPTLY, |d| {
        gate_message(d, "migrated").contains("BackoffLimitExceeded")
    })
    .await;
    assert_eq!(
        gate_message(&dr, "migrated"),
        "Job migrate: failed (BackoffLimitExceeded: Job has reached the specified backoff limit; 1 failed pod); fix the cause and run it again (a Job does not restart once Failed)"
    );
    assert!(paused(&deployments.get("api").await.unwrap()));

    // The next attempt: a new Job of the same name, which succeeds.
    delete_ignore_missing(&jobs, "migrate").await;
    let job = support::eventually("the old Job to be gone", TIMEOUT, || async {
        jobs.create(&pp, &migration_job()).await
    })
    .await;
    assert!(job.status.is_none_or(|s| s.conditions.is_none()));
    set_status(
        &jobs,
        json!({
            "startTime": start, "completionTime": "2026-01-01T00:01:00Z", "active": 0, "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": start, "lastProbeTime": start},
                {"type": "Complete", "status": "True", "lastTransitionTime": start, "lastProbeTime": start},
            ],
        }),
    )
    .await;
    wait_until(&drs, "api", "to become Ready", PROMPTLY, |d| {
        ready_is(d, "True")
    })
    .await;
    wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d)
    })
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_cron_job_whose_last_success_is_too_old_fails_the_gate() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        deployments: _,
    } = watched_namespace_with_api("cronjobgate").await;
    let cron_jobs: Api<CronJob> = ns.api(&client);
    let pp = PostParams::default();
    // Suspended: the cluster's CronJob controller starts no Job; the test writes its status.
    cron_jobs
        .create(
            &pp,
            &from_yaml(
                r#"
metadata: {name: backup}
spec:
  suspend: true
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: "registry.k8s.io/pause:3.10"}]
"#,
            ),
        )
        .await
        .unwrap();
    drs.create(
        &pp,
        &from_yaml(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  items:
  - name: backup-fresh
    description: Backups succeed at least hourly
    job: {cronJob: backup, maxAge: 1h}
"#,
        ),
    )
    .await
    .unwrap();
    wait_until(&drs, "api", "to fail: never succeeded", TIMEOUT, |d| {
        gate_message(d, "backup-fresh").contains("no successful run yet")
    })
    .await;

    let at = |ago: i64| {
        (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(ago))
            .round(jiff::Unit::Second)
            .unwrap()
            .to_string()
    };
    let set_last_success = |ago: i64| {
        let cron_jobs = cron_jobs.clone();
        async move {
            cron_jobs
                .patch_status(
                    "backup",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"lastSuccessfulTime": at(ago)}})),
                )
                .await
                .unwrap();
        }
    };
    set_last_success(2 * 3600).await;
    wait_until(
        &drs,
        "api",
        "to fail: the last backup is 2h old",
        PROMPTLY,
        |d| {
            ready_is(d, "False") && gate_message(d, "backup-fresh").contains("older than maxAge 1h")
        },
    )
    .await;
    set_last_success(300).await;
    wait_until(
        &drs,
        "api",
        "to pass: the last backup is 5m old",
        PROMPTLY,
        |d| ready_is(d, "True"),
    )
    .await;
    operator.assert_no_forbidden();
}
