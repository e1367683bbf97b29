use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::api::Phase;
use crate::engine::{Finding, Outcome};

/// Parameters of the `rollout` check (PostRollout): the Deployment controller has observed the
/// current generation and every replica is updated and available.
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
        let name = cx.deployment_name();
        let Some(status) = cx.deployment.status.as_ref() else {
            return Outcome::Unknown(format!("Deployment {name}: no status reported yet"));
        };
        let spec = cx.deployment.spec.as_ref();
        let mut findings = Vec::new();

        if spec.and_then(|s| s.paused) == Some(true) {
            // gonogo itself pauses a Deployment while a required PreRollout gate fails; the
            // rollout is then genuinely not complete, so this gate fails too.
            findings.push(Finding::new(format!(
                "Deployment {name}: spec.paused is true (rollout held, by hand or by gonogo while a required PreRollout gate fails)"
            )));
        }
        let generation = cx.deployment.metadata.generation.unwrap_or(0);
        let observed = status.observed_generation.unwrap_or(0);
        if observed < generation {
            findings.push(Finding::new(format!(
                "Deployment {name}: status.observedGeneration {observed} < metadata.generation {generation} (the Deployment controller has not acted on the latest spec yet)"
            )));
        }
        if let Some(c) =
            status.conditions.iter().flatten().find(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some(DEADLINE_EXCEEDED)
            })
        {
            let detail = c
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            findings.push(Finding::new(format!(
                "Deployment {name}: condition Progressing is {} with reason {DEADLINE_EXCEEDED} (the rollout exceeded spec.progressDeadlineSeconds){detail}",
                c.status
            )));
        }
        // The same three comparisons `kubectl rollout status` makes.
        let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
        let replicas = status.replicas.unwrap_or(0);
        let updated = status.updated_replicas.unwrap_or(0);
        let available = status.available_replicas.unwrap_or(0);
        if updated < desired {
            findings.push(Finding::new(format!(
                "Deployment {name}: status.updatedReplicas {updated} of spec.replicas {desired} (pods of the new revision still starting)"
            )));
        }
        if replicas > updated {
            findings.push(Finding::new(format!(
                "Deployment {name}: status.replicas {replicas} > status.updatedReplicas {updated} ({} old replica(s) pending termination)",
                replicas - updated
            )));
        }
        if available < updated {
            findings.push(Finding::new(format!(
                "Deployment {name}: status.availableReplicas {available} of {updated} updated replicas"
            )));
        }
        Outcome::from_findings(
            findings,
            Vec::new(),
            format!(
                "Deployment {name}: rollout of generation {generation} complete, {available}/{desired} replicas updated and available"
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
        let s = Snapshot::new("default", "2026-06-01T00:00:00Z".parse().unwrap(), source);
        let pod = PodSpec::default();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: &s,
            deployment: &d,
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
