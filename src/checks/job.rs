use std::sync::Arc;

use jiff::SignedDuration;
use k8s_openapi::api::batch::v1::{Job as BatchJob, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::{Finding, Outcome, pod};

/// Parameters of the `job` check: a Job completed successfully (a migration, a smoke test), or
/// a CronJob succeeded recently (a backup). Exactly one of `name`, `selector` and `cronJob`.
/// Among several Jobs (a selector, or `currentImages`), the newest decides.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("(has(self.name) ? 1 : 0) + (has(self.selector) ? 1 : 0) + (has(self.cronJob) ? 1 : 0) == 1").message("set exactly one of name, selector and cronJob"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.maxAge) || has(self.cronJob)").message("maxAge applies to a cronJob"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.currentImages) || !has(self.cronJob)").message("currentImages applies to a Job (name or selector)"))]
pub struct Job {
    /// The Job's name; `{{ .target }}` stands for the Deployment's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// Jobs with these labels (in the readiness object's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Only a Job that ran one of the Deployment's current container images counts (a
    /// migration of this release, not of the last one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_images: Option<bool>,
    /// A CronJob whose last successful run must be recent (`maxAge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub cron_job: Option<String>,
    /// How old the CronJob's last success may be, e.g. `1h`, `30m`, `24h`. Without it, the
    /// CronJob must have succeeded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(h|m|s))+$"))]
    pub max_age: Option<String>,
}

impl Check for Job {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        if let Some(cron_job) = &self.cron_job {
            return self.judge_cron_job(cx, &with_target(cron_job, cx));
        }
        let snapshot = cx.snapshot;
        let (what, mut jobs): (String, Vec<&Arc<BatchJob>>) = match (&self.name, &self.selector) {
            (Some(name), _) => {
                let name = with_target(name, cx);
                let jobs = snapshot
                    .jobs
                    .iter()
                    .filter(|j| j.metadata.name.as_deref() == Some(name.as_str()))
                    .collect();
                (format!("Job {name}"), jobs)
            }
            (None, Some(selector)) => {
                let jobs = snapshot
                    .jobs
                    .iter()
                    .filter(|j| {
                        let labels = j.metadata.labels.clone().unwrap_or_default();
                        pod::selector_matches(selector, &labels)
                    })
                    .collect();
                (
                    format!("Jobs selected by {}", pod::describe_selector(selector)),
                    jobs,
                )
            }
            (None, None) => {
                return Outcome::Unknown("job: set one of name, selector and cronJob".into());
            }
        };
        if jobs.is_empty() {
            if let Some(name) = &self.name {
                let name = with_target(name, cx);
                if snapshot.is_assumed_present("Job", &name) {
                    return Outcome::Unknown(format!(
                        "Job {name}: declared present (--assume-present); its status is not known offline"
                    ));
                }
            }
            let hint = if snapshot.is_offline() {
                " in the manifests (a Job created by the release: judged on the live cluster; or pass --assume-present Job/<name>)"
            } else {
                ""
            };
            return fail_or_unknown(cx, format!("{what}: none found{hint}"));
        }
        let images = current_images(cx);
        let all = jobs.len();
        if self.current_images == Some(true) {
            jobs.retain(|j| job_images(j).iter().any(|i| images.contains(i)));
            if jobs.is_empty() {
                return Outcome::fail(format!(
                    "{what}: {all} found, none ran the {}'s current image{} {} (a Job of an earlier release does not count; run the one of this release)",
                    cx.workload.kind(),
                    if images.len() == 1 { "" } else { "s" },
                    images.join(", ")
                ));
            }
        }
        // The newest decides.
        let newest = jobs
            .into_iter()
            .max_by_key(|j| j.metadata.creation_timestamp.clone().map(|t| t.0));
        match newest {
            Some(job) => judge_job(cx, job),
            None => Outcome::Unknown(format!("{what}: none found")),
        }
    }
}

impl Job {
    fn judge_cron_job(&self, cx: &Context<'_>, name: &str) -> Outcome {
        let snapshot = cx.snapshot;
        let Some(cron_job) = snapshot
            .cron_jobs
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
        else {
            if snapshot.is_assumed_present("CronJob", name) {
                return Outcome::Unknown(format!(
                    "CronJob {name}: declared present (--assume-present); its runs are not known offline"
                ));
            }
            return fail_or_unknown(cx, format!("CronJob {name}: not found"));
        };
        if snapshot.is_offline() {
            return Outcome::Unknown(format!(
                "CronJob {name}: its runs are observed on the live cluster only"
            ));
        }
        let suspended = if cron_job.spec.as_ref().and_then(|s| s.suspend) == Some(true) {
            " (spec.suspend is true: it does not run)"
        } else {
            ""
        };
        let last = cron_job
            .status
            .as_ref()
            .and_then(|s| s.last_successful_time.as_ref())
            .map(|t| t.0);
        let Some(last) = last else {
            return Outcome::fail(format!(
                "CronJob {name}: no successful run yet (status.lastSuccessfulTime is unset){suspended}"
            ));
        };
        let age = snapshot.now.duration_since(last);
        let Some(max_age) = &self.max_age else {
            return Outcome::Pass(format!(
                "CronJob {name}: last successful run at {last} ({} ago)",
                friendly(age)
            ));
        };
        let Ok(limit) = max_age.parse::<SignedDuration>() else {
            return Outcome::Unknown(format!(
                "job: maxAge {max_age:?} is not a duration such as 1h or 30m"
            ));
        };
        if age > limit {
            Outcome::fail(format!(
                "CronJob {name}: last successful run at {last}, {} ago, older than maxAge {max_age}{suspended}",
                friendly(age)
            ))
        } else {
            Outcome::Pass(format!(
                "CronJob {name}: last successful run at {last}, {} ago (maxAge {max_age})",
                friendly(age)
            ))
        }
    }
}

/// One Job's conditions: Complete passes, Failed fails with its reason, anything else is
/// running (Unknown).
fn judge_job(cx: &Context<'_>, job: &BatchJob) -> Outcome {
    let name = job.metadata.name.as_deref().unwrap_or_default();
    if cx.snapshot.is_offline() {
        return Outcome::Unknown(format!(
            "Job {name}: its status is observed on the live cluster only"
        ));
    }
    let status = job.status.as_ref();
    let condition = |type_: &str| -> Option<&JobCondition> {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == type_ && c.status == "True"))
    };
    if let Some(c) = condition("Complete") {
        let at = status
            .and_then(|s| s.completion_time.as_ref())
            .or(c.last_transition_time.as_ref())
            .map(|t| format!(" at {}", t.0))
            .unwrap_or_default();
        return Outcome::Pass(format!("Job {name}: completed{at}"));
    }
    if let Some(c) = condition("Failed") {
        let reason = c.reason.as_deref().unwrap_or("no reason given");
        let message = c
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let failed = status.and_then(|s| s.failed).unwrap_or(0);
        return Outcome::Fail(vec![Finding::new(format!(
            "Job {name}: failed ({reason}{message}; {failed} failed pod{}); fix the cause and run it again (a Job does not restart once Failed)",
            if failed == 1 { "" } else { "s" }
        ))]);
    }
    let since = status
        .and_then(|s| s.start_time.as_ref())
        .map(|t| format!("running since {}", t.0))
        .unwrap_or_else(|| "not started yet".into());
    let active = status.and_then(|s| s.active).unwrap_or(0);
    Outcome::Unknown(format!(
        "Job {name}: {since} ({active} active pod{})",
        if active == 1 { "" } else { "s" }
    ))
}

/// Missing in the cluster: Fail. Missing from a manifest set: Unknown (it may be created by
/// another release, or by the cluster).
fn fail_or_unknown(cx: &Context<'_>, message: String) -> Outcome {
    if cx.snapshot.is_offline() {
        Outcome::Unknown(message)
    } else {
        Outcome::fail(message)
    }
}

fn with_target(name: &str, cx: &Context<'_>) -> String {
    name.replace("{{ .target }}", cx.workload_name())
}

fn current_images(cx: &Context<'_>) -> Vec<String> {
    let mut images: Vec<String> = pod::containers(cx.pod)
        .filter_map(|(c, _)| c.image.clone())
        .collect();
    images.sort();
    images.dedup();
    images
}

fn job_images(job: &BatchJob) -> Vec<String> {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|spec| {
            pod::containers(spec)
                .filter_map(|(c, _)| c.image.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// `3h12m`, rounded to the minute (or seconds under a minute).
fn friendly(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    if secs < 60 {
        return format!("{secs}s");
    }
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(friendly(SignedDuration::from_secs(30)), "30s");
        assert_eq!(friendly(SignedDuration::from_secs(3 * 3600 + 720)), "3h12m");
        assert_eq!(friendly(SignedDuration::from_secs(7200)), "2h");
        for ok in ["1h", "30m", "24h", "1h30m"] {
            assert!(ok.parse::<SignedDuration>().is_ok(), "{ok}");
        }
    }
}
