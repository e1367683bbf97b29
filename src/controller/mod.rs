//! The operator: `gonogo run`.
//!
//! Watches DeploymentReadiness objects and everything their gates read (reflector stores, no
//! per-reconcile GETs), maps each change to the readiness objects it affects, and reconciles:
//! gather → evaluate (pure engine) → enforce on the Deployment → status, events, metrics.

mod admission;
mod dynamic;
mod enforce;
mod events;
mod guard;
mod index;
mod kind_index;
mod leader;
mod metrics;
mod namespaces;
mod panics;
mod reconcile;
mod recorder;
mod related;
mod server;
mod stores;
mod webhook;
mod writes;

pub use admission::{hold_patch, holds_at_admission};
pub use enforce::{ANNOTATION_BLOCKED, ANNOTATION_PAUSED_BY_GONOGO, FIELD_MANAGER, HoldState};
pub use metrics::Metrics;
pub use reconcile::FINALIZER;
pub use webhook::WebhookConfig;
pub use webhook::certificates::CertificateConfig;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Predicate, PredicateConfig, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{error, info};

use crate::api::{
    ClusterReadinessChecklist, DeploymentReadiness, ReadinessApproval, ReadinessChecklist,
};
use crate::engine::WorkloadKind;
use crate::probe::certificate::CertificateCache;
use crate::probe::{ProbeConfig, Prober, ssrf};
use index::RelationIndex;
use reconcile::Context;
use stores::{Stores, trim};
use writes::RecentWrites;

/// Settings of `gonogo run`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Watch only these namespaces (namespaced kinds); empty: every namespace.
    pub namespaces: Vec<String>,
    pub metrics_address: SocketAddr,
    pub concurrency: u16,
    pub leader_election: bool,
    pub lease_name: String,
    pub lease_namespace: String,
    /// This replica's identity for the Lease and events (the pod name).
    pub identity: String,
    /// Related kinds not to read at all (Secrets, ConfigMaps), with why, for the gates that
    /// need them.
    pub unread: std::collections::BTreeMap<&'static str, String>,
    /// Live probes: concurrency, the SSRF guard's allowed ranges, the Prometheus address.
    pub probe: ProbeConfig,
    /// The admission webhook that holds new pod templates, when served.
    pub webhook: Option<WebhookConfig>,
}

fn scoped<K>(client: &Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    namespaces::apis(client, namespaces)
}

pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    let mut kube_config = kube::Config::infer().await?;
    // kube-rs sends no User-Agent: name ourselves in the API server's audit log, as client-go does.
    kube_config.headers.push((
        "user-agent".parse()?,
        concat!("gonogo/", env!("CARGO_PKG_VERSION")).parse()?,
    ));
    // Every write of the controller passes the leader term's guard; the elector's own client
    // (which must write the Lease to get a term) does not.
    let term = if config.leader_election {
        leader::Term::elected()
    } else {
        leader::Term::unelected()
    };
    let client = kube::client::ClientBuilder::try_from(kube_config.clone())?
        .with_layer(&leader::WriteGuardLayer(term.clone()))
        .build();
    let ns = config.namespaces.as_slice();
    let metrics = Arc::new(Metrics::default());
    let index = RelationIndex::default();

    let readiness_writes = Arc::new(RecentWrites::<DeploymentReadiness>::default());
    let deployment_writes = Arc::new(RecentWrites::<Deployment>::default());
    let (readiness, readiness_writer) = reflector::store();
    let targets = index::TargetIndex::default();
    let unreadable = guard::UnreadableObjects::new(metrics.unreadable_objects.clone());
    // Readiness objects gone (`Some`), or a relist that may have missed deletions (`None`):
    // what the controller keeps about them is dropped (`reconcile::forget`).
    let (gone_tx, mut gone_rx) = tokio::sync::mpsc::unbounded_channel();
    let readiness_triggers = {
        let writes = readiness_writes.clone();
        let targets = targets.clone();
        let each = scoped::<DeploymentReadiness>(&client, ns)
            .into_iter()
            .map(|api| {
                let namespace = api.namespace().map(str::to_string);
                // An unreadable DeploymentReadiness never reaches the reconciler; it gets a
                // status saying which field gonogo cannot read, so `kubectl wait` and
                // `helm --wait` end.
                let mut readable = guard::readable_events::<DeploymentReadiness>(
                    unreadable.clone(),
                    namespace.clone(),
                    guard::report_on_readiness(client.clone()),
                );
                let stream = watcher(
                    guard::guarded(api),
                    watcher::Config::default().any_semantic(),
                )
                .backoff(stores::watch_backoff())
                .inspect_err({
                    let namespace = namespace.clone();
                    move |e| {
                        tracing::warn!(
                            kind = "DeploymentReadiness",
                            namespace = namespace.as_deref().unwrap_or("(all)"),
                            error = %e,
                            "watch failed; retrying"
                        )
                    }
                })
                // Retried above; an error passed on would pause every trigger stream (see
                // below).
                .filter(|event| std::future::ready(event.is_ok()))
                .try_filter_map(move |event| std::future::ready(Ok(readable(event))));
                (namespace.unwrap_or_default(), stream)
            })
            .collect();
        namespaces::merged(each, Box::new(stores::tombstone::<DeploymentReadiness>))
            .inspect_ok(move |event| targets.observe(event))
            .modify(trim)
            .reflect(readiness_writer)
            .inspect_ok(move |event| match event {
                watcher::Event::Delete(r) => {
                    let _ = gone_tx.send(Some(ObjectRef::from_obj(r)));
                }
                watcher::Event::InitDone => {
                    let _ = gone_tx.send(None);
                }
                _ => {}
            })
            .applied_objects()
            // Our own writes coming back need no evaluation; of the rest, only what changes the
            // verdict (spec, deletion: the generation) or the finalizer does.
            .try_filter(move |r| std::future::ready(!writes.is_echo(r)))
            .predicate_filter(
                predicates::generation.combine(predicates::finalizers),
                PredicateConfig::default(),
            )
    };
    let controller = Controller::for_stream(readiness_triggers, readiness.clone());

    let (deployments, deployment_events) = stores::watch(
        scoped::<Deployment>(&client, ns),
        trim,
        metrics.clone(),
        &unreadable,
    );
    let (stateful_sets, stateful_set_events) = stores::watch(
        scoped::<StatefulSet>(&client, ns),
        trim,
        metrics.clone(),
        &unreadable,
    );
    let (daemon_sets, daemon_set_events) = stores::watch(
        scoped::<DaemonSet>(&client, ns),
        trim,
        metrics.clone(),
        &unreadable,
    );
    let (checklists, checklist_events) = stores::watch(
        scoped::<ReadinessChecklist>(&client, ns),
        trim,
        metrics.clone(),
        &unreadable,
    );
    let (cluster_checklists, cluster_checklist_events) = stores::watch(
        vec![Api::<ClusterReadinessChecklist>::all(client.clone())],
        trim,
        metrics.clone(),
        &unreadable,
    );
    let (approvals, approval_events) = stores::watch(
        scoped::<ReadinessApproval>(&client, ns),
        trim,
        metrics.clone(),
        &unreadable,
    );
    // One watch and store per related kind, from the table (`engine::for_each_related_kind`).
    let certificates = CertificateCache::default();
    let mut related = related::WatchRelated {
        client: client.clone(),
        namespaces: config.namespaces.clone(),
        unread: config.unread.clone(),
        metrics: metrics.clone(),
        unreadable: unreadable.clone(),
        readiness: readiness.clone(),
        index: index.clone(),
        certificates: certificates.clone(),
        stores: Vec::new(),
        triggers: Vec::new(),
    };
    crate::engine::for_each_related_kind(&mut related);

    // Pods are read only to vet http gate endpoints (trimmed to their IPs and labels); no
    // reconcile follows their changes, the prober reads the store at each probe.
    let (pods, pod_events) = stores::watch(
        scoped::<k8s_openapi::api::core::v1::Pod>(&client, ns),
        stores::trim_pod,
        metrics.clone(),
        &unreadable,
    );
    tokio::spawn(pod_events.for_each(|_| std::future::ready(())));

    let stores = Stores {
        readiness: readiness.clone(),
        targets: targets.clone(),
        deployments,
        stateful_sets,
        daemon_sets,
        checklists,
        cluster_checklists,
        approvals,
        pods,
        related: Arc::new(related.stores),
        unreadable,
    };

    // Serve /metrics, /healthz and /readyz from the start; ready once the caches synced
    // (or while this replica is a standby, so a two-replica rollout is not held up).
    let synced = Arc::new(AtomicBool::new(false));
    let standby = Arc::new(AtomicBool::new(config.leader_election));
    // Counted when scraped: once per reconcile it would cost O(Deployments) each time.
    let count_blocked = {
        let deployments = stores.deployments.clone();
        let stateful_sets = stores.stateful_sets.clone();
        let daemon_sets = stores.daemon_sets.clone();
        let metrics = metrics.clone();
        move || {
            fn held<K: kube::Resource + Clone>(store: &reflector::Store<K>) -> i64
            where
                K::DynamicType: std::hash::Hash + Eq + Clone,
            {
                store
                    .state_filter(|o| {
                        o.annotations()
                            .get(ANNOTATION_PAUSED_BY_GONOGO)
                            .is_some_and(|v| v == "true")
                    })
                    .len() as i64
            }
            let deployments = held(&deployments);
            metrics.blocked_deployments.set(deployments);
            for (kind, count) in [
                ("Deployment", deployments),
                ("StatefulSet", held(&stateful_sets)),
                ("DaemonSet", held(&daemon_sets)),
            ] {
                metrics
                    .held_workloads
                    .get_or_create(&metrics::KindLabel {
                        kind: kind.to_string(),
                    })
                    .set(count);
            }
        }
    };
    tokio::spawn(server::serve(
        config.metrics_address,
        metrics.clone(),
        count_blocked,
        synced.clone(),
        standby.clone(),
    ));

    // Every replica answers admission reviews, leader or standby, and keeps the serving
    // certificate current (its writes are guarded by resourceVersion, not by the lease).
    if let Some(webhook) = config.webhook.clone() {
        let unguarded = Client::try_from(kube_config.clone())?;
        tokio::spawn(webhook::serve(
            unguarded.clone(),
            scoped::<DeploymentReadiness>(&unguarded, ns),
            webhook,
            metrics.clone(),
        ));
    }

    let lease = if config.leader_election {
        let leases = Api::namespaced(
            Client::try_from(kube_config.clone())?,
            &config.lease_namespace,
        );
        Some(
            leader::acquire(
                leases,
                &config.lease_name,
                &config.identity,
                term,
                metrics.clone(),
            )
            .await,
        )
    } else {
        metrics.leader.set(1);
        None
    };
    standby.store(false, Ordering::SeqCst);

    // Reconciles wait for this too: against a half-listed cache a Deployment or Secret not
    // listed yet reads as missing, which would write a wrong verdict (and maybe a pause).
    let (caches_synced_tx, caches_synced) = tokio::sync::watch::channel(false);
    {
        let stores = stores.clone();
        let synced = synced.clone();
        tokio::spawn(async move {
            if stores.wait_until_ready().await.is_ok() {
                synced.store(true, Ordering::SeqCst);
                caches_synced_tx.send_replace(true);
                info!("caches synced");
            }
        });
    }

    // Probes may not reach the API server; its addresses are read now and every minute, and
    // until they are known http probes are refused.
    let guard = ssrf::Guard::awaiting(config.probe.allow_cidrs.clone());
    tokio::spawn(ssrf::keep_api_server_current(
        guard.clone(),
        client.clone(),
        kube_config.clone(),
    ));
    let (probe_results, probe_triggers) =
        tokio::sync::mpsc::channel::<ObjectRef<DeploymentReadiness>>(1024);
    let probe_config = ProbeConfig {
        metrics: metrics.probes.clone(),
        ..config.probe.clone()
    };
    let prober = Prober::new(probe_config, guard, Arc::new(stores.clone()), probe_results)?;
    let probe_triggers = futures::stream::unfold(probe_triggers, |mut rx| async move {
        rx.recv().await.map(|r| (r, rx))
    });

    // Watches of the kinds `resource` gates name, started on demand; their changes re-evaluate
    // the readiness objects that read the kind, in the namespace changed.
    let (resource_changes, changed_resources) = tokio::sync::mpsc::unbounded_channel();
    let resources =
        dynamic::DynamicWatches::new(client.clone(), config.namespaces.clone(), resource_changes);
    let resource_triggers = {
        let readiness = readiness.clone();
        let index = index.clone();
        futures::stream::unfold(changed_resources, |mut rx| async move {
            rx.recv().await.map(|c| (c, rx))
        })
        .flat_map(move |change: dynamic::Change| {
            let candidates = match &change.namespace {
                Some(ns) => related::readiness_in(&readiness, ns),
                None => related::all_readiness(&readiness),
            };
            futures::stream::iter(index.reading_resource(
                candidates,
                &change.kind,
                change.object.as_ref(),
            ))
        })
    };
    // A kind no gate reads any more stops being watched.
    {
        let resources = resources.clone();
        let index = index.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                resources.retain(&index.resource_kinds());
            }
        });
    }

    let reporter = Reporter {
        controller: "gonogo".into(),
        instance: Some(config.identity.clone()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        stores: stores.clone(),
        events: events::EventQueue::start(
            recorder::Recorder::new(client.clone(), reporter),
            metrics.clone(),
        ),
        metrics: metrics.clone(),
        index: index.clone(),
        failures: Default::default(),
        prober,
        certificates,
        resources,
        caches_synced,
        readiness_writes,
        deployment_writes: deployment_writes.clone(),
    });
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            while let Some(gone) = gone_rx.recv().await {
                match gone {
                    Some(object) => reconcile::forget(&ctx, &object),
                    None => reconcile::forget_missing(&ctx),
                }
            }
        });
    }

    let by_target = {
        let writes = deployment_writes.clone();
        let targets = targets.clone();
        move |d: Deployment| {
            if writes.is_echo(&d) {
                return Vec::new();
            }
            targets.readiness_refs(&d.metadata, WorkloadKind::Deployment)
        }
    };
    let stateful_set_target = {
        let targets = targets.clone();
        move |s: StatefulSet| targets.readiness_refs(&s.metadata, WorkloadKind::StatefulSet)
    };
    let daemon_set_target = {
        let targets = targets.clone();
        move |d: DaemonSet| targets.readiness_refs(&d.metadata, WorkloadKind::DaemonSet)
    };
    let checklist_users = {
        let readiness = readiness.clone();
        move |c: ReadinessChecklist| {
            let (Some(ns), Some(name)) = (c.metadata.namespace.clone(), c.metadata.name.clone())
            else {
                return Vec::new();
            };
            readiness
                .state_filter(|r| {
                    r.metadata.namespace.as_deref() == Some(ns.as_str())
                        && r.spec.checklists.iter().any(|c| c.name == name)
                })
                .iter()
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        }
    };
    let cluster_checklist_users = {
        let readiness = readiness.clone();
        move |c: ClusterReadinessChecklist| {
            let name = c.name_any();
            readiness
                .state_filter(|r| r.spec.checklists.iter().any(|c| c.name == name))
                .iter()
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        }
    };
    let approved = |a: ReadinessApproval| {
        // An unreadable approval's tombstone names no readiness object.
        let readiness = Some(&a.spec.readiness_ref.name).filter(|name| !name.is_empty())?;
        a.metadata
            .namespace
            .clone()
            .map(|ns| ObjectRef::new(readiness).within(&ns))
    };
    let shutdown = shutdown_signal();
    let lost_lease = lease.as_ref().map(|l| l.lost());
    let stop = async move {
        match lost_lease {
            Some(lost) => {
                tokio::select! { _ = shutdown => {}, _ = lost => {} }
            }
            None => shutdown.await,
        }
    };

    // Once the term is lost, reconciles still running may not write anyway (the write guard);
    // do not wait long for them.
    let lost_for_a_while = {
        let lost = lease.as_ref().map(|l| l.lost());
        async move {
            match lost {
                Some(lost) => {
                    lost.await;
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
                None => std::future::pending().await,
            }
        }
    };

    info!(
        namespaces = %if ns.is_empty() {
            "(all)".to_string()
        } else {
            ns.join(",")
        },
        "starting controller"
    );
    let mut controller = controller;
    for triggers in related.triggers {
        controller = controller.reconcile_on(triggers);
    }
    let controller = controller
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        // The controller pauses every trigger stream after an error of any of them, by kube's
        // default up to 30 s (reset only after 120 s): that kept it blind for a minute after an
        // API server outage. The watches pass no errors on now; this bounds it should one come.
        .trigger_backoff(stores::watch_backoff())
        .watches_stream(deployment_events, by_target)
        .watches_stream(stateful_set_events, stateful_set_target)
        .watches_stream(daemon_set_events, daemon_set_target)
        .watches_stream(checklist_events, checklist_users)
        .watches_stream(cluster_checklist_events, cluster_checklist_users)
        .watches_stream(approval_events, approved)
        // A probe result that changes a gate's verdict.
        .reconcile_on(probe_triggers)
        .reconcile_on(resource_triggers)
        .graceful_shutdown_on(stop)
        .run(panics::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        });
    tokio::select! {
        _ = controller => info!("controller stopped"),
        _ = lost_for_a_while => error!("reconciles still running 5 s after the leader lease was lost; exiting without them"),
    }
    if let Some(lease) = lease {
        // A lost term ends the process (its caches may be older than the new leader's writes);
        // the Deployment's restart starts a new term, as controller-runtime's managers do.
        if lease.is_lost() {
            anyhow::bail!(
                "lost the leader lease {}/{}: not renewed within the renew deadline ({}s); exiting so a restart starts over with fresh caches",
                config.lease_namespace,
                config.lease_name,
                leader::RENEW_DEADLINE.as_secs()
            );
        }
        lease.release().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutdown requested");
}
