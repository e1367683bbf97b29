//! `gonogo approve`: record a sign-off for an `approval` gate.
//!
//! The approval is bound to the current revision of the target Deployment (its container
//! images and a hash of its pod template) and names the requesting user, as the API server reports it
//! (SelfSubjectReview): the shipped ValidatingAdmissionPolicy
//! (`deploy/admission/approval-policy.yaml`) rejects an approval in anyone else's name.

use std::process::ExitCode;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};

use crate::api::{
    ApprovedRevision, ChecklistKind, ClusterReadinessChecklist, DeploymentReadiness, Item,
    ReadinessApproval, ReadinessApprovalSpec, ReadinessChecklist, ReadinessRef,
};
use crate::checks::approval::{current_images, template_hash};
use crate::engine::{Checklists, Gate, resolve};

#[derive(clap::Args, Debug)]
pub struct ApproveArgs {
    /// The DeploymentReadiness whose approval gate you sign off.
    pub readiness: String,
    /// The approval item: its name, or `checklist/name` when several checklists use the name.
    #[arg(long)]
    pub item: String,
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// When the approval stops counting: a duration (`72h`, `90m`, `7d`) or an RFC 3339 time.
    #[arg(long)]
    pub expires: Option<String>,
    /// Why, or what was verified; shown with the approval.
    #[arg(long)]
    pub comment: Option<String>,
    /// Ask the API server to validate the approval (admission included) without storing it.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: ApproveArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(approve(args)) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn approve(args: ApproveArgs) -> anyhow::Result<String> {
    let now = Timestamp::now();
    let expires = args
        .expires
        .as_deref()
        .map(|e| parse_expiry(e, now))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let client = Client::try_default().await?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());

    let readiness = Api::<DeploymentReadiness>::namespaced(client.clone(), &namespace)
        .get_opt(&args.readiness)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "DeploymentReadiness {} not found in namespace {namespace}",
                args.readiness
            )
        })?;

    // The item's checklists, to make sure it names an approval gate (best effort: a checklist
    // this user cannot read is skipped with a warning).
    let mut namespaced = Vec::new();
    let mut cluster = Vec::new();
    let mut unreadable = Vec::new();
    for r in &readiness.spec.checklists {
        let found = match r.kind {
            ChecklistKind::ReadinessChecklist => {
                Api::<ReadinessChecklist>::namespaced(client.clone(), &namespace)
                    .get_opt(&r.name)
                    .await
                    .map(|c| c.map(|c| namespaced.push(Arc::new(c))))
            }
            ChecklistKind::ClusterReadinessChecklist => {
                Api::<ClusterReadinessChecklist>::all(client.clone())
                    .get_opt(&r.name)
                    .await
                    .map(|c| c.map(|c| cluster.push(Arc::new(c))))
            }
        };
        if let Err(e) = found {
            unreadable.push(format!("{} {}: {e}", kind_name(r.kind), r.name));
        }
    }
    let checklists = Checklists {
        namespaced: &namespaced,
        cluster: &cluster,
    };
    let resolved = resolve(&readiness, checklists, &namespace);
    let approvers = match find_approval_item(&resolved.gates(), &args.item) {
        Ok(approvers) => approvers,
        Err(e) if unreadable.is_empty() => anyhow::bail!("{e}"),
        Err(e) => {
            eprintln!("warning: {e}; could not read {}", unreadable.join("; "));
            Vec::new()
        }
    };

    let target = &readiness.spec.target_ref.name;
    let deployment = Api::<Deployment>::namespaced(client.clone(), &namespace)
        .get_opt(target)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "Deployment {target} (the target of {}) not found in namespace {namespace}",
                args.readiness
            )
        })?;

    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    let user = review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the API server did not say who you are (SelfSubjectReview without a username)"
            )
        })?;
    if !approvers.is_empty() && !approvers.contains(&user) {
        eprintln!(
            "warning: the gate counts approvals by {} only; one by {user} will not count",
            approvers.join(", ")
        );
    }

    let approval = build_approval(
        &readiness,
        &deployment,
        &args.item,
        &user,
        expires,
        args.comment.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    let params = PostParams {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let created = Api::<ReadinessApproval>::namespaced(client, &namespace)
        .create(&params, &approval)
        .await?;
    Ok(describe(&created, args.dry_run))
}

fn kind_name(kind: ChecklistKind) -> &'static str {
    match kind {
        ChecklistKind::ReadinessChecklist => "ReadinessChecklist",
        ChecklistKind::ClusterReadinessChecklist => "ClusterReadinessChecklist",
    }
}

fn describe(approval: &ReadinessApproval, dry_run: bool) -> String {
    let spec = &approval.spec;
    let what = if spec.revision.images.is_empty() {
        String::new()
    } else {
        format!(" for images {}", spec.revision.images.join(", "))
    };
    let template = spec
        .revision
        .template
        .as_deref()
        .map(|t| format!(" (pod template {})", t.get(..19).unwrap_or(t)))
        .unwrap_or_default();
    let until = spec
        .expires
        .as_ref()
        .map(|e| format!(", until {}", e.0))
        .unwrap_or_default();
    format!(
        "readinessapproval.gonogo.dev/{} {}: {} approved {} of {}{what}{template}{until}",
        approval.name_any(),
        if dry_run {
            "validated (dry run)"
        } else {
            "created"
        },
        spec.approver,
        spec.item,
        spec.readiness_ref.name
    )
}

/// The approvers of the approval gate `wanted` names (`name` or `checklist/name`), or why it
/// names none.
fn find_approval_item(gates: &[Gate<'_>], wanted: &str) -> Result<Vec<String>, String> {
    let matching: Vec<(&str, &Item)> = gates
        .iter()
        .map(|g| (g.checklist, g.item))
        .filter(|(label, i)| i.name == wanted || format!("{label}/{}", i.name) == wanted)
        .collect();
    let approvals: Vec<&Item> = matching
        .iter()
        .filter(|(_, i)| i.approval.is_some())
        .map(|(_, i)| *i)
        .collect();
    if !approvals.is_empty() {
        let mut approvers: Vec<String> = approvals
            .iter()
            .flat_map(|i| i.approval.iter().flat_map(|a| a.approvers.clone()))
            .collect();
        approvers.sort();
        approvers.dedup();
        // Any gate without an approvers list counts anyone.
        if approvals
            .iter()
            .any(|i| i.approval.as_ref().is_some_and(|a| a.approvers.is_empty()))
        {
            approvers.clear();
        }
        return Ok(approvers);
    }
    if let Some((label, item)) = matching.first() {
        let kinds = item.kinds();
        return Err(format!(
            "item {label}/{} is not an approval gate (its check kind: {})",
            item.name,
            kinds.join(", ")
        ));
    }
    let known: Vec<String> = gates
        .iter()
        .filter(|g| g.item.approval.is_some())
        .map(|g| format!("{}/{}", g.checklist, g.item.name))
        .collect();
    if known.is_empty() {
        Err(format!(
            "no approval item named {wanted}: the DeploymentReadiness has no approval gates"
        ))
    } else {
        Err(format!(
            "no approval item named {wanted} (approval items: {})",
            known.join(", ")
        ))
    }
}

/// The ReadinessApproval for `item` of `readiness`, by `approver`, for the Deployment's current
/// revision: its images (`container=image`, as the `approval` check compares them) and its
/// pod-template hash, so the approval counts whichever the gate binds to.
pub fn build_approval(
    readiness: &DeploymentReadiness,
    deployment: &Deployment,
    item: &str,
    approver: &str,
    expires: Option<Timestamp>,
    comment: Option<String>,
) -> Result<ReadinessApproval, String> {
    let readiness_name = readiness
        .metadata
        .name
        .clone()
        .ok_or("the DeploymentReadiness has no name")?;
    let target = &readiness.spec.target_ref.name;
    if deployment.metadata.name.as_deref() != Some(target.as_str()) {
        return Err(format!(
            "Deployment {} is not the target of DeploymentReadiness {readiness_name} ({target})",
            deployment.metadata.name.as_deref().unwrap_or_default()
        ));
    }
    if item.is_empty() {
        return Err("--item is empty".into());
    }
    if approver.is_empty() {
        return Err("no approver".into());
    }
    let Some(spec) = deployment.spec.as_ref() else {
        return Err(format!("Deployment {target} has no spec to approve"));
    };
    let images = spec
        .template
        .spec
        .as_ref()
        .map(current_images)
        .unwrap_or_default();
    let template = Some(template_hash(&spec.template));
    let mut approval = ReadinessApproval::new(
        "",
        ReadinessApprovalSpec {
            readiness_ref: ReadinessRef {
                name: readiness_name.clone(),
            },
            item: item.to_string(),
            approver: approver.to_string(),
            revision: ApprovedRevision { images, template },
            expires: expires.map(Time),
            comment: comment.filter(|c| !c.trim().is_empty()),
        },
    );
    approval.metadata.name = None;
    approval.metadata.generate_name = Some(name_prefix(&readiness_name, item));
    approval.metadata.namespace = readiness.metadata.namespace.clone();
    // Label values are at most 63 characters; a longer name is still in spec.readinessRef.
    if readiness_name.len() <= 63 {
        approval.metadata.labels =
            Some([("gonogo.dev/readiness".to_string(), readiness_name)].into());
    }
    Ok(approval)
}

/// `<readiness>-<item>-`, as a DNS subdomain prefix the API server completes with a suffix.
fn name_prefix(readiness: &str, item: &str) -> String {
    let raw = format!("{readiness}-{item}");
    let mut prefix: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(200)
        .collect();
    while prefix.ends_with(['-', '.']) {
        prefix.pop();
    }
    let prefix = prefix.trim_start_matches(['-', '.']);
    if prefix.is_empty() {
        "approval-".to_string()
    } else {
        format!("{prefix}-")
    }
}

/// `72h`, `90m`, `1h30m`, `7d` from now, or an RFC 3339 time; it must lie in the future.
pub fn parse_expiry(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    let at = if let Ok(at) = text.parse::<Timestamp>() {
        at
    } else {
        let duration = match text.strip_suffix('d').map(str::parse::<i64>) {
            Some(Ok(days)) => days.checked_mul(86_400).map(SignedDuration::from_secs),
            _ => text.parse::<SignedDuration>().ok(),
        }
        .ok_or_else(|| {
            format!(
                "--expires {text:?}: not a duration such as 72h, 90m or 7d, nor an RFC 3339 time"
            )
        })?;
        now.checked_add(duration)
            .map_err(|_| format!("--expires {text:?} is too far away"))?
    };
    if at <= now {
        return Err(format!("--expires {text:?} is not in the future"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::approval::Approval;
    use crate::checks::{Check, Context};
    use crate::engine::{Outcome, Snapshot, Source};
    use std::collections::BTreeMap;

    fn readiness() -> DeploymentReadiness {
        serde_yaml_ng::from_str(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api, namespace: shop, uid: 1f0c}
spec:
  targetRef: {name: api}
  checklists: [{name: sre}]
  items:
  - {name: signoff, approval: {approvers: [alice, bob]}}
  - {name: probes, probes: {}}
"#,
        )
        .unwrap()
    }

    fn deployment() -> Deployment {
        serde_yaml_ng::from_str(
            r#"
metadata: {name: api, namespace: shop, generation: 7}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      initContainers: [{name: migrate, image: "ghcr.io/acme/migrate:2.0"}]
      containers: [{name: api, image: "ghcr.io/acme/api:1.4.2"}]
"#,
        )
        .unwrap()
    }

    fn sre() -> ReadinessChecklist {
        serde_yaml_ng::from_str(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: ReadinessChecklist
metadata: {name: sre, namespace: shop}
spec:
  items: [{name: signoff, approval: {bindTo: Template}}, {name: runbook, approval: {}}]
"#,
        )
        .unwrap()
    }

    const NOW: &str = "2026-06-01T00:00:00Z";

    #[test]
    fn the_approval_binds_the_current_revision_and_the_user() {
        let expires = parse_expiry("72h", NOW.parse().unwrap()).unwrap();
        let approval = build_approval(
            &readiness(),
            &deployment(),
            "signoff",
            "alice",
            Some(expires),
            Some("canary looked fine".into()),
        )
        .unwrap();
        let hash = template_hash(&deployment().spec.unwrap().template);
        let yaml = serde_yaml_ng::to_string(&approval)
            .unwrap()
            .replace(&hash, "HASH");
        assert_eq!(
            yaml,
            r#"apiVersion: gonogo.dev/v1alpha1
kind: ReadinessApproval
metadata:
  generateName: api-signoff-
  labels:
    gonogo.dev/readiness: api
  namespace: shop
spec:
  readinessRef:
    name: api
  item: signoff
  approver: alice
  revision:
    images:
    - api=ghcr.io/acme/api:1.4.2
    - migrate=ghcr.io/acme/migrate:2.0
    template: HASH
  expires: 2026-06-04T00:00:00Z
  comment: canary looked fine
"#
        );
    }

    /// What `gonogo approve` records passes the `approval` check, whichever it binds to.
    #[test]
    fn the_recorded_approval_passes_the_gate() {
        let d = deployment();
        let mut approval =
            build_approval(&readiness(), &d, "sre/signoff", "alice", None, None).unwrap();
        approval.metadata.name = Some("api-sre-signoff-x7k2p".into());
        let mut snapshot = Snapshot::new("shop", NOW.parse().unwrap(), Source::Cluster);
        snapshot.approvals = vec![Arc::new(approval)];
        let pod = d.spec.as_ref().unwrap().template.spec.clone().unwrap();
        let labels = BTreeMap::new();
        for bind_to in ["Images", "Template"] {
            let check = Approval {
                approvers: vec!["alice".into()],
                bind_to: bind_to.into(),
            };
            let cx = Context {
                snapshot: &snapshot,
                workload: &crate::engine::Workload::from(d.clone()),
                pod: &pod,
                pod_labels: &labels,
                readiness: "api",
                checklist: "sre",
                item: "signoff",
            };
            assert!(
                matches!(check.evaluate(&cx), Outcome::Pass(ref m) if m.starts_with("approved by alice")),
                "{bind_to}"
            );
        }
    }

    #[test]
    fn the_target_and_a_revision_are_required() {
        let mut other = deployment();
        other.metadata.name = Some("web".into());
        assert_eq!(
            build_approval(&readiness(), &other, "signoff", "alice", None, None).unwrap_err(),
            "Deployment web is not the target of DeploymentReadiness api (api)"
        );
        let mut empty = deployment();
        empty.spec = None;
        assert_eq!(
            build_approval(&readiness(), &empty, "signoff", "alice", None, None).unwrap_err(),
            "Deployment api has no spec to approve"
        );
        assert!(build_approval(&readiness(), &deployment(), "signoff", "", None, None).is_err());
    }

    #[test]
    fn items_are_found_by_name_or_qualified_name() {
        let r = readiness();
        let namespaced = [Arc::new(sre())];
        let checklists = Checklists {
            namespaced: &namespaced,
            cluster: &[],
        };
        let resolved = resolve(&r, checklists, "shop");
        let sources = resolved.gates();
        // `signoff` names an inline gate and the sre one: the union of their approvers, and the
        // sre gate lets anyone approve.
        assert_eq!(find_approval_item(&sources, "signoff"), Ok(vec![]));
        assert_eq!(
            find_approval_item(&sources, "inline/signoff"),
            Ok(vec!["alice".to_string(), "bob".to_string()])
        );
        assert_eq!(find_approval_item(&sources, "sre/runbook"), Ok(vec![]));
        assert_eq!(
            find_approval_item(&sources, "probes"),
            Err("item inline/probes is not an approval gate (its check kind: probes)".into())
        );
        assert_eq!(
            find_approval_item(&sources, "sign-off"),
            Err("no approval item named sign-off (approval items: sre/signoff, sre/runbook, inline/signoff)".into())
        );
    }

    #[test]
    fn expiry_durations_and_times() {
        let now: Timestamp = NOW.parse().unwrap();
        assert_eq!(
            parse_expiry("72h", now).unwrap(),
            "2026-06-04T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_expiry("7d", now).unwrap(),
            "2026-06-08T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_expiry("1h30m", now).unwrap(),
            "2026-06-01T01:30:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_expiry("2026-07-01T00:00:00Z", now).unwrap(),
            "2026-07-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(
            parse_expiry("2026-05-01T00:00:00Z", now)
                .unwrap_err()
                .contains("not in the future")
        );
        assert!(
            parse_expiry("-5h", now)
                .unwrap_err()
                .contains("not in the future")
        );
        assert!(
            parse_expiry("soon", now)
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_expiry("99999999999d", now).is_err());
    }

    #[test]
    fn name_prefixes_are_dns_safe() {
        assert_eq!(name_prefix("api", "sre/signoff"), "api-sre-signoff-");
        assert_eq!(
            name_prefix("api", "cluster/org/Sign_Off"),
            "api-cluster-org-sign-off-"
        );
        assert_eq!(name_prefix("", "/"), "approval-");
        assert!(name_prefix(&"a".repeat(300), "x").len() <= 201);
    }
}
