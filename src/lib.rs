//! gonogo: production-readiness checklists as go/no-go gates for Kubernetes Deployments.
#![forbid(unsafe_code)]

pub mod api;
pub mod checks;
pub mod cli;
pub mod controller;
pub mod engine;
pub mod error;
pub mod manifests;
