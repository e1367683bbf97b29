//! Waivers: time-boxed exemptions declared on the DeploymentReadiness.

use jiff::Timestamp;

use super::{ExpiredWaiver, Finding, Outcome};
use crate::api::{GateOutcome, Item, Waiver};

/// Apply the waivers that name this item and turn the outcome into a gate result.
pub(super) fn apply(
    waivers: &[Waiver],
    checklist: &str,
    item: &Item,
    outcome: Outcome,
    now: Timestamp,
    expired_out: &mut Vec<ExpiredWaiver>,
) -> (GateOutcome, String, Vec<Finding>) {
    let qualified = format!("{checklist}/{}", item.name);
    let mut active = Vec::new();
    let mut expired_notes = Vec::new();
    for w in waivers
        .iter()
        .filter(|w| w.item == item.name || w.item == qualified)
    {
        if w.expires.0 > now {
            active.push(w);
        } else {
            expired_notes.push(format!("waiver by {} expired {}", w.owner, w.expires.0));
            expired_out.push(ExpiredWaiver {
                item: qualified.clone(),
                owner: w.owner.clone(),
                expired: w.expires.0.to_string(),
            });
        }
    }
    let suffix = |message: String| {
        if expired_notes.is_empty() {
            message
        } else {
            format!("{message} ({})", expired_notes.join("; "))
        }
    };

    match outcome {
        Outcome::Pass(m) => (GateOutcome::Pass, suffix(m), Vec::new()),
        Outcome::Skipped(m) => (GateOutcome::Skipped, suffix(m), Vec::new()),
        Outcome::Unknown(m) => match active.iter().find(|w| w.containers.is_empty()) {
            Some(w) => (GateOutcome::Waived, waived_message(w, &m), Vec::new()),
            None => (GateOutcome::Unknown, suffix(m), Vec::new()),
        },
        Outcome::Fail(findings) => {
            let original = join(&findings);
            if let Some(w) = active.iter().find(|w| w.containers.is_empty()) {
                return (GateOutcome::Waived, waived_message(w, &original), findings);
            }
            let scoped: Vec<&&Waiver> =
                active.iter().filter(|w| !w.containers.is_empty()).collect();
            let remaining: Vec<Finding> = findings
                .into_iter()
                .filter(|f| {
                    !f.container.as_ref().is_some_and(|c| {
                        scoped.iter().any(|w| w.containers.iter().any(|wc| wc == c))
                    })
                })
                .collect();
            if remaining.is_empty() {
                let w = scoped
                    .first()
                    .expect("findings were removed, so a scoped waiver exists");
                (
                    GateOutcome::Waived,
                    waived_message(w, &original),
                    Vec::new(),
                )
            } else {
                (GateOutcome::Fail, suffix(join(&remaining)), remaining)
            }
        }
    }
}

fn join(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| f.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

fn waived_message(w: &Waiver, underlying: &str) -> String {
    let scope = if w.containers.is_empty() {
        String::new()
    } else {
        format!(" for containers {}", w.containers.join(", "))
    };
    format!(
        "waived{scope} by {} until {}: {} [{}]",
        w.owner, w.expires.0, w.reason, underlying
    )
}
