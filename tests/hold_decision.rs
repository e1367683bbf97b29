//! The Rust twin of the admission policy decides every case of the shared table
//! (`tests/fixtures/hold/cases.yaml`) as the table says; `tests/rollout_hold_e2e.rs` checks the
//! policy itself against the same table on the real API server. Offline.

mod hold_cases;

use gonogo::controller::holds_at_admission;

#[test]
fn the_rust_decision_agrees_with_the_table() {
    let mut wrong = Vec::new();
    for case in hold_cases::cases() {
        let old = case.old.as_ref().map(|o| o.deployment("api", "shop"));
        let new = case.new.deployment("api", "shop");
        let readiness = case.readiness("shop");
        if holds_at_admission(old.as_ref(), &new, &readiness) != case.held {
            wrong.push(format!("{} (expected held: {})", case.name, case.held));
        }
    }
    assert!(wrong.is_empty(), "cases decided wrongly: {wrong:#?}");
}
