//! A panic in one reconcile stays there: it is reported on that object as a condition, counted,
//! and retried with the error policy's backoff, while the operator keeps serving every other
//! object. Uncontained, one bad object would exit the process on every restart.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{error, warn};

use super::enforce::FIELD_MANAGER;
use super::reconcile::{self, Context};
use super::stores::trim;
use crate::api::DeploymentReadiness;
use crate::engine::status::internal_error_status;
use crate::error::{Error, Result};

/// [`reconcile::reconcile`], with a panic turned into an error reported on the object.
pub async fn reconcile(readiness: Arc<DeploymentReadiness>, ctx: Arc<Context>) -> Result<Action> {
    // Unwind safety: what a panic may leave half-updated is in-memory bookkeeping (the relation
    // index, recent writes, backoff counts) that the next reconcile of the object rewrites.
    let attempt = AssertUnwindSafe(reconcile::reconcile(readiness.clone(), ctx.clone()))
        .catch_unwind()
        .await;
    let payload = match attempt {
        Ok(result) => return result,
        Err(payload) => payload,
    };
    let what = panic_message(payload.as_ref());
    ctx.metrics.reconcile_panics.inc();
    error!(
        readiness = %readiness.name_any(),
        namespace = readiness.namespace().unwrap_or_default(),
        panic = %what,
        "reconcile panicked; reported on the object as InternalError and retried with backoff"
    );
    let message = format!(
        "gonogo failed internally while evaluating this object (it panicked: {what}); the target's rollout was left as it was. \
         This is a bug in gonogo: please report it with this message and the operator's log. Retrying with backoff."
    );
    if let Err(e) = report(&readiness, &ctx, &message).await {
        warn!(readiness = %readiness.name_any(), error = %e, "cannot report the internal error on the object");
    }
    Err(Error::Panicked(what))
}

/// Write the `InternalError` conditions on the status, unless they are already there.
async fn report(readiness: &DeploymentReadiness, ctx: &Context, message: &str) -> Result<()> {
    let Some(namespace) = readiness.namespace() else {
        return Ok(());
    };
    let status = internal_error_status(
        readiness.status.as_ref(),
        readiness.meta().generation,
        message,
        Timestamp::now(),
    );
    if readiness.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<DeploymentReadiness> = Api::namespaced(ctx.client.clone(), &namespace);
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
    ctx.readiness_writes.record(readiness, written);
    Ok(())
}

/// The panic's message (`panic!` payloads are a `&str` or a `String`), one line, bounded.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 300 {
        let mut cut = 297;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str("...");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
        assert_eq!(panic_message(caught(|| panic!("boom")).as_ref()), "boom");
        assert_eq!(
            panic_message(caught(|| panic!("at {}\nline two", 3)).as_ref()),
            "at 3 line two"
        );
        assert_eq!(
            panic_message(caught(|| std::panic::panic_any(7u8)).as_ref()),
            "a panic without a message"
        );
        let long = panic_message(&"é".repeat(400));
        assert!(long.len() <= 300 && long.ends_with("..."), "{long}");
    }

    #[tokio::test]
    async fn a_panicking_future_is_contained() {
        let attempt = AssertUnwindSafe(async {
            tokio::task::yield_now().await;
            let huge: i64 = 999_999_999_999;
            let _ = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(huge * 1_000_000);
        })
        .catch_unwind()
        .await;
        let payload = attempt.expect_err("the overflow panics");
        assert!(panic_message(payload.as_ref()).contains("overflow"));
    }
}
