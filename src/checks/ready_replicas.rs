use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::api::Phase;
use crate::engine::{Outcome, pod};

/// Parameters of the `readyReplicas` check (PostRollout).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ReadyReplicas {
    /// Ready pods required; default the baseline replica count: the HPA's minReplicas when
    /// one scales the workload, otherwise spec.replicas (default 1); for a DaemonSet, the nodes
    /// that should run it (status.desiredNumberScheduled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min: Option<i32>,
}

impl Check for ReadyReplicas {
    fn default_phase(&self) -> Phase {
        Phase::PostRollout
    }

    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        if cx.snapshot.is_offline() {
            return Outcome::Skipped("runtime gate: judged on the live cluster".into());
        }
        let w = cx.workload;
        let (min, source) = match self.min {
            Some(min) => (min, "readyReplicas.min".to_string()),
            None => pod::baseline_replicas(cx.snapshot, w),
        };
        let Some(progress) = w.progress() else {
            return Outcome::Unknown(format!("{w}: no status reported yet"));
        };
        let (ready, field) = (progress.ready, progress.ready_field);
        if ready >= min {
            Outcome::Pass(format!("{w}: {ready} ready pod(s), needs {min} ({source})"))
        } else {
            Outcome::fail(format!("{w}: {field} {ready} < {min} ({source})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Snapshot, Source};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::PodSpec;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn judge(check: ReadyReplicas, status: serde_json::Value, hpa_min: Option<i32>) -> Outcome {
        let d: Deployment = serde_json::from_value(
            json!({"metadata": {"name": "api"}, "spec": {"selector": {}, "template": {}}, "status": status}),
        )
        .unwrap();
        let mut s = Snapshot::new(
            "default",
            "2026-06-01T00:00:00Z".parse().unwrap(),
            Source::Cluster,
        );
        if let Some(min) = hpa_min {
            s.hpas.push(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": "api"}, "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                    "minReplicas": min, "maxReplicas": 10}}))
                .unwrap(),
            ));
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
            item: "ready",
        };
        check.evaluate(&cx)
    }

    #[test]
    fn defaults_to_one_replica_and_counts_absent_ready_as_zero() {
        assert_eq!(
            judge(ReadyReplicas::default(), json!({}), None),
            Outcome::fail(
                "Deployment api: status.readyReplicas 0 < 1 (Deployment api spec.replicas)"
            )
        );
        assert!(matches!(
            judge(ReadyReplicas::default(), json!({"readyReplicas": 1}), None),
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn uses_the_hpa_minimum() {
        assert_eq!(
            judge(
                ReadyReplicas::default(),
                json!({"readyReplicas": 2}),
                Some(3)
            ),
            Outcome::fail(
                "Deployment api: status.readyReplicas 2 < 3 (HorizontalPodAutoscaler api spec.minReplicas)"
            )
        );
    }

    #[test]
    fn explicit_minimum_zero_always_passes() {
        assert!(matches!(
            judge(ReadyReplicas { min: Some(0) }, json!({}), None),
            Outcome::Pass(_)
        ));
    }
}
