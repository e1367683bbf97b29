use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::api::Phase;
use crate::engine::{GateKey, Outcome, ProbeOutcome};

/// Parameters of the `prometheus` check (PostRollout): an instant query against the Prometheus
/// the cluster admin configured, compared with a threshold.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Prometheus {
    /// PromQL returning one sample (a scalar or a one-element vector).
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// `<`, `<=`, `>`, `>=`, `==` or `!=`: the value passes when `value OP threshold`.
    #[x_kube(validation = kube::core::Rule::new("self in [\"<\", \"<=\", \">\", \">=\", \"==\", \"!=\"]").message("operator is one of < <= > >= == !="))]
    #[schemars(length(max = 2))]
    pub operator: String,
    pub threshold: f64,
    /// The condition must have held this long (`5m`, `1h`); default: one sample is enough.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self.matches(\"^([0-9]{1,9}(ms|s|m|h)){1,4}$\")").message("a duration such as 30s, 5m or 1h30m (at most 4 parts of at most 9 digits)"))]
    #[schemars(length(max = 32))]
    pub hold_for: Option<String>,
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5, max = 3600))]
    pub interval_seconds: i32,
}

fn default_interval() -> i32 {
    60
}

/// How long an instant query may take before the prober gives up (it uses the same bound).
const QUERY_TIMEOUT_SECONDS: i32 = 10;

impl Check for Prometheus {
    fn default_phase(&self) -> Phase {
        Phase::PostRollout
    }

    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        // Parameters first: a malformed gate is a misconfiguration wherever it is judged.
        let Some(compare) = comparison(&self.operator) else {
            return Outcome::fail(format!(
                "prometheus: operator {:?} is not one of < <= > >= == !=",
                self.operator
            ));
        };
        let hold_ms = match self.hold_for.as_deref().map(|d| (d, parse_duration_ms(d))) {
            None => None,
            Some((_, Some(ms))) => Some(ms),
            Some((text, None)) => {
                return Outcome::fail(format!(
                    "prometheus: for {text:?} is not a duration such as 30s, 5m or 1h30m"
                ));
            }
        };
        let snapshot = cx.snapshot;
        if snapshot.is_offline() {
            return Outcome::Skipped("runtime gate: judged on the live cluster".into());
        }
        // A query written as a YAML block keeps its newlines; a message is one line.
        let query = shorten(
            &self.query.split_whitespace().collect::<Vec<_>>().join(" "),
            120,
        );
        let key = GateKey {
            readiness: cx.readiness.to_string(),
            checklist: cx.checklist.to_string(),
            item: cx.item.to_string(),
        };
        let Some(observation) = snapshot.observations.probes.get(&key) else {
            return Outcome::Unknown(format!("query `{query}`: no result yet"));
        };
        if let Some(stale) = super::http::staleness(
            observation,
            snapshot.now,
            self.interval_seconds,
            QUERY_TIMEOUT_SECONDS,
        ) {
            return Outcome::Unknown(format!("query `{query}`: {stale}"));
        }
        let wanted = format!("{} {}", self.operator, self.threshold);
        match &observation.outcome {
            ProbeOutcome::Value(None) => {
                Outcome::Unknown(format!("query `{query}` returned no data"))
            }
            ProbeOutcome::Value(Some(v)) if v.is_nan() => {
                Outcome::Unknown(format!("query `{query}` returned NaN"))
            }
            ProbeOutcome::Value(Some(v)) if !compare(*v, self.threshold) => {
                Outcome::fail(format!("query `{query}` returned {v}, expected {wanted}"))
            }
            ProbeOutcome::Value(Some(v)) => match hold_ms {
                None => Outcome::Pass(format!("query `{query}` returned {v} ({wanted})")),
                Some(needed) => {
                    let held = observation.holding_since.map_or(0, |since| {
                        snapshot
                            .now
                            .duration_since(since)
                            .as_millis()
                            .clamp(0, i128::from(i64::MAX)) as i64
                    });
                    let (held_s, needed_s) = (format_duration_ms(held), format_duration_ms(needed));
                    // A Pass names what was required, not how long it has held: that grows
                    // on every evaluation and would rewrite the status each time.
                    if held >= needed {
                        Outcome::Pass(format!(
                            "query `{query}` returned {v} ({wanted}), held for at least {needed_s}"
                        ))
                    } else {
                        Outcome::Unknown(format!(
                            "query `{query}` returned {v} ({wanted}), held for {held_s} of {needed_s}"
                        ))
                    }
                }
            },
            ProbeOutcome::Error(reason) => {
                Outcome::Unknown(format!("query `{query}` failed: {reason}"))
            }
            ProbeOutcome::Refused(reason) => {
                Outcome::fail(format!("query `{query}` refused: {reason}"))
            }
            ProbeOutcome::Http { .. } => Outcome::Unknown(format!(
                "query `{query}`: the probe result is not a query value"
            )),
        }
    }
}

/// The comparison an operator names (`value OP threshold`); `None` for an unknown operator.
/// Shared with the prober, which decides whether a new value changes the verdict.
pub fn comparison(operator: &str) -> Option<fn(f64, f64) -> bool> {
    Some(match operator {
        "<" => |v, t| v < t,
        "<=" => |v, t| v <= t,
        ">" => |v, t| v > t,
        ">=" => |v, t| v >= t,
        "==" => |v, t| v == t,
        "!=" => |v, t| v != t,
        _ => return None,
    })
}

/// A duration such as `30s`, `5m`, `1h30m` or `500ms`, in milliseconds (the CRD allows exactly
/// these units). `None` when malformed or absurdly large.
pub(super) fn parse_duration_ms(text: &str) -> Option<i64> {
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total = total.checked_add(number.checked_mul(unit)?)?;
    }
    Some(total)
}

/// `1h30m`, `2m`, `45s`, `500ms`, `0s`: the largest units, no zero parts.
pub(super) fn format_duration_ms(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return if ms == 0 {
            "0s".into()
        } else {
            format!("{ms}ms")
        };
    }
    let secs = ms / 1_000;
    let (h, m, s) = (secs / 3_600, secs % 3_600 / 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ProbeObservation, Snapshot, Source};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::PodSpec;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn check(operator: &str, threshold: f64, hold_for: Option<&str>) -> Prometheus {
        serde_json::from_value(json!({"query": "errors", "operator": operator, "threshold": threshold, "for": hold_for})).unwrap()
    }

    fn judge(check: &Prometheus, outcome: Option<ProbeOutcome>, since: Option<&str>) -> Outcome {
        let d = Deployment::default();
        let now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let mut s = Snapshot::new("shop", now, Source::Cluster);
        if let Some(outcome) = outcome {
            s.observations.probes.insert(
                GateKey {
                    readiness: "api".into(),
                    checklist: "inline".into(),
                    item: "errors".into(),
                },
                ProbeObservation {
                    at: now,
                    outcome,
                    consecutive_successes: 0,
                    holding_since: since.map(|t| t.parse().unwrap()),
                },
            );
        }
        let pod = PodSpec::default();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: &s,
            workload: &crate::engine::Workload::from(d.clone()),
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "inline",
            item: "errors",
        };
        check.evaluate(&cx)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30s"), Some(30_000));
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("1h30m15s250ms"), Some(5_415_250));
        assert_eq!(parse_duration_ms("90m"), Some(5_400_000));
        for bad in [
            "",
            "5",
            "m",
            "5x",
            "1.5h",
            "-5m",
            "5m ",
            "99999999999999999999h",
            "9223372036854775807h",
        ] {
            assert_eq!(parse_duration_ms(bad), None, "{bad:?}");
        }
        assert_eq!(format_duration_ms(5_400_000), "1h30m");
        assert_eq!(format_duration_ms(120_000), "2m");
        assert_eq!(format_duration_ms(3_600_000), "1h");
        assert_eq!(format_duration_ms(61_000), "1m1s");
        assert_eq!(format_duration_ms(500), "500ms");
        assert_eq!(format_duration_ms(0), "0s");
        assert_eq!(format_duration_ms(-5), "0s");
    }

    #[test]
    fn operators() {
        for (op, value, pass) in [
            ("<", 0.5, true),
            ("<", 1.0, false),
            ("<=", 1.0, true),
            (">", 1.0, false),
            (">=", 1.0, true),
            ("==", 1.0, true),
            ("!=", 1.0, false),
        ] {
            let outcome = judge(
                &check(op, 1.0, None),
                Some(ProbeOutcome::Value(Some(value))),
                None,
            );
            assert_eq!(
                matches!(outcome, Outcome::Pass(_)),
                pass,
                "{value} {op} 1: {outcome:?}"
            );
        }
        assert_eq!(
            judge(
                &check("<", 0.001, None),
                Some(ProbeOutcome::Value(Some(0.0123))),
                None
            ),
            Outcome::fail("query `errors` returned 0.0123, expected < 0.001")
        );
        assert_eq!(
            judge(&check("=~", 1.0, None), None, None),
            Outcome::fail("prometheus: operator \"=~\" is not one of < <= > >= == !=")
        );
    }

    #[test]
    fn hold_for() {
        let c = check("<", 0.001, Some("5m"));
        let ok = Some(ProbeOutcome::Value(Some(0.0004)));
        assert_eq!(
            judge(&c, ok.clone(), Some("2026-05-31T23:58:00Z")),
            Outcome::Unknown("query `errors` returned 0.0004 (< 0.001), held for 2m of 5m".into())
        );
        assert_eq!(
            judge(&c, ok.clone(), None),
            Outcome::Unknown("query `errors` returned 0.0004 (< 0.001), held for 0s of 5m".into())
        );
        // Held longer changes nothing in the status.
        for since in ["2026-05-31T23:55:00Z", "2026-05-31T20:00:00Z"] {
            assert_eq!(
                judge(&c, ok.clone(), Some(since)),
                Outcome::Pass(
                    "query `errors` returned 0.0004 (< 0.001), held for at least 5m".into()
                )
            );
        }
        assert!(matches!(
            judge(&check("<", 1.0, Some("5 minutes")), None, None),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn no_data_nan_errors_and_refusals() {
        let c = check(">", 0.0, None);
        assert_eq!(
            judge(&c, None, None),
            Outcome::Unknown("query `errors`: no result yet".into())
        );
        let multi_line: Prometheus = serde_json::from_value(json!({"query": "sum(rate(x[5m]))\n  /\n  sum(rate(y[5m]))\n", "operator": "<", "threshold": 1})).unwrap();
        assert_eq!(
            judge(&multi_line, None, None),
            Outcome::Unknown("query `sum(rate(x[5m])) / sum(rate(y[5m]))`: no result yet".into())
        );
        assert_eq!(
            judge(&c, Some(ProbeOutcome::Value(None)), None),
            Outcome::Unknown("query `errors` returned no data".into())
        );
        assert_eq!(
            judge(&c, Some(ProbeOutcome::Value(Some(f64::NAN))), None),
            Outcome::Unknown("query `errors` returned NaN".into())
        );
        assert_eq!(
            judge(
                &c,
                Some(ProbeOutcome::Error("connection refused".into())),
                None
            ),
            Outcome::Unknown("query `errors` failed: connection refused".into())
        );
        assert_eq!(
            judge(
                &c,
                Some(ProbeOutcome::Refused("no Prometheus configured".into())),
                None
            ),
            Outcome::fail("query `errors` refused: no Prometheus configured")
        );
    }
}
