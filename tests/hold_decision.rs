//! The Rust twin of the admission policies decides (and its JSONPatch holds) every case of the shared table
//! (`tests/fixtures/hold/cases.yaml`) as the table says; `tests/rollout_hold_e2e.rs` checks the
//! policy itself against the same table on the real API server. Offline.

mod hold_cases;

use gonogo::controller::{hold_patch, holds_at_admission};

#[test]
fn the_rust_decision_agrees_with_the_table() {
    let mut wrong = Vec::new();
    for case in hold_cases::cases() {
        let old = case.old.as_ref().map(|o| o.workload("api", "shop"));
        let new = case.new.workload("api", "shop");
        let readiness = case.readiness("shop");
        let held = holds_at_admission(old.as_ref(), &new, &readiness);
        if held != case.held {
            wrong.push(format!("{} (expected held: {})", case.name, case.held));
            continue;
        }
        if !held {
            continue;
        }
        // The webhook's patch holds it as the policy does.
        let mut object = case.new.object("api", "shop");
        json_patch::patch(&mut object, &hold_patch(old.as_ref(), &new)).unwrap();
        let admitted = hold_cases::workload(case.new.kind(), object);
        if !hold_cases::held(&admitted) {
            wrong.push(format!("{}: the patch does not hold it", case.name));
        }
        let recorded = admitted
            .metadata()
            .annotations
            .as_ref()
            .and_then(|a| a.get(hold_cases::PARTITION_BEFORE_HOLD));
        if case.partition_before_hold.is_some() && recorded != case.partition_before_hold.as_ref() {
            wrong.push(format!("{}: recorded partition {recorded:?}", case.name));
        }
    }
    assert!(wrong.is_empty(), "cases decided wrongly: {wrong:#?}");
}
