//! One writer among replicas: a `coordination.k8s.io` Lease with client-go's leader-election
//! timing (lease 15 s, renew deadline 10 s, retry 2 s).
//!
//! The leader may write only until its last successful renewal + the renew deadline: every
//! write of the controller's client passes [`Term::may_write`] (see [`WriteGuard`]), so an old
//! leader cut off from the API server stops writing 5 s before a standby may take the lease over
//! (a standby waits a full lease duration after it last saw the record change), and a write
//! still queued when the partition heals is refused, not sent. Losing the lease ends the term
//! and the process: a new term starts in a new process with fresh caches, as controller-runtime
//! does.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::client::Body;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::metrics::Metrics;

/// How long a standby waits after it last saw the record change before it takes the lease.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the leader acts after its last successful renewal.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the leader renews and a standby retries.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Until when this replica may write. Cheap to clone; shared by the elector and [`WriteGuard`].
#[derive(Clone, Debug)]
pub struct Term {
    /// `None`: no term (a standby, or the term ended). Unused without leader election.
    until: Arc<Mutex<Option<Instant>>>,
    elected: bool,
}

impl Term {
    /// Without leader election this replica is the only writer and always may write.
    pub fn unelected() -> Term {
        Term {
            until: Arc::default(),
            elected: false,
        }
    }

    /// Leader election: no writes until the lease is held.
    pub fn elected() -> Term {
        Term {
            until: Arc::default(),
            elected: true,
        }
    }

    pub fn may_write(&self) -> bool {
        !self.elected || self.until().is_some_and(|until| Instant::now() < until)
    }

    fn until(&self) -> Option<Instant> {
        self.until.lock().map(|u| *u).unwrap_or(None)
    }

    fn set(&self, until: Option<Instant>) {
        if let Ok(mut u) = self.until.lock() {
            *u = until;
        }
    }
}

/// A write the guard refused: this replica does not hold a current leader term.
#[derive(Debug, thiserror::Error)]
#[error(
    "not sent: this replica is not the leader (its lease was not renewed within the {}s renew deadline)",
    RENEW_DEADLINE.as_secs()
)]
pub struct NotLeader;

/// Refuses every request but reads (GET, HEAD, OPTIONS; watches are GETs) outside the term, at
/// the moment it would be sent. One point for every write the controller makes: statuses,
/// finalizers, Deployments, Events.
#[derive(Clone)]
pub struct WriteGuard<S> {
    inner: S,
    term: Term,
}

/// Puts a [`WriteGuard`] in front of a client's service.
pub struct WriteGuardLayer(pub Term);

impl<S> tower::Layer<S> for WriteGuardLayer {
    type Service = WriteGuard<S>;

    fn layer(&self, inner: S) -> WriteGuard<S> {
        WriteGuard {
            inner,
            term: self.0.clone(),
        }
    }
}

fn is_read(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S> tower::Service<http::Request<Body>> for WriteGuard<S>
where
    S: tower::Service<http::Request<Body>>,
    S::Error: Into<BoxError>,
    S::Response: Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if !is_read(request.method()) && !self.term.may_write() {
            debug!(method = %request.method(), uri = %request.uri(), "write refused: not the leader");
            return Box::pin(std::future::ready(Err(NotLeader.into())));
        }
        let response = self.inner.call(request);
        Box::pin(async move { response.await.map_err(Into::into) })
    }
}

/// The lease record as a standby last saw it, and when it saw it change (its own clock, as
/// client-go: the holder's timestamps are not compared across clocks).
#[derive(Default)]
struct Observed {
    record: Option<(Option<String>, Option<MicroTime>)>,
    at: Option<Instant>,
}

/// Holds the lease once [`acquire`] returns; [`Leadership::lost`] resolves when a renewal
/// missed the renew deadline.
pub struct Leadership {
    lost: tokio::sync::watch::Receiver<bool>,
    renewing: tokio::task::JoinHandle<()>,
    elector: Arc<Elector>,
}

struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    term: Term,
    metrics: Arc<Metrics>,
}

/// Wait until this replica holds the lease (retrying every [`RETRY_PERIOD`]), then keep
/// renewing it in the background.
pub async fn acquire(
    api: Api<Lease>,
    name: &str,
    identity: &str,
    term: Term,
    metrics: Arc<Metrics>,
) -> Leadership {
    let elector = Arc::new(Elector {
        api,
        name: name.to_string(),
        identity: identity.to_string(),
        term,
        metrics,
    });
    info!(lease = %name, %identity, "waiting for leadership");
    let mut observed = Observed::default();
    loop {
        let started = Instant::now();
        match elector.try_acquire_or_renew(&mut observed).await {
            Ok(true) => {
                elector.term.set(Some(started + RENEW_DEADLINE));
                break;
            }
            Ok(false) => {}
            Err(e) => {
                warn!(lease = %name, error = %e, "cannot read or take the leader lease; retrying")
            }
        }
        tokio::time::sleep(RETRY_PERIOD).await;
    }
    elector.metrics.leader.set(1);
    info!(lease = %name, %identity, "became leader");
    let (lost_tx, lost) = tokio::sync::watch::channel(false);
    let renewing = tokio::spawn(elector.clone().renew(lost_tx, observed));
    Leadership {
        lost,
        renewing,
        elector,
    }
}

impl Elector {
    /// Renew every [`RETRY_PERIOD`]; end the term when no renewal succeeded within
    /// [`RENEW_DEADLINE`] of the last one.
    async fn renew(
        self: Arc<Self>,
        lost: tokio::sync::watch::Sender<bool>,
        mut observed: Observed,
    ) {
        let why = loop {
            let Some(deadline) = self.term.until() else {
                break "the term was ended";
            };
            tokio::time::sleep_until((Instant::now() + RETRY_PERIOD).min(deadline)).await;
            if Instant::now() >= deadline {
                break "not renewed within the renew deadline";
            }
            let started = Instant::now();
            // A renewal that cannot finish before the deadline is no use: stop waiting then.
            let attempt =
                tokio::time::timeout_at(deadline, self.try_acquire_or_renew(&mut observed)).await;
            match attempt {
                Ok(Ok(true)) => self.term.set(Some(started + RENEW_DEADLINE)),
                // Someone else holds it: the term is over whatever the deadline says.
                Ok(Ok(false)) => break "another replica holds it",
                Ok(Err(e)) => {
                    warn!(lease = %self.name, error = %e, "cannot renew the leader lease; retrying")
                }
                Err(_) => warn!(lease = %self.name, "renewing the leader lease timed out"),
            }
        };
        self.term.set(None);
        self.metrics.leader.set(0);
        self.metrics.leadership_lost.inc();
        error!(
            lease = %self.name,
            identity = %self.identity,
            renew_deadline = ?RENEW_DEADLINE,
            "lost the leader lease: {why}; no more writes, stopping"
        );
        let _ = lost.send(true);
    }

    /// One step of client-go's `tryAcquireOrRenew`: create the lease, renew ours, or take one
    /// that is free or expired. `Ok(false)`: another replica holds it (or won a race).
    async fn try_acquire_or_renew(&self, observed: &mut Observed) -> kube::Result<bool> {
        let now = MicroTime(Timestamp::now());
        let spec = |acquired: Option<MicroTime>, transitions: i32| LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now.clone()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        };
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec(None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let current = lease.spec.clone().unwrap_or_default();
        let holder = current.holder_identity.clone().filter(|h| !h.is_empty());
        let record = Some((holder.clone(), current.renew_time.clone()));
        if observed.record != record {
            observed.record = record;
            observed.at = Some(Instant::now());
        }
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if !ours && holder.is_some() {
            let duration = current
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(LEASE_DURATION, Duration::from_secs);
            let valid = observed.at.is_some_and(|at| Instant::now() < at + duration);
            if valid {
                debug!(lease = %self.name, holder = ?holder, "the lease is held by another replica");
                return Ok(false);
            }
        }
        lease.spec = Some(if ours {
            spec(
                current.acquire_time.clone(),
                current.lease_transitions.unwrap_or(0),
            )
        } else {
            spec(
                None,
                current.lease_transitions.unwrap_or(0).saturating_add(1),
            )
        });
        // Optimistic concurrency: the resourceVersion read above, so two standbys cannot both win.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Give the lease up so a standby takes over at its next retry (client-go's
    /// `ReleaseOnCancel`); only while still holding it.
    async fn release(&self) {
        if !self.term.may_write() {
            return;
        }
        self.term.set(None);
        self.metrics.leader.set(0);
        let release = async {
            let Some(mut lease) = self.api.get_opt(&self.name).await? else {
                return Ok(());
            };
            let mut spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(());
            }
            let now = MicroTime(Timestamp::now());
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(now.clone());
            spec.acquire_time = Some(now);
            lease.spec = Some(spec);
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        };
        match tokio::time::timeout(RETRY_PERIOD, release).await {
            Ok(Ok(())) => info!(lease = %self.name, "released the leader lease"),
            Ok(Err(e)) => {
                warn!(lease = %self.name, error = %e, "cannot release the leader lease; it expires by itself")
            }
            Err(_) => {
                warn!(lease = %self.name, "releasing the leader lease timed out; it expires by itself")
            }
        }
    }
}

impl Leadership {
    /// Resolves when the term ended (the lease was not renewed in time).
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            let _ = lost.wait_for(|lost| *lost).await;
        }
    }

    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Stop renewing and release the lease so a standby takes over at once.
    pub async fn release(self) {
        self.renewing.abort();
        self.elector.release().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_ends_at_its_deadline() {
        assert!(Term::unelected().may_write());
        let term = Term::elected();
        assert!(!term.may_write(), "no writes before the lease is held");
        term.set(Some(Instant::now() + Duration::from_millis(50)));
        assert!(term.may_write());
        std::thread::sleep(Duration::from_millis(60));
        assert!(!term.may_write(), "not one write after the deadline");
        term.set(Some(Instant::now() + RENEW_DEADLINE));
        term.set(None);
        assert!(!term.may_write(), "an ended term allows nothing");
    }

    #[test]
    fn only_reads_pass_outside_a_term() {
        assert!(is_read(&http::Method::GET));
        assert!(!is_read(&http::Method::PATCH));
        assert!(!is_read(&http::Method::POST));
        assert!(!is_read(&http::Method::PUT));
        assert!(!is_read(&http::Method::DELETE));
        // The renew deadline must leave a standby's takeover (a full lease duration after it
        // last saw a renewal) well after the old leader's last write.
        assert!(RENEW_DEADLINE + RETRY_PERIOD < LEASE_DURATION);
    }
}
