//! The `gonogo.dev/v1alpha1` API: custom resource types only, no client code.

mod approval;
pub mod bounds;
mod checklist;
mod readiness;

pub use approval::{ApprovedRevision, ReadinessApproval, ReadinessApprovalSpec, ReadinessRef};
pub use checklist::{
    ChecklistSpec, ClusterReadinessChecklist, Item, Phase, ReadinessChecklist, Severity,
};
pub use readiness::{
    ChecklistKind, ChecklistRef, DeploymentReadiness, DeploymentReadinessSpec,
    DeploymentReadinessStatus, Enforcement, GateOutcome, GateStatus, Summary, TargetRef, Waiver,
    WorkloadKind,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub const GROUP: &str = "gonogo.dev";

/// Every CRD gonogo ships, in a stable order (the order of files in `crds/`).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        with_pending_status(DeploymentReadiness::crd()),
        ReadinessChecklist::crd(),
        ClusterReadinessChecklist::crd(),
        ReadinessApproval::crd(),
    ]
    .into_iter()
    .map(bounds::bound)
    .collect()
}

/// The CRDs as one multi-document YAML stream, as `gonogo crds` prints it.
pub fn crds_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}

/// One `(file name, YAML)` per CRD, as committed under `crds/`.
pub fn crd_files() -> Result<Vec<(String, String)>, serde_yaml_ng::Error> {
    crds()
        .into_iter()
        .map(|crd| {
            Ok((
                format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("crd")),
                serde_yaml_ng::to_string(&crd)?,
            ))
        })
        .collect()
}

/// A DeploymentReadiness reads as `status.observedGeneration: 0` until the controller first
/// writes its status. Without it kstatus (Helm 4 `--wait`, Flux) would call a brand-new object
/// with no status Current and stop waiting before any gate was judged.
fn with_pending_status(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let status = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("status"));
        if let Some(status) = status {
            status.default = Some(
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON(
                    serde_json::json!({ "observedGeneration": 0 }),
                ),
            );
        }
    }
    crd
}
