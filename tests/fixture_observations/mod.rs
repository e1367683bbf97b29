//! Live observations for fixtures of runtime gates, which manifests alone cannot carry. Header
//! lines, next to `# expect:`:
//!
//! ```yaml
//! # probe: <item or checklist/item> http <status> [body=true|false] [successes=N]
//! # probe: <item> value <number|none> [since=<RFC3339>]
//! # probe: <item> error <reason>
//! # probe: <item> refused <reason>
//! # certificate: <secret> notAfter=<RFC3339> [notBefore=<RFC3339>] [dns=a.example.com,*.b.example.com] [error=<reason>]
//! ```
//!
//! Probes are observed at `now` unless `at=<RFC3339>` is given; an item without a checklist is
//! an inline item.

use gonogo::engine::{CertificateFacts, GateKey, Observations, ProbeObservation, ProbeOutcome};
use jiff::Timestamp;

/// Add the observations declared in `text`'s header lines for the DeploymentReadiness `readiness`.
pub fn apply(
    text: &str,
    readiness: &str,
    now: Timestamp,
    observations: &mut Observations,
) -> Result<(), String> {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# probe: ") {
            let (key, observation) =
                probe(rest, readiness, now).map_err(|e| format!("bad `# probe: {rest}`: {e}"))?;
            observations.probes.insert(key, observation);
        } else if let Some(rest) = line.strip_prefix("# certificate: ") {
            let (secret, facts) =
                certificate(rest).map_err(|e| format!("bad `# certificate: {rest}`: {e}"))?;
            observations.certificates.insert(secret, facts);
        }
    }
    Ok(())
}

fn probe(
    rest: &str,
    readiness: &str,
    now: Timestamp,
) -> Result<(GateKey, ProbeObservation), String> {
    let mut words = rest.split_whitespace();
    let gate = words.next().ok_or("no item")?;
    let (checklist, item) = gate.rsplit_once('/').unwrap_or(("inline", gate));
    let kind = words.next().ok_or("no kind")?;
    let rest: Vec<&str> = words.collect();
    let option = |name: &str| {
        rest.iter()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let time = |name: &str| {
        option(name)
            .map(|t| t.parse::<Timestamp>().map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    let mut consecutive_successes = 0;
    let outcome = match kind {
        "http" => {
            let status = rest
                .first()
                .ok_or("no status")?
                .parse()
                .map_err(|e| format!("status: {e}"))?;
            let body_matched = option("body").map(|b| b == "true");
            consecutive_successes = option("successes")
                .map_or(Ok(1), str::parse)
                .map_err(|e| format!("successes: {e}"))?;
            ProbeOutcome::Http {
                status,
                body_matched,
            }
        }
        "value" => match *rest.first().ok_or("no value")? {
            "none" => ProbeOutcome::Value(None),
            v => ProbeOutcome::Value(Some(v.parse().map_err(|e| format!("value: {e}"))?)),
        },
        "error" => ProbeOutcome::Error(rest.join(" ")),
        "refused" => ProbeOutcome::Refused(rest.join(" ")),
        other => return Err(format!("unknown kind {other}")),
    };
    let key = GateKey {
        readiness: readiness.to_string(),
        checklist: checklist.to_string(),
        item: item.to_string(),
    };
    let observation = ProbeObservation {
        at: time("at")?.unwrap_or(now),
        outcome,
        consecutive_successes,
        holding_since: time("since")?,
    };
    Ok((key, observation))
}

fn certificate(rest: &str) -> Result<(String, CertificateFacts), String> {
    let mut words = rest.split_whitespace();
    let secret = words.next().ok_or("no secret name")?.to_string();
    let mut facts = CertificateFacts {
        not_before: None,
        not_after: Timestamp::UNIX_EPOCH,
        dns_names: Vec::new(),
        subject: String::new(),
        error: None,
    };
    let mut not_after = None;
    for word in words {
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("{word}: expected name=value"))?;
        match name {
            "notAfter" => not_after = Some(value.parse().map_err(|e| format!("notAfter: {e}"))?),
            "notBefore" => {
                facts.not_before = Some(value.parse().map_err(|e| format!("notBefore: {e}"))?)
            }
            "dns" => facts.dns_names = value.split(',').map(str::to_string).collect(),
            "subject" => facts.subject = value.to_string(),
            "error" => facts.error = Some(value.replace('_', " ")),
            other => return Err(format!("unknown field {other}")),
        }
    }
    facts.not_after = not_after.ok_or("no notAfter")?;
    Ok((secret, facts))
}
