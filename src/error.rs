//! The crate's error type for the controller; every variant is countable by `metric_label`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Invalid(String),
    /// The object changed since it was judged; judged again after a short backoff.
    #[error("{0}")]
    Stale(String),
    /// A reconcile panicked; the panic was contained and reported on the object.
    #[error("internal error: {0}")]
    Panicked(String),
}

impl Error {
    /// A low-cardinality label for the errors metric.
    pub fn metric_label(&self) -> String {
        match self {
            Error::Kube(kube::Error::Api(status)) => format!("api_{}", status.code),
            Error::Kube(_) => "kube".into(),
            Error::Finalizer(_) => "finalizer".into(),
            Error::Invalid(_) => "invalid".into(),
            Error::Stale(_) => "stale".into(),
            Error::Panicked(_) => "panic".into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
