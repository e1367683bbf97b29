//! Offline input: YAML/JSON manifest streams (as `helm template` prints them) turned into
//! typed objects and per-Deployment [`Snapshot`](crate::engine::Snapshot)s.

mod parse;
mod set;

pub use parse::{Document, Documents, LoadError, documents, parse_stream};
pub use set::{ManifestSet, Mentions, Namespace, Origin, SetError};
