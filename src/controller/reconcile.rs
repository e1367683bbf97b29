//! Reconcile one DeploymentReadiness: gather (stores) → judge (engine) → enforce → report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, instrument, warn};

use super::enforce::{self, DeploymentVerdict, FIELD_MANAGER};
use super::events::{self, EventQueue, Publication};
use super::index::RelationIndex;
use super::metrics::{GateLabels, Metrics, ReasonLabel};
use super::stores::{Stores, trim};
use super::writes::RecentWrites;
use crate::api::{DeploymentReadiness, DeploymentReadinessStatus, Enforcement, GateOutcome};
use crate::engine::status::{StatusInput, status_from_report};
use crate::engine::{
    Checklists, Dependencies, Report, Workload, WorkloadKind, dependencies, evaluate_resolved,
    resolve, resource_picks,
};
use crate::error::{Error, Result};
use crate::probe::certificate::CertificateCache;
use crate::probe::{Prober, probe_specs};

pub const FINALIZER: &str = "gonogo.dev/release-rollout";
/// Re-evaluate at least this often even when nothing is watched to change.
const RESYNC: Duration = Duration::from_secs(600);
/// Judge again after the Deployment changed under a write (its watch event may lag).
const STALE_RETRY: Duration = Duration::from_millis(200);
/// The time every `cel` expression judged in one reconcile may take together (the object's and
/// those of the siblings its verdict is combined with; each one also has its own limit:
/// `cel::TIME_LIMIT`): however many gates, objects and siblings, a reconcile's judging ends
/// within about this.
pub const CEL_TIME: Duration = Duration::from_secs(2);

pub struct Context {
    pub client: Client,
    pub stores: Stores,
    pub events: EventQueue,
    pub metrics: Arc<Metrics>,
    pub index: RelationIndex,
    /// Consecutive failures per object, for exponential backoff.
    pub failures: Mutex<HashMap<ObjectRef<DeploymentReadiness>, u32>>,
    /// Runs the `http` and `prometheus` probes; its results are observations in snapshots.
    pub prober: Prober,
    /// Facts of the certificates in watched TLS Secrets.
    pub certificates: CertificateCache,
    /// Watches of the kinds `resource` gates name.
    pub resources: super::dynamic::DynamicWatches,
    /// True once every store holds its initial list.
    pub caches_synced: tokio::sync::watch::Receiver<bool>,
    /// Our own writes the watches have not brought back yet.
    pub readiness_writes: Arc<RecentWrites<DeploymentReadiness>>,
    pub deployment_writes: Arc<RecentWrites<Deployment>>,
}

#[instrument(skip_all, fields(readiness = %readiness.name_any(), namespace = readiness.namespace().unwrap_or_default()))]
pub async fn reconcile(readiness: Arc<DeploymentReadiness>, ctx: Arc<Context>) -> Result<Action> {
    if ctx
        .caches_synced
        .clone()
        .wait_for(|synced| *synced)
        .await
        .is_err()
    {
        return Err(Error::Invalid(
            "the watches stopped before the caches synced".into(),
        ));
    }
    let _timer = ctx.metrics.reconcile_timer();
    let namespace = readiness
        .namespace()
        .ok_or_else(|| Error::Invalid("DeploymentReadiness without namespace".into()))?;
    let api: Api<DeploymentReadiness> = Api::namespaced(ctx.client.clone(), &namespace);
    let object_ref = ObjectRef::from_obj(readiness.as_ref());
    // What we wrote ourselves may not be back through the watch yet.
    let readiness = ctx.readiness_writes.fresh(readiness);
    let ours = readiness.finalizers().iter().any(|f| f == FINALIZER);
    let action = match (readiness.metadata.deletion_timestamp.is_some(), ours) {
        (false, _) => apply(readiness, &ctx, &api).await?,
        // Release, then remove the finalizer (kube's helper: by index, guarded by a test).
        (true, true) => {
            ctx.readiness_writes.forget(&object_ref);
            finalizer(&api, FINALIZER, readiness, |event| async {
                match event {
                    FinalizerEvent::Apply(readiness) => apply(readiness, &ctx, &api).await,
                    FinalizerEvent::Cleanup(readiness) => cleanup(readiness, &ctx).await,
                }
            })
            .await
            .map_err(|e| Error::Finalizer(Box::new(e)))?
        }
        // Nothing of ours to release.
        (true, false) => Action::await_change(),
    };
    if let Ok(mut failures) = ctx.failures.lock() {
        failures.remove(&object_ref);
    }
    Ok(action)
}

/// Exponential backoff per object: 1s, 2s, 4s … capped at 5 minutes.
pub fn error_policy(
    readiness: Arc<DeploymentReadiness>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ReasonLabel {
            reason: error.metric_label(),
        })
        .inc();
    let attempts = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f
                .entry(ObjectRef::from_obj(readiness.as_ref()))
                .or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_secs(1u64 << attempts.min(9)).min(Duration::from_secs(300));
    warn!(readiness = %readiness.name_any(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Judgements running at once, on the blocking pool: as many as the machine has cores, so
/// expressions at their time limits never crowd the runtime's workers (lease renewal,
/// `/healthz`, the other reconciles' API calls) with more busy threads than there are cores.
/// (One core fewer kept `/healthz` at 8 ms under the bomb test, but queued a victim's
/// judgement 4 s behind the heavy object's; see BENCHMARKS.md.) A judgement without
/// expressions to run takes microseconds, so the queue is short but for those that do.
fn judges() -> &'static tokio::sync::Semaphore {
    static JUDGES: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    JUDGES.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

/// When a reconcile judges: the time its verdicts are for, and when the time of its `cel`
/// expressions runs out ([`CEL_TIME`] from its start, for all of them).
#[derive(Clone, Copy)]
struct JudgedAt {
    now: Timestamp,
    cel_deadline: Instant,
}

impl JudgedAt {
    fn starting(now: Timestamp) -> JudgedAt {
        JudgedAt {
            now,
            cel_deadline: Instant::now() + CEL_TIME,
        }
    }
}

/// Evaluate one readiness object against the stores, on the runtime's blocking pool: an
/// evaluation may take up to [`CEL_TIME`], and the other reconciles (polled by the same
/// controller task), lease renewal and the health endpoints must not wait for it. At most
/// [`judges`] evaluations run at once.
async fn judge(
    ctx: &Arc<Context>,
    readiness: &Arc<DeploymentReadiness>,
    workload: Option<Workload>,
    at: JudgedAt,
) -> (Report, Dependencies) {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if !multi_thread {
        return judge_here(ctx, readiness, workload, at);
    }
    // Never closed.
    let _permit = judges().acquire().await;
    let (ctx, readiness) = (ctx.clone(), readiness.clone());
    // Logs from the blocking thread keep the reconcile's fields.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        judge_here(&ctx, &readiness, workload, at)
    })
    .await
    // A panic stays a panic of this reconcile (see `panics`).
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn judge_here(
    ctx: &Context,
    readiness: &DeploymentReadiness,
    workload: Option<Workload>,
    at: JudgedAt,
) -> (Report, Dependencies) {
    let namespace = readiness.namespace().unwrap_or_default();
    let mut snapshot = ctx.stores.snapshot(&namespace, workload, at.now);
    // Live observations gathered outside the engine: probe results and certificate facts.
    snapshot.observations.probes = ctx.prober.observations(&namespace, &readiness.name_any());
    snapshot.observations.certificates = ctx.certificates.in_namespace(&namespace);
    let namespaced = ctx.stores.checklists_in(&namespace);
    let cluster = ctx.stores.cluster_checklists.state();
    let checklists = Checklists {
        namespaced: &namespaced,
        cluster: &cluster,
    };
    let resolved = resolve(readiness, checklists, &namespace);
    // The objects `resource` gates pick, from the watches of their kinds (started on first
    // use), found by name and label: not every object of the kind.
    let picks = resource_picks(&resolved.gates(), &readiness.spec.target_ref.name);
    if !picks.is_empty() {
        snapshot.resources = ctx.resources.resources(&picks, &namespace);
    }
    let mut report = crate::checks::cel::within(at.cel_deadline, CEL_TIME, || {
        evaluate_resolved(readiness, &resolved, &snapshot)
    });
    ctx.stores
        .explain_unreadable_checklists(readiness, &mut report);
    let dependencies = dependencies(
        readiness.spec.target_ref.kind(),
        &readiness.spec.target_ref.name,
        &resolved.gates(),
        &snapshot,
    );
    (report, dependencies)
}

/// The combined verdict of the live readiness objects targeting `workload`, with `current`
/// (already judged) standing in for its own possibly stale store copy, and `excluded` left out.
async fn combined_verdict(
    ctx: &Arc<Context>,
    workload: &Workload,
    current: Option<(&DeploymentReadiness, &Report)>,
    excluded: Option<&str>,
    at: JudgedAt,
) -> Option<DeploymentVerdict> {
    let namespace = workload.metadata().namespace.as_deref().unwrap_or_default();
    let mut verdict = DeploymentVerdict::default();
    let mut any = false;
    let current_name = current.map(|(r, _)| r.name_any());
    for sibling in ctx
        .stores
        .readiness_for(namespace, workload.kind(), workload.name())
    {
        let name = sibling.name_any();
        if Some(name.as_str()) == excluded
            || Some(&name) == current_name.as_ref()
            || sibling.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let (report, _) = judge(ctx, &sibling, Some(workload.clone()), at).await;
        verdict.add(&sibling, &report);
        any = true;
    }
    if let Some((readiness, report)) = current {
        verdict.add(readiness, report);
        any = true;
    }
    any.then_some(verdict)
}

/// What writing the workload came to.
enum Synced {
    /// Already as decided, or written.
    Done,
    /// The workload changed since it was judged (the API server refused the stale
    /// `resourceVersion`): judge it again.
    Stale,
}

async fn sync_workload(
    ctx: &Context,
    workload: &Workload,
    verdict: Option<&DeploymentVerdict>,
    readiness: &DeploymentReadiness,
) -> Result<Synced> {
    let desired = enforce::decide(workload, verdict);
    if enforce::in_sync(workload, &desired) {
        return Ok(Synced::Done);
    }
    let applied = match enforce::apply(&ctx.client, workload, &desired).await {
        Ok(applied) => applied,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            debug!(%workload, "the workload changed since it was judged; judging again");
            return Ok(Synced::Stale);
        }
        Err(e) => return Err(e.into()),
    };
    ctx.metrics.deployment_writes.inc();
    if let (Workload::Deployment(before), Workload::Deployment(after)) = (workload, applied) {
        let mut after = Arc::unwrap_or_clone(after);
        trim(&mut after);
        ctx.deployment_writes.record(before, after);
    }
    info!(%workload, hold = ?desired.hold, "applied rollout gate");
    if desired.break_glass {
        warn!(%workload, "rollout resumed by hand while gates fail: gonogo no longer holds this pod template");
        ctx.events
            .send(Publication {
                transitions: events::break_glass(verdict),
                readiness: readiness.object_ref(&()),
                deployment: Some(workload_ref(workload)),
            })
            .await;
    }
    Ok(Synced::Done)
}

/// The target workload, as fresh as we know it.
fn fresh_workload(
    ctx: &Context,
    namespace: &str,
    kind: WorkloadKind,
    name: &str,
) -> Option<Workload> {
    match kind {
        WorkloadKind::Deployment => fresh_target(ctx, namespace, name).map(Workload::from),
        _ => ctx.stores.workload(namespace, kind, name),
    }
}

/// A reference to the workload, for events about it.
fn workload_ref(workload: &Workload) -> ObjectReference {
    match workload {
        Workload::Deployment(d) => d.object_ref(&()),
        Workload::StatefulSet(s) => s.object_ref(&()),
        Workload::DaemonSet(d) => d.object_ref(&()),
    }
}

/// The target Deployment, as fresh as we know it.
fn fresh_target(ctx: &Context, namespace: &str, name: &str) -> Option<Arc<Deployment>> {
    ctx.stores
        .deployments
        .get(&ObjectRef::new(name).within(namespace))
        .map(|d| ctx.deployment_writes.fresh(d))
}

/// Server-side apply of the finalizer alone: a set item, so adding it twice (from a stale copy)
/// is harmless and never conflicts with other finalizers.
async fn add_finalizer(
    ctx: &Context,
    api: &Api<DeploymentReadiness>,
    readiness: &DeploymentReadiness,
) -> Result<Arc<DeploymentReadiness>> {
    let patch = json!({
        "apiVersion": "gonogo.dev/v1alpha1",
        "kind": "DeploymentReadiness",
        "metadata": { "name": readiness.name_any(), "finalizers": [FINALIZER] },
    });
    let mut added = api
        .patch(
            &readiness.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    trim(&mut added);
    ctx.readiness_writes.record(readiness, added.clone());
    Ok(Arc::new(added))
}

async fn apply(
    readiness: Arc<DeploymentReadiness>,
    ctx: &Arc<Context>,
    api: &Api<DeploymentReadiness>,
) -> Result<Action> {
    let now = Timestamp::now();
    let namespace = readiness.namespace().unwrap_or_default();
    // A refused cross-namespace targetRef acts on nothing.
    let target_name = readiness.target_name().map(str::to_string);
    let target_kind = readiness.spec.target_ref.kind();
    let workload = target_name
        .as_deref()
        .and_then(|name| fresh_workload(ctx, &namespace, target_kind, name));
    // One time budget for every expression this reconcile judges, siblings' included.
    let at = JudgedAt::starting(now);
    let (report, dependencies) = judge(ctx, &readiness, workload.clone(), at).await;
    let object_ref = ObjectRef::from_obj(readiness.as_ref());
    ctx.index.record(object_ref.clone(), dependencies);
    // Probe exactly the http/prometheus gates this evaluation judged.
    let namespaced = ctx.stores.checklists_in(&namespace);
    let cluster = ctx.stores.cluster_checklists.state();
    ctx.prober.register(
        &object_ref,
        probe_specs(
            &readiness,
            Checklists {
                namespaced: &namespaced,
                cluster: &cluster,
            },
        ),
    );

    let mut readiness = readiness;
    let mut stale = false;
    if let Some(workload) = &workload {
        // The finalizer goes on before gonogo touches the workload, so deleting this object
        // always releases what it holds; it is not needed while the target does not exist.
        if !readiness.finalizers().iter().any(|f| f == FINALIZER) {
            readiness = add_finalizer(ctx, api, &readiness).await?;
        }
        let verdict = combined_verdict(ctx, workload, Some((&readiness, &report)), None, at).await;
        let synced = sync_workload(ctx, workload, verdict.as_ref(), &readiness).await?;
        stale = matches!(synced, Synced::Stale);
    }

    // A StatefulSet with `updateStrategy.type: OnDelete` rolls nothing: gonogo reports it and
    // holds nothing (see `enforce::HoldState`).
    let holdable = workload
        .as_ref()
        .is_none_or(|w| enforce::HoldState::of(w).holdable);
    let blocking =
        readiness.spec.enforcement == Enforcement::Block && report.holds_rollout() && holdable;
    if readiness.spec.enforcement == Enforcement::Block && report.holds_rollout() && !holdable {
        debug!(readiness = %readiness.name_any(), "required gates fail; the target's updateStrategy is OnDelete, so there is no rollout to hold");
    }
    let status = status_from_report(StatusInput {
        report: &report,
        previous: readiness.status.as_ref(),
        generation: readiness.metadata.generation,
        now,
        progress_deadline_seconds: readiness.spec.progress_deadline_seconds,
        blocking,
    });
    if readiness.status.as_ref() != Some(&status) {
        let patch = json!({
            "apiVersion": "gonogo.dev/v1alpha1",
            "kind": "DeploymentReadiness",
            "status": status,
        });
        let mut written = api
            .patch_status(
                &readiness.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(patch),
            )
            .await?;
        ctx.metrics.status_writes.inc();
        trim(&mut written);
        ctx.readiness_writes.record(&readiness, written);
        debug!(passing = %status.summary.as_ref().map(|s| s.passing.as_str()).unwrap_or_default(), "status written");
    }

    ctx.events
        .send(Publication {
            transitions: events::transitions(
                readiness.status.as_ref(),
                &status,
                &report,
                &readiness.name_any(),
            ),
            readiness: readiness.object_ref(&()),
            deployment: workload.as_ref().map(workload_ref),
        })
        .await;
    record_metrics(ctx, &readiness, &status);
    // An approval's expiry changes its gate with nothing watched changing.
    let name = readiness.name_any();
    let approvals_expire: Vec<Timestamp> = ctx
        .stores
        .approvals
        .state()
        .iter()
        .filter(|a| {
            a.metadata.namespace.as_deref() == Some(namespace.as_str())
                && a.spec.readiness_ref.name == name
        })
        .filter_map(|a| a.spec.expires.as_ref().map(|e| e.0))
        .collect();
    if stale {
        return Ok(Action::requeue(STALE_RETRY));
    }
    Ok(Action::requeue(next_wakeup(
        &readiness,
        &status,
        &approvals_expire,
        now,
    )))
}

async fn cleanup(readiness: Arc<DeploymentReadiness>, ctx: &Arc<Context>) -> Result<Action> {
    let namespace = readiness.namespace().unwrap_or_default();
    let name = readiness.name_any();
    if let Some(target) = readiness.target_name()
        && let Some(workload) =
            fresh_workload(ctx, &namespace, readiness.spec.target_ref.kind(), target)
    {
        let verdict = combined_verdict(
            ctx,
            &workload,
            None,
            Some(&name),
            JudgedAt::starting(Timestamp::now()),
        )
        .await;
        let synced = sync_workload(ctx, &workload, verdict.as_ref(), &readiness).await?;
        if let Synced::Stale = synced {
            // Keep the finalizer until the release is written on the current workload.
            return Err(Error::Stale(format!(
                "{workload} changed while its hold was being released; retrying"
            )));
        }
    }
    forget(ctx, &ObjectRef::from_obj(readiness.as_ref()));
    info!(readiness = %name, "released rollout gate on deletion");
    Ok(Action::await_change())
}

fn gate_labels(namespace: &str, readiness: &str, gate: &crate::api::GateStatus) -> GateLabels {
    GateLabels {
        namespace: namespace.to_string(),
        readiness: readiness.to_string(),
        checklist: gate.checklist.clone(),
        gate: gate.name.clone(),
        severity: gate.severity.to_string(),
    }
}

fn record_metrics(
    ctx: &Context,
    readiness: &DeploymentReadiness,
    status: &DeploymentReadinessStatus,
) {
    let namespace = readiness.namespace().unwrap_or_default();
    let name = readiness.name_any();
    let gates = status.gates.iter().map(|gate| {
        let passing = matches!(
            gate.result,
            GateOutcome::Pass | GateOutcome::Waived | GateOutcome::Skipped
        );
        (gate_labels(&namespace, &name, gate), passing)
    });
    ctx.metrics
        .set_readiness(&namespace, &name, gates, status.blocking);
}

/// Drops what the controller keeps about a readiness object that is gone: its relations, probe
/// registrations, metric series, backoff count and recent writes. Run at cleanup, and for an
/// object deleted without the finalizer (never reconciled again) from the watch of deletions.
pub fn forget(ctx: &Context, object: &ObjectRef<DeploymentReadiness>) {
    ctx.index.forget(object);
    ctx.prober.forget(object);
    ctx.metrics.forget_readiness(
        object.namespace.as_deref().unwrap_or_default(),
        &object.name,
    );
    if let Ok(mut failures) = ctx.failures.lock() {
        failures.remove(object);
    }
    ctx.readiness_writes.forget(object);
}

/// Forgets the readiness objects with metric series (every object reconciled since it was
/// last forgotten) that are no longer in the store: after a relist, deletions seen by no
/// watch event.
pub fn forget_missing(ctx: &Context) {
    for (namespace, name) in ctx.metrics.readiness_with_series() {
        let object = ObjectRef::new(&name).within(&namespace);
        if ctx.stores.readiness.get(&object).is_none() {
            forget(ctx, &object);
        }
    }
}

/// When time alone changes the verdict: a waiver or approval expiring, the progress deadline
/// passing.
fn next_wakeup(
    readiness: &DeploymentReadiness,
    status: &DeploymentReadinessStatus,
    approvals_expire: &[Timestamp],
    now: Timestamp,
) -> Duration {
    let mut next = RESYNC;
    let mut consider = |at: Timestamp| {
        if let Ok(d) = Duration::try_from(at.duration_since(now))
            && d < next
        {
            next = d.max(Duration::from_secs(1));
        }
    };
    for expires in readiness
        .spec
        .waivers
        .iter()
        .map(|w| w.expires.0)
        .chain(approvals_expire.iter().copied())
    {
        if expires > now {
            consider(expires);
        }
    }
    if let (Some(since), Some(deadline)) = (
        &status.waiting_since,
        readiness.spec.progress_deadline_seconds,
    ) {
        // Checked: a deadline stored under an older, unbounded schema may pass jiff's range.
        if let Ok(at) = since.0.checked_add(SignedDuration::from_secs(deadline)) {
            consider(at);
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_wakeup_is_the_nearest_future_expiry() {
        let readiness: DeploymentReadiness = serde_yaml_ng::from_str(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: api}\nspec:\n  targetRef: {name: api}\n  \
             waivers: [{item: probes, reason: r, owner: o, expires: '2026-06-01T01:00:00Z'}]\n",
        )
        .unwrap();
        let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let status = DeploymentReadinessStatus::default();
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        assert_eq!(next_wakeup(&readiness, &status, &[], now), RESYNC);
        assert_eq!(
            next_wakeup(&readiness, &status, &[at("2026-06-01T00:00:30Z")], now),
            Duration::from_secs(30)
        );
        // Past expiries are already judged; the waiver's is beyond the resync.
        assert_eq!(
            next_wakeup(&readiness, &status, &[at("2026-05-31T00:00:00Z")], now),
            RESYNC
        );
        let soon: DeploymentReadiness = serde_yaml_ng::from_str(
            &serde_yaml_ng::to_string(&readiness)
                .unwrap()
                .replace("2026-06-01T01:00:00Z", "2026-06-01T00:02:00Z"),
        )
        .unwrap();
        assert_eq!(
            next_wakeup(&soon, &status, &[at("2026-06-01T00:05:00Z")], now),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn a_progress_deadline_beyond_the_representable_time_is_no_wakeup() {
        let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let status = DeploymentReadinessStatus {
            waiting_since: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
            ..Default::default()
        };
        let with_deadline = |seconds: i64| -> DeploymentReadiness {
            serde_yaml_ng::from_str(&format!(
                "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: api}}\nspec:\n  targetRef: {{name: api}}\n  progressDeadlineSeconds: {seconds}\n"
            ))
            .unwrap()
        };
        // The value that made every reconcile of the object panic (and the process exit).
        for huge in [999_999_999_999, i64::MAX, i64::MIN] {
            assert_eq!(next_wakeup(&with_deadline(huge), &status, &[], now), RESYNC);
        }
        assert_eq!(
            next_wakeup(&with_deadline(90), &status, &[], now),
            Duration::from_secs(90)
        );
    }
}
