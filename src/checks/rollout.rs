use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::api::Phase;
use crate::engine::{Finding, Outcome, Workload};

/// Parameters of the `rollout` check (PostRollout): the workload's controller has observed the
/// current generation and every pod is updated and available (for a StatefulSet, every pod above
/// its partition; for a DaemonSet, one on every node that should run it).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {}

/// The reason the Deployment controller sets on `Progressing` when progressDeadlineSeconds passed.
const DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

impl Check for Rollout {
    fn default_phase(&self) -> Phase {
        Phase::PostRollout
    }

    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        if cx.snapshot.is_offline() {
            return Outcome::Skipped("runtime gate: judged on the live cluster".into());
        }
        let w = cx.workload;
        let Some(p) = w.progress() else {
            return Outcome::Unknown(format!("{w}: no status reported yet"));
        };
        let mut findings = Vec::new();

        if let Some(off) = w.rollout_switched_off() {
            // gonogo itself holds a rollout while a required PreRollout gate fails; the
            // rollout is then genuinely not complete, so this gate fails too.
            findings.push(Finding::new(format!(
                "{w}: {off} (rollout held, by hand or by gonogo while a required PreRollout gate fails)"
            )));
        }
        let (generation, observed) = (p.generation, p.observed_generation);
        if observed < generation {
            findings.push(Finding::new(format!(
                "{w}: status.observedGeneration {observed} < metadata.generation {generation} (the {} controller has not acted on the latest spec yet)",
                w.kind()
            )));
        }
        if let Workload::Deployment(d) = w
            && let Some(c) = d
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .find(|c| {
                    c.type_ == "Progressing" && c.reason.as_deref() == Some(DEADLINE_EXCEEDED)
                })
        {
            let detail = c
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            findings.push(Finding::new(format!(
                "{w}: condition Progressing is {} with reason {DEADLINE_EXCEEDED} (the rollout exceeded spec.progressDeadlineSeconds){detail}",
                c.status
            )));
        }
        // The comparisons `kubectl rollout status` makes, in the kind's own fields. Pods a
        // StatefulSet's partition keeps on the old revision are not waited for.
        let desired = p.desired;
        let to_update = desired - p.partitioned;
        let (updated, available) = (p.updated, p.available);
        if updated < to_update {
            let partition = if p.partitioned > 0 {
                format!(" less partition {}", p.partitioned)
            } else {
                String::new()
            };
            findings.push(Finding::new(format!(
                "{w}: {} {updated} of {} {desired}{partition} (pods of the new revision still starting)",
                p.updated_field, p.desired_field
            )));
        }
        if matches!(w, Workload::Deployment(_)) && p.current > updated {
            findings.push(Finding::new(format!(
                "{w}: {} {} > {} {updated} ({} old replica(s) pending termination)",
                p.current_field,
                p.current,
                p.updated_field,
                p.current - updated
            )));
        }
        let (wanted, of) = match w {
            Workload::Deployment(_) => (updated, "updated replicas"),
            _ => (desired, "pods wanted"),
        };
        if available < wanted {
            findings.push(Finding::new(format!(
                "{w}: {} {available} of {wanted} {of}",
                p.available_field
            )));
        }
        Outcome::from_findings(
            findings,
            Vec::new(),
            format!(
                "{w}: rollout of generation {generation} complete, {available}/{desired} pods updated and available"
            ),
        )
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

    fn judge(deployment: serde_json::Value, source: Source) -> Outcome {
        let d: Deployment = serde_json::from_value(deployment).unwrap();
        let d = Workload::from(d);
        let s = Snapshot::new("default", "2026-06-01T00:00:00Z".parse().unwrap(), source);
        let pod = PodSpec::default();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: &s,
            workload: &d,
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "inline",
            item: "rollout",
        };
        Rollout {}.evaluate(&cx)
    }

    fn deployment(replicas: i32, status: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": "api", "generation": 2}, "spec": {"replicas": replicas, "selector": {}, "template": {}}, "status": status})
    }

    #[test]
    fn scaled_to_zero_is_complete() {
        let outcome = judge(
            deployment(0, json!({"observedGeneration": 2})),
            Source::Cluster,
        );
        assert!(matches!(outcome, Outcome::Pass(_)), "{outcome:?}");
    }

    #[test]
    fn missing_status_is_unknown_and_offline_is_skipped() {
        let d = json!({"metadata": {"name": "api", "generation": 1}, "spec": {"selector": {}, "template": {}}});
        assert_eq!(
            judge(d.clone(), Source::Cluster),
            Outcome::Unknown("Deployment api: no status reported yet".into())
        );
        assert!(matches!(judge(d, Source::Manifests), Outcome::Skipped(_)));
    }

    #[test]
    fn every_shortfall_is_reported() {
        let outcome = judge(
            deployment(
                3,
                json!({"observedGeneration": 1, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 1}),
            ),
            Source::Cluster,
        );
        let Outcome::Fail(findings) = outcome else {
            panic!("{outcome:?}")
        };
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("status.observedGeneration 1 < metadata.generation 2"));
        assert!(messages[1].contains("status.updatedReplicas 2 of spec.replicas 3"));
        assert!(messages[2].contains("2 old replica(s) pending termination"));
        assert!(messages[3].contains("status.availableReplicas 1 of 2 updated replicas"));
    }
}
