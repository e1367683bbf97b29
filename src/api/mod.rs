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
        namespaced_items(with_pending_status(DeploymentReadiness::crd())),
        namespaced_items(ReadinessChecklist::crd()),
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

/// The items of a namespace's checklist and a DeploymentReadiness's inline items read their
/// namespace only: [`crate::checks::resource::namespaced_items_rule`] on `spec.items`.
///
/// Added here, not by the derive: the ClusterReadinessChecklist shares the item schema and may
/// name cluster-scoped kinds, and on the kind's root (the derive's `kube(validation)`) the rule
/// would not ratchet, so an object stored before it could no longer take a status, lose its
/// finalizer or change at all. On `spec.items` an update leaving the items alone is not judged.
fn namespaced_items(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let items = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("spec"))
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("items"));
        if let Some(items) = items {
            items
                .x_kubernetes_validations
                .get_or_insert_with(Vec::new)
                .push(crate::checks::resource::namespaced_items_rule());
        }
    }
    crd
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
