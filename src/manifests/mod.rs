//! Offline input: YAML/JSON manifest streams (as `helm template` prints them) turned into
//! typed objects and per-Deployment [`Snapshot`](crate::engine::Snapshot)s.

mod direct;
mod locate;
mod parse;
mod set;
pub mod versions;
pub mod yaml11;

pub use locate::locate;
pub use parse::{
    Document, Documents, LoadError, RawDocument, documents, parse_stream, raw_documents,
};
pub use set::{
    Classified, ManifestSet, Mentions, Namespace, Origin, SetError, classify, classify_direct,
};
