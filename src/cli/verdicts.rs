//! Which checklists judge which Deployment of a manifest set, the verdicts, and what fails
//! the run. Pure: input is a loaded [`ManifestSet`], output a [`CheckReport`].
//!
//! A Deployment is judged by, in this order of preference:
//! 1. the DeploymentReadiness objects of the input that target it (each one separately, with
//!    the checklists of the input and of `--checklist` files to resolve its references);
//! 2. the `--checklist` checklists, through a DeploymentReadiness made up in memory (also for
//!    Deployments that have one, with `--checklist-applies-to all`);
//! 3. the built-in `baseline` checklist, unless `--no-baseline`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;

use crate::api::{
    ChecklistKind, ChecklistRef, ClusterReadinessChecklist, DeploymentReadiness,
    DeploymentReadinessSpec, GateOutcome, ReadinessChecklist, Severity, TargetRef,
};
use crate::engine::{
    Checklists, GateResult, Problem, Report, Workload, WorkloadKind, evaluate, resolve,
};
use crate::manifests::{ManifestSet, Mentions, Origin};

/// The built-in checklist for Deployments nothing else applies to.
pub const BASELINE_YAML: &str = include_str!("../../examples/checklists/baseline.yaml");

/// The baseline checklist, parsed once. `None` only if the compiled-in file is broken, which
/// a test rules out.
pub fn baseline() -> Option<&'static Arc<ReadinessChecklist>> {
    static BASELINE: OnceLock<Option<Arc<ReadinessChecklist>>> = OnceLock::new();
    BASELINE
        .get_or_init(|| {
            let docs = crate::manifests::parse_stream("baseline.yaml", BASELINE_YAML).ok()?;
            let mut set = ManifestSet::default();
            for doc in &docs {
                set.add(doc, "").ok()?;
            }
            set.namespaces
                .values()
                .flat_map(|ns| ns.checklists.iter())
                .next()
                .cloned()
        })
        .as_ref()
}

/// Whose checklists `--checklist` applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AppliesTo {
    /// Deployments with no DeploymentReadiness in the input.
    #[default]
    Unbound,
    /// Every Deployment, in addition to its own DeploymentReadiness objects.
    All,
}

/// Which failures fail the run (exit code 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// A failing Required gate (default).
    #[default]
    Required,
    /// A failing gate of any severity.
    Advisory,
    /// Nothing: report only (input errors still exit 2).
    None,
}

/// What fails the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub fail_on: FailOn,
    /// Unknown gates (and readiness that could not be resolved) fail too.
    pub fail_on_unknown: bool,
}

impl Policy {
    /// Whether this gate fails the run.
    pub fn gate_fails(&self, gate: &GateResult) -> bool {
        let severity_counts = match self.fail_on {
            FailOn::None => false,
            FailOn::Required => gate.severity == Severity::Required,
            FailOn::Advisory => true,
        };
        severity_counts
            && (gate.result == GateOutcome::Fail
                || (self.fail_on_unknown && gate.result == GateOutcome::Unknown))
    }

    /// Whether a problem of the DeploymentReadiness fails the run. Problems that only mean
    /// "not in this manifest set" count as Unknown.
    pub fn problem_fails(&self, problem: &Problem) -> bool {
        self.fail_on != FailOn::None && (!problem_is_unknown(problem) || self.fail_on_unknown)
    }
}

/// A checklist or target that may exist outside the manifest set: offline, not knowing is
/// not failing (the cluster may have it).
pub fn problem_is_unknown(problem: &Problem) -> bool {
    matches!(problem.reason, "ChecklistNotFound" | "TargetNotFound")
}

/// Where the checklists of an evaluation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReadinessSource {
    /// A DeploymentReadiness object of the input.
    Manifest,
    /// `--checklist` files, through a DeploymentReadiness made up in memory.
    ChecklistFlag,
    /// The built-in baseline checklist.
    Baseline,
}

/// The verdicts of one DeploymentReadiness (real or made up) on its Deployment.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub readiness: String,
    pub source: ReadinessSource,
    /// The DeploymentReadiness object's position (for `Manifest`).
    pub origin: Option<Origin>,
    pub report: Report,
}

/// One workload (Deployment, StatefulSet or DaemonSet) and every evaluation of it.
#[derive(Clone, Debug)]
pub struct DeploymentVerdicts {
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
    /// `None` when a DeploymentReadiness targets a workload the input does not contain.
    pub origin: Option<Origin>,
    pub evaluations: Vec<Evaluation>,
}

impl DeploymentVerdicts {
    /// The position to report for this Deployment (its own, or its readiness object's).
    pub fn location(&self) -> Option<&Origin> {
        self.origin
            .as_ref()
            .or_else(|| self.evaluations.iter().find_map(|e| e.origin.as_ref()))
    }
}

/// Everything `gonogo check` concluded.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub now: Timestamp,
    pub policy: Policy,
    pub deployments: Vec<DeploymentVerdicts>,
    /// Objects read from the input.
    pub objects: usize,
    /// Documents that could not be read (the run goes on without them, and exits 2).
    pub input_errors: Vec<crate::cli::input::InputError>,
}

/// Totals over a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub deployments: usize,
    pub evaluations: usize,
    pub gates: usize,
    pub passed: usize,
    pub failed: usize,
    pub unknown: usize,
    pub waived: usize,
    pub skipped: usize,
    pub problems: usize,
    /// Gates and problems that fail the run under the policy.
    pub failing: usize,
    /// Documents that could not be read: the run exits 2.
    pub input_errors: usize,
}

impl Totals {
    /// The exit code: 2 when a document could not be read, 1 when a gate fails, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.input_errors > 0 {
            2
        } else {
            u8::from(self.failing > 0)
        }
    }

    /// Count one Deployment's verdicts in.
    pub fn add(&mut self, d: &DeploymentVerdicts, policy: Policy) {
        self.deployments += 1;
        for e in &d.evaluations {
            self.evaluations += 1;
            self.problems += e.report.problems.len();
            self.failing += e
                .report
                .problems
                .iter()
                .filter(|p| policy.problem_fails(p))
                .count();
            for g in &e.report.gates {
                self.gates += 1;
                match g.result {
                    GateOutcome::Pass => self.passed += 1,
                    GateOutcome::Fail => self.failed += 1,
                    GateOutcome::Unknown => self.unknown += 1,
                    GateOutcome::Waived => self.waived += 1,
                    GateOutcome::Skipped => self.skipped += 1,
                }
                if policy.gate_fails(g) {
                    self.failing += 1;
                }
            }
        }
    }
}

impl CheckReport {
    pub fn evaluations(&self) -> impl Iterator<Item = (&DeploymentVerdicts, &Evaluation)> {
        self.deployments
            .iter()
            .flat_map(|d| d.evaluations.iter().map(move |e| (d, e)))
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for d in &self.deployments {
            t.add(d, self.policy);
        }
        t.input_errors = self.input_errors.len();
        t
    }

    /// Whether the run fails (exit code 1).
    pub fn fails(&self) -> bool {
        self.totals().failing > 0
    }

    /// The exit code: 2 when a document could not be read, 1 when a gate fails, else 0.
    pub fn exit_code(&self) -> u8 {
        self.totals().exit_code()
    }
}

/// What applies besides the input's own DeploymentReadiness objects.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// ReadinessChecklists from `--checklist` files, with their namespace (`None`: any namespace).
    pub checklists: Vec<(Option<String>, Arc<ReadinessChecklist>)>,
    pub cluster_checklists: Vec<Arc<ClusterReadinessChecklist>>,
    pub applies_to: AppliesTo,
    pub baseline: bool,
    pub now: Timestamp,
    pub policy: Policy,
    /// `--assume-present`, as `(Kind, name)`; a name `*` stands for any name of that kind.
    pub assumed: BTreeSet<(String, String)>,
    /// `--kinds`: the workload kinds judged (empty: every kind).
    pub kinds: BTreeSet<WorkloadKind>,
}

impl Plan {
    /// Whether workloads of `kind` are judged (`--kinds`).
    pub fn judges(&self, kind: WorkloadKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    fn flag_checklists(&self, namespace: &str) -> Vec<Arc<ReadinessChecklist>> {
        self.checklists
            .iter()
            .filter(|(ns, _)| ns.as_deref().is_none_or(|ns| ns == namespace))
            .map(|(_, c)| c.clone())
            .collect()
    }
}

/// Judge every Deployment of `set` (and every DeploymentReadiness, even one whose target is
/// missing). Warnings (duplicates, unbound objects) are appended to `warnings`.
pub fn judge(set: &ManifestSet, plan: &Plan, warnings: &mut Vec<String>) -> CheckReport {
    let mut deployments = Vec::new();
    judge_each(set, plan, warnings, &mut |d| deployments.push(d));
    CheckReport {
        now: plan.now,
        policy: plan.policy,
        deployments,
        objects: set.objects,
        input_errors: Vec::new(),
    }
}

/// As [`judge`], handing each Deployment's verdicts to `sink` as soon as they are known, so a
/// large input never holds every report at once.
pub fn judge_each(
    set: &ManifestSet,
    plan: &Plan,
    warnings: &mut Vec<String>,
    sink: &mut dyn FnMut(DeploymentVerdicts),
) {
    let flag_cluster: Vec<Arc<ClusterReadinessChecklist>> = plan.cluster_checklists.clone();
    let mut all_cluster: Vec<Arc<ClusterReadinessChecklist>> = set.cluster_checklists.clone();
    all_cluster.extend(flag_cluster.iter().cloned());
    let flag_mentions = {
        let mut m = Mentions::default();
        for (_, c) in &plan.checklists {
            m.extend(&Mentions::of(&c.spec));
            m.read_by(&c.spec.items);
        }
        for c in &plan.cluster_checklists {
            m.extend(&Mentions::of(&c.spec));
            m.read_by(&c.spec.checklist.items);
        }
        m
    };
    let baseline = plan.baseline.then(baseline).flatten();
    let baseline_mentions = baseline
        .map(|b| {
            let mut m = Mentions::of(&b.spec);
            m.read_by(&b.spec.items);
            m
        })
        .unwrap_or_default();

    for (namespace, ns) in &set.namespaces {
        let flag_namespaced = plan.flag_checklists(namespace);
        let has_flag_checklists = !flag_namespaced.is_empty() || !flag_cluster.is_empty();
        // The input's checklists first: a DeploymentReadiness of the chart means the chart's checklist.
        let mut namespaced = ns.checklists.clone();
        namespaced.extend(flag_namespaced.iter().cloned());
        let for_readiness = Checklists {
            namespaced: &namespaced,
            cluster: &all_cluster,
        };
        let for_flags = Checklists {
            namespaced: &flag_namespaced,
            cluster: &flag_cluster,
        };
        let baseline_list: Vec<Arc<ReadinessChecklist>> = baseline.cloned().into_iter().collect();
        let for_baseline = Checklists {
            namespaced: &baseline_list,
            cluster: &[],
        };

        let mut last_of_name: HashMap<(WorkloadKind, &str), usize> = HashMap::new();
        for (i, (w, origin)) in ns.workloads.iter().enumerate() {
            if let Some(previous) = last_of_name.insert((w.kind(), w.name()), i) {
                let (_, first) = &ns.workloads[previous];
                warnings.push(format!(
                    "{}:{}: {} {namespace}/{} appears again (first at {}:{}); the last one is judged, as kubectl apply would leave it",
                    origin.file,
                    origin.line,
                    w.kind(),
                    w.name(),
                    first.file,
                    first.line
                ));
            }
        }
        let mut readiness_by_target: BTreeMap<(WorkloadKind, &str), Vec<usize>> = BTreeMap::new();
        for (i, (r, _)) in ns.readiness.iter().enumerate() {
            let target = &r.spec.target_ref;
            readiness_by_target
                .entry((target.kind(), target.name.as_str()))
                .or_default()
                .push(i);
        }

        // The workloads to judge, in input order (the last of each kind and name), of the
        // kinds asked for.
        let todo: Vec<usize> = (0..ns.workloads.len())
            .filter(|&i| {
                let w = &ns.workloads[i].0;
                plan.judges(w.kind()) && last_of_name.get(&(w.kind(), w.name())) == Some(&i)
            })
            .collect();
        let judge_one = |i: usize| -> Result<DeploymentVerdicts, String> {
            let (workload, origin) = &ns.workloads[i];
            let (kind, name) = (workload.kind(), workload.name());
            let own = readiness_by_target
                .get(&(kind, name))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let use_flags =
                has_flag_checklists && (own.is_empty() || plan.applies_to == AppliesTo::All);
            let use_baseline = own.is_empty() && !use_flags && baseline.is_some();

            let mut extra = Mentions::default();
            if use_flags {
                extra.extend(&flag_mentions);
            }
            if use_baseline {
                extra.extend(&baseline_mentions);
            }
            if use_flags || use_baseline {
                extra.readiness.insert(name.to_string());
            }
            let snapshot = snapshot(set, namespace, workload, plan, &extra);

            let mut evaluations = Vec::new();
            for &r in own {
                let (readiness, r_origin) = &ns.readiness[r];
                evaluations.push(Evaluation {
                    readiness: readiness.metadata.name.clone().unwrap_or_default(),
                    source: ReadinessSource::Manifest,
                    origin: Some(r_origin.clone()),
                    report: evaluate(readiness, for_readiness, &snapshot),
                });
            }
            if use_flags {
                let mut refs: Vec<ChecklistRef> = flag_namespaced
                    .iter()
                    .filter_map(|c| c.metadata.name.clone())
                    .map(|n| ChecklistRef {
                        name: n,
                        kind: ChecklistKind::ReadinessChecklist,
                        namespace: None,
                    })
                    .collect();
                refs.extend(
                    flag_cluster
                        .iter()
                        .filter_map(|c| c.metadata.name.clone())
                        .map(|n| ChecklistRef {
                            name: n,
                            kind: ChecklistKind::ClusterReadinessChecklist,
                            namespace: None,
                        }),
                );
                let readiness = made_up(kind, name, namespace, refs);
                evaluations.push(Evaluation {
                    readiness: name.to_string(),
                    source: ReadinessSource::ChecklistFlag,
                    origin: None,
                    report: evaluate(&readiness, for_flags, &snapshot),
                });
            }
            if use_baseline {
                let refs = vec![ChecklistRef {
                    name: "baseline".into(),
                    kind: ChecklistKind::ReadinessChecklist,
                    namespace: None,
                }];
                let readiness = made_up(kind, name, namespace, refs);
                evaluations.push(Evaluation {
                    readiness: name.to_string(),
                    source: ReadinessSource::Baseline,
                    origin: None,
                    report: evaluate(&readiness, for_baseline, &snapshot),
                });
            }
            if evaluations.is_empty() {
                return Err(format!(
                    "{}:{}: {kind} {namespace}/{name}: no DeploymentReadiness and no checklist applies (--no-baseline); not judged",
                    origin.file, origin.line
                ));
            }
            Ok(DeploymentVerdicts {
                namespace: namespace.clone(),
                kind,
                name: name.to_string(),
                origin: Some(origin.clone()),
                evaluations,
            })
        };
        // Judged on every core a batch at a time, handed on in input order.
        for_each_in_parallel(&todo, &judge_one, &mut |result| match result {
            Ok(verdicts) => sink(verdicts),
            Err(warning) => warnings.push(warning),
        });

        // DeploymentReadiness objects whose workload is not in the input: the engine reports
        // TargetNotFound, which offline means "maybe elsewhere".
        for (&(kind, target), indices) in &readiness_by_target {
            if last_of_name.contains_key(&(kind, target)) || !plan.judges(kind) {
                continue;
            }
            let empty = Workload::from(Deployment::default());
            let snapshot = set.snapshot_with(
                namespace,
                &empty,
                plan.now,
                &plan.assumed,
                &Mentions::default(),
            );
            let evaluations = indices
                .iter()
                .map(|&r| {
                    let (readiness, r_origin) = &ns.readiness[r];
                    Evaluation {
                        readiness: readiness.metadata.name.clone().unwrap_or_default(),
                        source: ReadinessSource::Manifest,
                        origin: Some(r_origin.clone()),
                        report: evaluate(readiness, for_readiness, &snapshot),
                    }
                })
                .collect();
            sink(DeploymentVerdicts {
                namespace: namespace.clone(),
                kind,
                name: target.to_string(),
                origin: None,
                evaluations,
            });
        }
    }
}

/// `work` on every item, on all cores a batch at a time; `done` gets the results in order.
/// Small inputs stay on the calling thread.
fn for_each_in_parallel<T: Send>(
    items: &[usize],
    work: &(dyn Fn(usize) -> T + Sync),
    done: &mut dyn FnMut(T),
) {
    const BATCH: usize = 128;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    for batch in items.chunks(BATCH * threads) {
        if threads == 1 || batch.len() < 32 {
            batch.iter().for_each(|&i| done(work(i)));
            continue;
        }
        let results: Vec<Vec<T>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(batch.len().div_ceil(threads))
                .map(|part| scope.spawn(move || part.iter().map(|&i| work(i)).collect::<Vec<T>>()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        results.into_iter().flatten().for_each(&mut *done);
    }
}

/// The snapshot one Deployment is judged against, with `--assume-present` applied: `KIND/*`
/// expands to every name a check could ask about: the words of the Deployment, its readiness
/// and checklists (what the snapshot filter looks up by name) and of its related objects.
fn snapshot(
    set: &ManifestSet,
    namespace: &str,
    workload: &Workload,
    plan: &Plan,
    extra: &Mentions,
) -> crate::engine::Snapshot {
    let mut snapshot = set.snapshot_with(namespace, workload, plan.now, &plan.assumed, extra);
    let wildcard_kinds: Vec<&str> = plan
        .assumed
        .iter()
        .filter(|(_, n)| n == "*")
        .map(|(k, _)| k.as_str())
        .collect();
    if !wildcard_kinds.is_empty() {
        let mut names = mentioned_names(set, namespace, workload, extra);
        // Names other objects hold: an Ingress's TLS Secret, a PVC's StorageClass, ...
        let related = [
            snapshot
                .ingresses
                .iter()
                .map(|o| Mentions::of(o.as_ref()))
                .collect::<Vec<_>>(),
            snapshot
                .pvcs
                .iter()
                .map(|o| Mentions::of(o.as_ref()))
                .collect(),
            snapshot
                .services
                .iter()
                .map(|o| Mentions::of(o.as_ref()))
                .collect(),
            snapshot
                .hpas
                .iter()
                .map(|o| Mentions::of(o.as_ref()))
                .collect(),
        ];
        for mentions in related.iter().flatten() {
            names.extend(mentions.names.iter().cloned());
        }
        for kind in wildcard_kinds {
            snapshot
                .assumed_present
                .extend(names.iter().map(|n| (kind.to_string(), n.clone())));
        }
    }
    snapshot
}

/// The names a wildcard assumption expands to for one Deployment: whatever its snapshot's
/// filter would look up by name.
fn mentioned_names(
    set: &ManifestSet,
    namespace: &str,
    workload: &Workload,
    extra: &Mentions,
) -> BTreeSet<String> {
    let mut names = extra.names.clone();
    names.extend(Mentions::of_value(&workload.to_value()).names);
    if let Some(ns) = set.namespaces.get(namespace) {
        for (r, _) in ns.readiness.iter().filter(|(r, _)| {
            r.spec.target_ref.kind() == workload.kind() && r.spec.target_ref.name == workload.name()
        }) {
            names.extend(Mentions::of(&r.spec).names);
            let checklists = Checklists {
                namespaced: &ns.checklists,
                cluster: &set.cluster_checklists,
            };
            for source in resolve(r, checklists, namespace).sources {
                names.extend(Mentions::of(&source.items).names);
            }
        }
    }
    names
}

/// A DeploymentReadiness that exists only in memory, named after its workload.
fn made_up(
    kind: WorkloadKind,
    name: &str,
    namespace: &str,
    checklists: Vec<ChecklistRef>,
) -> DeploymentReadiness {
    let mut readiness = DeploymentReadiness::new(
        name,
        DeploymentReadinessSpec {
            target_ref: TargetRef {
                name: name.to_string(),
                kind: (kind != WorkloadKind::Deployment).then_some(kind),
                api_version: None,
                namespace: None,
            },
            checklists,
            items: Vec::new(),
            enforcement: Default::default(),
            waivers: Vec::new(),
            progress_deadline_seconds: None,
        },
    );
    readiness.metadata.namespace = Some(namespace.to_string());
    readiness
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumptions_reach_the_snapshot_and_wildcards_expand_to_referenced_names() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: api, image: \"api:1\", envFrom: [{secretRef: {name: api-env}}]}]\n";
        let mut set = ManifestSet::default();
        for doc in crate::manifests::parse_stream("a.yaml", text).unwrap() {
            set.add(&doc, "default").unwrap();
        }
        let d = set.namespaces["default"].workloads[0].0.clone();
        let plan = Plan {
            assumed: [
                ("Secret".to_string(), "*".to_string()),
                ("ConfigMap".to_string(), "settings".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let s = snapshot(&set, "default", &d, &plan, &Mentions::default());
        assert!(
            s.is_assumed_present("Secret", "api-env"),
            "the wildcard covers the referenced Secret"
        );
        assert!(s.is_assumed_present("ConfigMap", "settings"));
        assert!(
            !s.is_assumed_present("ConfigMap", "api-env"),
            "only the kinds asked for"
        );
    }

    #[test]
    fn the_baseline_checklist_compiles_in_and_parses() {
        let baseline =
            baseline().expect("examples/checklists/baseline.yaml is a valid ReadinessChecklist");
        assert_eq!(baseline.metadata.name.as_deref(), Some("baseline"));
        assert!(baseline.spec.items.iter().any(|i| i.probes.is_some()));
    }
}
