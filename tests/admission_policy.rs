//! The shipped ValidatingAdmissionPolicy for ReadinessApprovals: it parses as the API type, and
//! its CEL rules, evaluated here on sample requests, let only the approver record an approval
//! and keep approvals immutable. (The e2e suite checks the same against a real API server.)

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube_cel::cel;
use serde::Deserialize;
use serde_json::{Value, json};

const POLICY: &str = include_str!("../deploy/admission/approval-policy.yaml");

fn documents() -> (ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding) {
    let mut docs = serde_yaml_ng::Deserializer::from_str(POLICY);
    let policy = ValidatingAdmissionPolicy::deserialize(docs.next().unwrap()).unwrap();
    let binding = ValidatingAdmissionPolicyBinding::deserialize(docs.next().unwrap()).unwrap();
    assert!(docs.next().is_none());
    (policy, binding)
}

fn approval(approver: &str, item: &str) -> Value {
    json!({
        "apiVersion": "gonogo.dev/v1alpha1", "kind": "ReadinessApproval",
        "metadata": {"name": "api-signoff-x7k2p", "namespace": "shop"},
        "spec": {"readinessRef": {"name": "api"}, "item": item, "approver": approver, "revision": {"images": ["api=ghcr.io/acme/api:1.4.2"]}}
    })
}

fn evaluate(
    expression: &str,
    operation: &str,
    user: &str,
    object: &Value,
    old: &Value,
) -> cel::Value {
    let program = cel::Program::compile(expression).unwrap();
    let mut context = cel::Context::default();
    let request = json!({"operation": operation, "userInfo": {"username": user, "groups": ["system:authenticated"]}});
    context.add_variable("request", request).unwrap();
    context.add_variable("object", object.clone()).unwrap();
    context.add_variable("oldObject", old.clone()).unwrap();
    program.execute(&context).unwrap()
}

/// Whether every validation admits the request; the denial messages otherwise.
fn admit(operation: &str, user: &str, object: &Value, old: &Value) -> Result<(), Vec<String>> {
    let (policy, _) = documents();
    let mut denials = Vec::new();
    for v in policy.spec.unwrap().validations.unwrap() {
        if evaluate(&v.expression, operation, user, object, old) != cel::Value::Bool(true) {
            let message = match &v.message_expression {
                Some(m) => match evaluate(m, operation, user, object, old) {
                    cel::Value::String(s) => s.to_string(),
                    other => panic!("{other:?}"),
                },
                None => v.message.clone().unwrap(),
            };
            denials.push(message);
        }
    }
    if denials.is_empty() {
        Ok(())
    } else {
        Err(denials)
    }
}

#[test]
fn the_policy_matches_approvals_and_is_bound_to_deny() {
    let (policy, binding) = documents();
    let spec = policy.spec.unwrap();
    assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
    let rules = spec.match_constraints.unwrap().resource_rules.unwrap();
    assert_eq!(
        rules[0].api_groups.as_deref(),
        Some(&["gonogo.dev".to_string()][..])
    );
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["readinessapprovals".to_string()][..])
    );
    assert_eq!(
        rules[0].operations.as_deref(),
        Some(&["CREATE".to_string(), "UPDATE".to_string()][..])
    );
    let binding = binding.spec.unwrap();
    assert_eq!(
        binding.policy_name.as_deref(),
        policy.metadata.name.as_deref()
    );
    assert_eq!(
        binding.validation_actions.as_deref(),
        Some(&["Deny".to_string()][..])
    );
}

#[test]
fn only_the_approver_creates_an_approval() {
    assert_eq!(
        admit(
            "CREATE",
            "alice",
            &approval("alice", "signoff"),
            &Value::Null
        ),
        Ok(())
    );
    assert_eq!(
        admit(
            "CREATE",
            "mallory",
            &approval("alice", "signoff"),
            &Value::Null
        ),
        Err(vec![
            "spec.approver must be the requesting user mallory, not alice".to_string()
        ])
    );
    let sa = "system:serviceaccount:ci:deployer";
    assert_eq!(
        admit("CREATE", sa, &approval(sa, "signoff"), &Value::Null),
        Ok(())
    );
}

#[test]
fn approvals_are_immutable_but_metadata_may_change() {
    let old = approval("alice", "signoff");
    assert_eq!(
        admit("UPDATE", "alice", &approval("alice", "runbook"), &old),
        Err(vec![
            "a ReadinessApproval is immutable; record a new one with gonogo approve".to_string()
        ])
    );
    assert_eq!(
        admit("UPDATE", "bob", &approval("bob", "signoff"), &old),
        Err(vec![
            "a ReadinessApproval is immutable; record a new one with gonogo approve".to_string()
        ])
    );
    let mut labelled = old.clone();
    labelled["metadata"]["labels"] = json!({"team": "payments"});
    assert_eq!(admit("UPDATE", "bob", &labelled, &old), Ok(()));
}
