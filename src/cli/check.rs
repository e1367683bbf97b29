//! `gonogo check`: the checklists against rendered manifests.
//!
//! Flags → load the manifests (and `--checklist` files) → judge every Deployment
//! ([`verdicts::judge`]) → print in the chosen format → exit 0 (nothing fails), 1 (a gate
//! fails under `--fail-on`) or 2 (usage or input error).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use jiff::Timestamp;

use super::input::{self, InputError, InputErrors};
use super::output::{self, Format, OutputOptions};
use super::verdicts::{self, AppliesTo, CheckReport, FailOn, Plan, Policy};
use crate::api::WorkloadKind;
use crate::manifests::ManifestSet;

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Exit codes: 0 no failing gate; 1 a gate fails (see --fail-on); 2 usage or input error."
)]
pub struct CheckArgs {
    /// Manifest files or directories (recursive: *.yaml, *.yml, *.json), or `-` for standard
    /// input. Takes several paths (`-f a.yaml b.yaml`, as a shell glob gives) and is
    /// repeatable. Multi-document YAML, JSON, `kind: List` and `helm template` output.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "PATH",
        num_args = 1..,
        required_unless_present = "paths"
    )]
    pub files: Vec<String>,

    /// Manifest paths, as with -f.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// Files or directories with ReadinessChecklist / ClusterReadinessChecklist objects. They
    /// judge the Deployments that have no DeploymentReadiness (see --checklist-applies-to), and
    /// resolve references of the input's DeploymentReadiness objects. Repeatable.
    #[arg(long = "checklist", value_name = "PATH")]
    pub checklists: Vec<String>,

    /// Which Deployments the --checklist checklists judge: `unbound` (those without a
    /// DeploymentReadiness in the input) or `all` (every Deployment, in addition to its own).
    #[arg(long, value_enum, default_value_t = AppliesTo::Unbound, value_name = "WHICH")]
    pub checklist_applies_to: AppliesTo,

    /// Do not judge Deployments that nothing else applies to with the built-in baseline checklist.
    #[arg(long)]
    pub no_baseline: bool,

    /// Judge only workloads of these kinds (comma-separated: deployment, statefulset,
    /// daemonset; kubectl's short names deploy, sts, ds too). Default: every kind.
    #[arg(long, value_delimiter = ',', value_parser = parse_workload_kind, value_name = "KINDS")]
    pub kinds: Vec<WorkloadKind>,

    /// Declare an object that exists in the cluster but not in the manifests, as KIND/NAME
    /// (secret/api-keys, configmap/settings, pvc/data, service/db; KIND/* for any name).
    /// Its keys are unknown, so key checks pass with a note. Repeatable.
    #[arg(long = "assume-present", value_name = "KIND/NAME")]
    pub assume_present: Vec<String>,

    /// Namespace of objects that set none (as `kubectl apply -n`).
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,

    /// What fails the run (exit code 1): a failing `required` gate, any failing gate
    /// (`advisory`), or nothing (`none`: report only).
    #[arg(long, value_enum, default_value_t = FailOn::Required, value_name = "LEVEL")]
    pub fail_on: FailOn,

    /// Unknown gates (not judgeable from manifests) fail the run too, at the --fail-on level.
    #[arg(long)]
    pub fail_on_unknown: bool,

    /// Colour in the table output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,

    /// The time gates are judged at (RFC 3339), for waiver and approval expiry; default now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<Timestamp>,

    /// Prefix for `helm template` `# Source:` paths in SARIF and JUnit locations, e.g.
    /// `charts/` when the chart lives in charts/NAME (Helm prints NAME/templates/...).
    #[arg(long, default_value = "", value_name = "PREFIX")]
    pub source_prefix: String,

    /// Where SARIF, JUnit and compact locations of `helm template` output point: `template`
    /// (the `# Source:` file, line 1), `rendered` (the input file and line), or `auto`: the
    /// template when that file exists (with --source-prefix) or the input is standard input.
    #[arg(long, value_enum, default_value_t = output::SourceMap::Auto, value_name = "WHERE")]
    pub source_map: output::SourceMap,

    /// Input without any Deployment or DeploymentReadiness is not an error (exit 0).
    #[arg(long)]
    pub allow_empty: bool,

    /// List passing and skipped gates in the table too (by default they are counted only).
    #[arg(short = 'v', long = "show-passed")]
    pub show_passed: bool,
}

/// `--kinds` values: a workload kind as kubectl names it (any case, short names too).
fn parse_workload_kind(value: &str) -> Result<WorkloadKind, String> {
    match value.to_ascii_lowercase().as_str() {
        "deployment" | "deployments" | "deploy" => Ok(WorkloadKind::Deployment),
        "statefulset" | "statefulsets" | "sts" => Ok(WorkloadKind::StatefulSet),
        "daemonset" | "daemonsets" | "ds" => Ok(WorkloadKind::DaemonSet),
        _ => Err(format!(
            "{value:?} is not a workload kind: use deployment, statefulset or daemonset"
        )),
    }
}

impl CheckArgs {
    /// Every manifest path: `-f` values, then positional ones.
    pub fn manifest_paths(&self) -> Vec<String> {
        self.files.iter().chain(&self.paths).cloned().collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// What a run produced, before printing.
pub enum Outcome {
    /// The verdicts, and warnings for standard error.
    Judged {
        report: CheckReport,
        warnings: Vec<String>,
    },
    /// Nothing to judge, and that is allowed (`--allow-empty`).
    Empty {
        message: String,
        warnings: Vec<String>,
    },
    /// Usage or input errors (exit code 2).
    Invalid {
        errors: Vec<String>,
        warnings: Vec<String>,
    },
}

pub fn run(args: CheckArgs) -> ExitCode {
    let stderr = &mut std::io::stderr().lock();
    let (loaded, warnings) = match load(&args, &mut input::Stdin::Process) {
        Ok(loaded) => loaded,
        Err(Outcome::Empty { message, warnings }) => {
            print_warnings(stderr, &warnings);
            let _ = writeln!(stderr, "{message}");
            return ExitCode::SUCCESS;
        }
        Err(Outcome::Invalid { errors, warnings }) => {
            print_warnings(stderr, &warnings);
            for e in &errors {
                let _ = writeln!(stderr, "error: {e}");
            }
            return ExitCode::from(2);
        }
        Err(Outcome::Judged { .. }) => return ExitCode::from(2), // load never judges
    };
    print_warnings(stderr, &warnings);
    let choice = match args.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    let options = OutputOptions {
        source_prefix: args.source_prefix.clone(),
        width: output::terminal_width(),
        show_passed: args.show_passed,
        source_map: args.source_map,
    };
    // Buffered: stdout alone flushes every line, and a report can be tens of MB. Only the
    // table has colour; the machine formats skip the escape-stripping pass.
    let stdout = std::io::stdout().lock();
    let mut stdout: Box<dyn Write> = match args.output {
        Format::Table => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            anstream::AutoStream::new(stdout, choice),
        )),
        _ => Box::new(std::io::BufWriter::with_capacity(1 << 16, stdout)),
    };

    // Verdicts are printed as they come, so no report of every Deployment is ever held.
    let mut writer = output::Writer::new(args.output, options, loaded.plan.policy, &mut stdout);
    let mut written = writer.begin(loaded.plan.now);
    let mut warnings = Vec::new();
    let mut checklist_warnings = Vec::new();
    verdicts::judge_each(&loaded.set, &loaded.plan, &mut warnings, &mut |d| {
        checklist_warnings.extend(missing_checklists(&d));
        if written.is_ok() {
            written = writer.deployment(&d);
        }
    });
    let result = written
        .and_then(|()| writer.finish(&loaded.input_errors))
        .and_then(|totals| stdout.flush().map(|()| totals));
    warnings.append(&mut checklist_warnings);
    print_warnings(stderr, &warnings);
    print_input_errors(stderr, &loaded.input_errors, loaded.more_errors);
    // The process ends here: freeing every object one by one would only cost time.
    std::mem::forget(loaded);
    match result {
        Ok(totals) => ExitCode::from(totals.exit_code()),
        // A closed pipe (`| head`) is not worth an error message; the verdict is unknown.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(2),
        Err(e) => {
            let _ = writeln!(stderr, "error: writing the report: {e}");
            ExitCode::from(2)
        }
    }
}

/// Warnings for checklists a DeploymentReadiness references but the input lacks.
fn missing_checklists(d: &verdicts::DeploymentVerdicts) -> Vec<String> {
    d.evaluations
        .iter()
        .flat_map(|e| {
            e.report.problems.iter().filter(|p| p.reason == "ChecklistNotFound").map(move |p| {
                format!(
                    "{}/{}: DeploymentReadiness {}: {} (pass the checklist file with --checklist or -f)",
                    d.namespace, d.name, e.readiness, p.message
                )
            })
        })
        .collect()
}

/// Documents that could not be read, on standard error (every format also carries them).
fn print_input_errors(stderr: &mut dyn Write, errors: &[InputError], more: usize) {
    for e in errors {
        let _ = writeln!(stderr, "error: {e}");
    }
    if more > 0 {
        let _ = writeln!(stderr, "error: ... and {more} more input errors");
    }
    if !errors.is_empty() {
        let _ = writeln!(
            stderr,
            "error: {} document(s) could not be read and were not judged (exit 2)",
            errors.len() + more
        );
    }
}

fn print_warnings(stderr: &mut dyn Write, warnings: &[String]) {
    for w in warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
}

/// The whole command without printing: load, judge. `stdin` supplies standard input.
pub fn check(args: &CheckArgs, stdin: &mut dyn FnMut() -> std::io::Result<String>) -> Outcome {
    match load(args, &mut input::Stdin::Whole(stdin)) {
        Err(outcome) => outcome,
        Ok((loaded, mut warnings)) => {
            let mut report = verdicts::judge(&loaded.set, &loaded.plan, &mut warnings);
            report.input_errors = loaded.input_errors;
            for d in &report.deployments {
                warnings.extend(missing_checklists(d));
            }
            Outcome::Judged { report, warnings }
        }
    }
}

/// An input loaded and ready to judge.
pub struct Loaded {
    pub set: ManifestSet,
    pub plan: Plan,
    /// Documents that could not be read: reported with the verdicts; the exit code is 2.
    pub input_errors: Vec<InputError>,
    /// Input errors beyond those kept.
    pub more_errors: usize,
}

/// Read the manifests and checklist files; `Err` when there is nothing to judge (an input
/// error, or an empty input).
pub fn load(
    args: &CheckArgs,
    stdin: &mut input::Stdin<'_>,
) -> Result<(Loaded, Vec<String>), Outcome> {
    let mut errors = InputErrors::default();
    let mut warnings = Vec::new();

    let mut assumed = BTreeSet::new();
    for a in &args.assume_present {
        match input::parse_assumption(a) {
            Ok(t) => {
                assumed.insert(t);
            }
            Err(e) => errors.push(e),
        }
    }
    if args.namespace.is_empty() {
        errors.push("--namespace must not be empty");
    }

    let mut set = ManifestSet::default();
    let paths = args.manifest_paths();
    let streams = input::load(&paths, &args.namespace, &mut set, stdin, &mut errors);

    // Checklist files: namespaced checklists without a namespace apply in every namespace,
    // so they are loaded under the empty namespace name, which no real object has.
    let mut flag_set = ManifestSet::default();
    if !args.checklists.is_empty() {
        let mut no_stdin = || {
            Err(std::io::Error::other(
                "--checklist does not read standard input",
            ))
        };
        // The checklists judge everything: a broken one stops the run.
        let mut checklist_errors = InputErrors::default();
        input::load(
            &args.checklists,
            "",
            &mut flag_set,
            &mut input::Stdin::Whole(&mut no_stdin),
            &mut checklist_errors,
        );
        errors.usage.append(&mut checklist_errors.usage);
        errors
            .usage
            .extend(checklist_errors.documents.iter().map(ToString::to_string));
    }
    let mut plan = Plan {
        applies_to: args.checklist_applies_to,
        baseline: !args.no_baseline,
        now: args.now.unwrap_or_else(Timestamp::now),
        policy: Policy {
            fail_on: args.fail_on,
            fail_on_unknown: args.fail_on_unknown,
        },
        assumed,
        kinds: args.kinds.iter().copied().collect(),
        ..Default::default()
    };
    let mut checklist_objects = flag_set.cluster_checklists.len();
    for (ns_name, ns) in &flag_set.namespaces {
        let namespace = (!ns_name.is_empty()).then(|| ns_name.clone());
        checklist_objects += ns.checklists.len();
        plan.checklists.extend(
            ns.checklists
                .iter()
                .map(|c| (namespace.clone(), Arc::clone(c))),
        );
    }
    plan.cluster_checklists = flag_set.cluster_checklists.clone();
    if flag_set.objects > checklist_objects {
        warnings.push(format!(
            "--checklist: {} object(s) other than ReadinessChecklist and ClusterReadinessChecklist ignored (pass manifests with -f)",
            flag_set.objects - checklist_objects
        ));
    }
    if !args.checklists.is_empty() && checklist_objects == 0 && errors.usage.is_empty() {
        errors.push(format!(
            "--checklist {}: no ReadinessChecklist or ClusterReadinessChecklist found",
            args.checklists.join(", ")
        ));
    }
    warnings.append(&mut set.warnings);
    warnings.append(&mut flag_set.warnings);

    if !errors.usage.is_empty() {
        let mut errors_out = errors.usage;
        errors_out.extend(errors.documents.iter().map(ToString::to_string));
        if errors.more > 0 {
            errors_out.push(format!("... and {} more errors", errors.more));
        }
        return Err(Outcome::Invalid {
            errors: errors_out,
            warnings,
        });
    }
    let loaded = |set, plan, errors: InputErrors| Loaded {
        set,
        plan,
        input_errors: errors.documents,
        more_errors: errors.more,
    };
    // A document that could not be read is reported with whatever else was judged (even
    // nothing), so SARIF and JUnit always say what went wrong.
    if !errors.documents.is_empty() {
        return Ok((loaded(set, plan, errors), warnings));
    }
    let judged: usize = set
        .namespaces
        .values()
        .map(|ns| ns.workloads.len() + ns.readiness.len())
        .sum();
    if set.objects == 0 {
        let what = if streams == 1 {
            "the input".to_string()
        } else {
            format!("{streams} inputs")
        };
        let message = format!(
            "no Kubernetes objects in {what} ({}); is the pipeline feeding gonogo empty?",
            paths.join(", ")
        );
        return Err(if args.allow_empty {
            Outcome::Empty { message, warnings }
        } else {
            Outcome::Invalid {
                errors: vec![message],
                warnings,
            }
        });
    }
    if judged == 0 {
        // Jobs and CronJobs have pod templates too: say why they are not judged.
        let (jobs, cron_jobs): (usize, usize) = set
            .namespaces
            .values()
            .map(|ns| (ns.related.jobs.len(), ns.related.cron_jobs.len()))
            .fold((0, 0), |(a, b), (j, c)| (a + j, b + c));
        let batch = if jobs + cron_jobs > 0 {
            format!(
                " ({jobs} Job(s) and {cron_jobs} CronJob(s) were read: their pod templates are not \
                 judged, as their pods run to completion, so probes, replicas and rollouts do not \
                 apply; a `job` gate of a workload's checklist can require that a Job succeeded)"
            )
        } else {
            String::new()
        };
        let message = format!(
            "no Deployment, StatefulSet, DaemonSet or DeploymentReadiness among the {} object(s) read{batch}; nothing to check{}",
            set.objects,
            if args.allow_empty {
                ""
            } else {
                " (pass --allow-empty if that is expected)"
            }
        );
        return Err(if args.allow_empty {
            Outcome::Empty { message, warnings }
        } else {
            Outcome::Invalid {
                errors: vec![message],
                warnings,
            }
        });
    }
    Ok((loaded(set, plan, errors), warnings))
}

/// One fuzzing input through the whole command: parse, load, judge with the baseline (and
/// any readiness and checklists in the text), render every format. Used by `fuzz/` and by
/// the stable mutation test `tests/cli_fuzz.rs`; must never panic. Returns whether the input
/// got as far as verdicts (rather than an input error).
#[doc(hidden)]
pub fn fuzz_one(text: &str) -> bool {
    let args = CheckArgs {
        files: vec!["-".into()],
        checklists: Vec::new(),
        checklist_applies_to: AppliesTo::Unbound,
        no_baseline: false,
        kinds: Vec::new(),
        assume_present: vec!["secret/*".into(), "configmap/settings".into()],
        namespace: "default".into(),
        output: Format::Table,
        fail_on: FailOn::Required,
        fail_on_unknown: false,
        color: ColorWhen::Never,
        now: "2026-06-01T00:00:00Z".parse().ok(),
        source_prefix: String::new(),
        allow_empty: false,
        paths: Vec::new(),
        show_passed: true,
        source_map: output::SourceMap::Auto,
    };
    let mut stdin = || Ok(text.to_string());
    if let Outcome::Judged { report, .. } = check(&args, &mut stdin) {
        let _ = report.fails();
        let judged = report.input_errors.is_empty();
        for format in [
            Format::Table,
            Format::Compact,
            Format::Json,
            Format::Junit,
            Format::Sarif,
        ] {
            let _ = output::render(
                format,
                &report,
                &OutputOptions::default(),
                &mut std::io::sink(),
            );
        }
        return judged;
    }
    false
}
