//! The mutating admission webhook that holds new pod templates on clusters without
//! MutatingAdmissionPolicy (Kubernetes < 1.36): the same decision as the policies,
//! [`holds_at_admission`], answered as a JSONPatch ([`hold_patch`]: the kind's hold field and
//! gonogo's mark).
//!
//! It serves HTTPS with its own certificate (see [`certificates`]): every replica serves the
//! one in the Secret it names, reloads it when the Secret changes, and keeps the `caBundle` of
//! its MutatingWebhookConfiguration equal to that Secret's CA.
//!
//! It reads DeploymentReadiness objects from a reflector of its own, fed from the start whether
//! or not this replica leads: a standby answers admission reviews too.

pub mod certificates;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use futures::{StreamExt, TryStreamExt};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tracing::{debug, info, warn};

use super::admission::{hold_patch, holds_at_admission};
#[cfg(test)]
use super::enforce::ANNOTATION_PAUSED_BY_GONOGO;
use super::metrics::{DecisionLabel, Metrics};
use crate::api::DeploymentReadiness;
use crate::engine::Workload;

/// The path the MutatingWebhookConfiguration calls.
pub const PATH: &str = "/hold-rollouts";

/// How long a review waits for the first list of DeploymentReadiness objects: well under the
/// webhook's timeout (the chart sets 5 s), so the API server gets an answer, not a timeout.
const SYNC_WAIT: Duration = Duration::from_secs(2);

/// A TLS handshake that takes longer than this is dropped (a stuck client holds no task).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the webhook (`gonogo run --admission-webhook-port`).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub address: SocketAddr,
    pub certificates: certificates::CertificateConfig,
}

/// Serves the webhook until the process ends; keeps its certificate current meanwhile.
pub async fn serve(
    client: Client,
    watch: Vec<Api<DeploymentReadiness>>,
    config: WebhookConfig,
    metrics: Arc<Metrics>,
) {
    let (readiness, writer) = reflector::store();
    let each = watch
        .into_iter()
        .map(|api| {
            let namespace = api.namespace().unwrap_or_default().to_string();
            let stream = watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .inspect_err({
                    let namespace = namespace.clone();
                    move |e| {
                        warn!(namespace = %namespace, error = %e, "admission webhook: watching DeploymentReadiness objects failed; retrying")
                    }
                })
                .filter(|event| std::future::ready(event.is_ok()));
            (namespace, stream)
        })
        .collect();
    tokio::spawn(
        super::namespaces::merged(
            each,
            Box::new(super::stores::tombstone::<DeploymentReadiness>),
        )
        .modify(super::stores::trim)
        .reflect(writer)
        .for_each(|_| std::future::ready(())),
    );
    let resolver = Arc::new(certificates::Resolver::default());
    tokio::spawn(certificates::keep_current(
        client,
        config.certificates.clone(),
        resolver.clone(),
    ));

    let app = Router::new().route(
        PATH,
        post(move |body: Bytes| {
            let readiness = readiness.clone();
            let metrics = metrics.clone();
            async move {
                let review = review(&body, &readiness, &metrics).await;
                match serde_json::to_vec(&review) {
                    Ok(json) => (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        json,
                    )
                        .into_response(),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
                }
            }
        }),
    );

    let tls = match certificates::server_config(resolver) {
        Ok(tls) => tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        Err(e) => {
            tracing::error!(error = %e, "admission webhook: cannot set up TLS; not serving");
            return;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.address).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(address = %config.address, error = %e, "admission webhook: cannot bind the address; not serving");
            return;
        }
    };
    info!(address = %config.address, path = PATH, "serving the admission webhook");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                warn!(error = %e, "admission webhook: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let tls = tls.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "admission webhook: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "admission webhook: TLS handshake timed out");
                    return;
                }
            };
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await
            {
                debug!(%peer, error = %e, "admission webhook: connection ended with an error");
            }
        });
    }
}

fn count(metrics: &Metrics, decision: &str) {
    metrics
        .admission_reviews
        .get_or_create(&DecisionLabel {
            decision: decision.to_string(),
        })
        .inc();
}

/// Answers one AdmissionReview (as JSON bytes) about a Deployment, StatefulSet or DaemonSet.
async fn review(
    body: &[u8],
    readiness: &Store<DeploymentReadiness>,
    metrics: &Metrics,
) -> AdmissionReview<DynamicObject> {
    let request: AdmissionRequest<DynamicObject> =
        match serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
            .map_err(|e| e.to_string())
            .and_then(|review| review.try_into().map_err(|e| format!("{e}")))
        {
            Ok(request) => request,
            Err(e) => {
                count(metrics, "invalid");
                warn!(error = %e, "admission webhook: not an AdmissionReview of a workload");
                return AdmissionResponse::invalid(format!(
                    "gonogo's admission webhook expects an admission.k8s.io/v1 AdmissionReview \
                     of an apps/v1 Deployment, StatefulSet or DaemonSet: {e}"
                ))
                .into_review();
            }
        };
    let (old, new) = match (
        request
            .old_object
            .as_ref()
            .map(|o| workload(&request, o))
            .transpose(),
        request
            .object
            .as_ref()
            .map(|o| workload(&request, o))
            .transpose(),
    ) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => {
            count(metrics, "invalid");
            warn!(error = %e, "admission webhook: not a workload gonogo holds");
            return AdmissionResponse::invalid(e).into_review();
        }
    };
    let response = AdmissionResponse::from(&request);
    if tokio::time::timeout(SYNC_WAIT, readiness.wait_until_ready())
        .await
        .is_err()
    {
        // Holding without knowing the readiness objects could pause a Deployment nothing
        // targets, and nothing would release it: admit, and say so.
        count(metrics, "unsynced");
        warn!(
            namespace = request.namespace.as_deref().unwrap_or(""),
            deployment = request.name,
            "admission webhook: DeploymentReadiness objects are not listed yet; admitted unheld"
        );
        let mut response = response;
        response.warnings = Some(vec![
            "gonogo has not listed DeploymentReadiness objects yet: this rollout is not held \
             at admission; the controller pauses it if a gate fails"
                .to_string(),
        ]);
        return response.into_review();
    }
    let namespace = request.namespace.clone().unwrap_or_default();
    let (Some(new), true) = (
        new.as_ref(),
        new.as_ref()
            .is_some_and(|new| holds(old.as_ref(), new, readiness, &namespace)),
    ) else {
        count(metrics, "admitted");
        return response.into_review();
    };
    match response.clone().with_patch(hold_patch(old.as_ref(), new)) {
        Ok(held) => {
            count(metrics, "held");
            debug!(%namespace, deployment = request.name, "admission webhook: held");
            held.into_review()
        }
        Err(e) => {
            count(metrics, "invalid");
            warn!(error = %e, "admission webhook: cannot encode the hold patch; admitted unheld");
            response.into_review()
        }
    }
}

/// The request's object as the workload of its kind, named and namespaced as in the request (a
/// CREATE may name them only there).
fn workload(
    request: &AdmissionRequest<DynamicObject>,
    object: &DynamicObject,
) -> Result<Workload, String> {
    let mut object = object.clone();
    object
        .metadata
        .namespace
        .get_or_insert_with(|| request.namespace.clone().unwrap_or_default());
    if object.metadata.name.is_none() {
        object.metadata.name = Some(request.name.clone()).filter(|n| !n.is_empty());
    }
    let value = serde_json::to_value(&object).map_err(|e| e.to_string())?;
    let kind = &request.kind;
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("apps", "Deployment") => serde_json::from_value::<Deployment>(value).map(Workload::from),
        ("apps", "StatefulSet") => serde_json::from_value::<StatefulSet>(value).map(Workload::from),
        ("apps", "DaemonSet") => serde_json::from_value::<DaemonSet>(value).map(Workload::from),
        _ => {
            return Err(format!(
                "gonogo holds apps/v1 Deployments, StatefulSets and DaemonSets, not {}/{}",
                kind.group, kind.kind
            ));
        }
    }
    .map_err(|e| format!("{} {}: {e}", kind.kind, request.name))
}

fn holds(
    old: Option<&Workload>,
    new: &Workload,
    readiness: &Store<DeploymentReadiness>,
    namespace: &str,
) -> bool {
    let in_namespace =
        readiness.state_filter(|r| r.metadata.namespace.as_deref() == Some(namespace));
    holds_at_admission(old, new, in_namespace.iter().map(|r| r.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(annotations: Option<&[(&str, &str)]>) -> Deployment {
        let mut d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {}, "template": {}},
        }))
        .unwrap();
        d.metadata.annotations = annotations.map(|a| {
            a.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
        d
    }

    fn applied(d: &Deployment) -> serde_json::Value {
        let mut value = serde_json::to_value(d).unwrap();
        json_patch::patch(&mut value, &hold_patch(None, &Workload::from(d.clone()))).unwrap();
        value
    }

    #[test]
    fn the_hold_patch_adds_the_annotations_map_when_absent() {
        let held = applied(&deployment(None));
        assert_eq!(held["spec"]["paused"], true);
        assert_eq!(
            held["metadata"]["annotations"][ANNOTATION_PAUSED_BY_GONOGO],
            "true"
        );
    }

    #[test]
    fn the_hold_patch_keeps_other_annotations_and_escapes_the_slash() {
        let held = applied(&deployment(Some(&[
            ("team", "shop"),
            (ANNOTATION_PAUSED_BY_GONOGO, "false"),
        ])));
        assert_eq!(held["metadata"]["annotations"]["team"], "shop");
        assert_eq!(
            held["metadata"]["annotations"][ANNOTATION_PAUSED_BY_GONOGO],
            "true"
        );
        assert_eq!(held["spec"]["paused"], true);
    }
}
