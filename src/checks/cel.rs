use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kube::KubeSchema;
use kube_cel::{KubeCelExt, cel};
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::{Outcome, Workload, pod, related};

/// Parameters of the `cel` check: a CEL expression that must be true. Variables: `workload` (the
/// Deployment, StatefulSet or DaemonSet judged; also named `deployment`),
/// `hpa` (the HorizontalPodAutoscaler scaling it, or null), `pdbs`, `services`,
/// `networkPolicies`, `pvcs`, `secrets`, `configMaps`, `jobs` and `cronJobs` (every one in the
/// namespace; Secrets and ConfigMaps as `{metadata: {name, labels}, type, keys}`, never
/// values), `namespace`. The
/// Kubernetes CEL libraries are available (`quantity()`, `url()`, `ip()`, `semver()`, lists,
/// sets, strings, regex `find`). `now` is the evaluation time (RFC 3339; `timestamp(now)`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Cel {
    #[schemars(length(min = 1, max = 4096))]
    pub expression: String,
    /// Reported when the expression is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

mod cost;

/// The variables an expression may use besides the lists of related objects
/// (`related::cel_lists`: `pdbs`, `secrets`, ...).
/// `object` is the object a `resource` gate's expression judges.
/// `deployment` and `workload` are the same object, the workload judged (`deployment` from the
/// time only Deployments were judged).
const VARIABLES: [&str; 6] = [
    "deployment",
    "workload",
    "hpa",
    "namespace",
    "now",
    "object",
];

impl Check for Cel {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let compiled = match compile(&self.expression) {
            Ok(compiled) => compiled,
            Err(message) => {
                return Outcome::fail(format!("cel: expression does not compile: {message}"));
            }
        };
        let offline = if cx.snapshot.is_offline() {
            " (offline: only the manifest set and no status is visible)"
        } else {
            ""
        };
        // A list of a kind this gonogo does not read would be empty, not absent.
        for &list in &compiled.variables {
            if let Some(kind) = related::kind_of_cel_list(list)
                && let Some(why) = cx.snapshot.unread(kind)
            {
                return Outcome::Unknown(format!(
                    "cel: the expression reads `{list}`, but {kind}s are not read ({why})"
                ));
            }
        }
        let variables = match variables(cx, &compiled.variables) {
            Ok(variables) => variables,
            Err(e) => {
                return Outcome::Unknown(format!(
                    "cel: could not convert the objects for evaluation: {e}"
                ));
            }
        };
        let result = evaluate_bounded(&compiled, variables);
        let shown = shorten(&self.expression, 120);
        match result {
            Ok(cel::Value::Bool(true)) => Outcome::Pass(format!("cel: {shown} is true")),
            Ok(cel::Value::Bool(false)) => Outcome::fail(match &self.message {
                Some(message) => format!("cel: {message}"),
                None => format!("cel: {shown} is false"),
            }),
            Ok(other) => Outcome::fail(format!(
                "cel: expression returned {}, not bool",
                other.type_of()
            )),
            Err(NotEvaluated::Error(e)) => {
                Outcome::Unknown(format!("cel: evaluation error: {e}{offline}"))
            }
            Err(not) => Outcome::Unknown(format!("cel: {not}")),
        }
    }
}

impl Cel {
    /// The kinds whose every object in the namespace the expression may read (through `pdbs`,
    /// `secrets`, ...): a change to any of them may change its value. None when it does not
    /// compile (its verdict cannot change).
    pub fn kinds_read(&self) -> Vec<&'static str> {
        let Ok(compiled) = compile(&self.expression) else {
            return Vec::new();
        };
        compiled
            .variables
            .iter()
            .filter_map(|v| related::kind_of_cel_list(v))
            .collect()
    }
}

/// A compiled expression and the variables it refers to (only those are converted).
pub(crate) struct Compiled {
    program: cel::Program,
    /// The program's expression with every loop iteration metered (see [`meter`]): what runs.
    metered: cel::IdedExpr,
    pub(crate) variables: Vec<&'static str>,
}

/// Why an expression gave no value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotEvaluated {
    #[error(
        "not evaluated: its estimated cost over these objects, {0} steps, exceeds the budget of {budget} (nested iteration over large lists?); iterate over fewer objects or nest less",
        budget = cost::BUDGET
    )]
    OverBudget(u64),
    /// The evaluator's words, shortened (they may quote whole objects).
    #[error("{0}")]
    Error(String),
    #[error("the interpreter failed on this expression")]
    Panicked,
    #[error("{0}")]
    Stopped(Limit),
}

/// How long one expression may run. The static estimate refuses what would run long before it
/// starts; this catches what the estimate misjudged (a controller shared by every namespace
/// must answer for all of them).
pub const TIME_LIMIT: Duration = Duration::from_millis(500);
/// How many loop iterations one expression may run: the estimate's budget, counted for real.
pub const STEP_LIMIT: u64 = cost::BUDGET;

/// A limit an expression ran into while it ran.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum Limit {
    #[error(
        "stopped at the time limit of {} ms per expression (nested iteration over large lists?); nest less",
        TIME_LIMIT.as_millis()
    )]
    Time,
    #[error(
        "stopped after {STEP_LIMIT} loop iterations, the limit per expression (nested iteration over large lists?); nest less"
    )]
    Steps,
    #[error(
        "not evaluated: the time for all expressions of this evaluation ({} ms) is spent",
        .0.as_millis()
    )]
    Shared(Duration),
}

/// The running expression's meter: loop iterations left, the deadline, and why it stopped.
struct Meter {
    steps_left: u64,
    deadline: Instant,
    /// The deadline is the shared one of [`within`] (not the expression's own).
    shared: Option<Duration>,
    stopped: Option<Limit>,
}

impl Meter {
    fn tick(&mut self) -> Option<Limit> {
        if self.stopped.is_none() {
            if self.steps_left == 0 {
                self.stopped = Some(Limit::Steps);
            } else if Instant::now() >= self.deadline {
                self.stopped = Some(self.shared.map_or(Limit::Time, Limit::Shared));
            } else {
                self.steps_left -= 1;
            }
        }
        self.stopped
    }
}

thread_local! {
    static METER: std::cell::RefCell<Option<Meter>> = const { std::cell::RefCell::new(None) };
    /// The deadline [`within`] set for every expression evaluated in it, and its length.
    static SHARED: std::cell::Cell<Option<(Instant, Duration)>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with every expression it evaluates (on this thread) stopping at `deadline`, besides
/// each one's own [`TIME_LIMIT`]; `total` is the time the deadline gave, for the message. The
/// controller bounds the evaluations of one reconcile (the object and the siblings it is
/// combined with), whatever number of gates and objects their expressions run over.
pub fn within<T>(deadline: Instant, total: Duration, f: impl FnOnce() -> T) -> T {
    let before = SHARED.replace(Some((deadline, total)));
    let result = f();
    SHARED.set(before);
    result
}

/// The name of the function every loop iteration calls (a name no expression can write).
const TICK: &str = "@gonogo_meter";

/// Counts one loop iteration of the running expression; an error once a limit is reached, on
/// every later iteration too, so the interpreter unwinds at once (an error absorbed by `||`
/// or `&&` does not end the evaluation; the result is thrown away: see [`evaluate_bounded`]).
fn tick(ftx: &cel::FunctionContext, value: cel::Value) -> cel::ResolveResult {
    let stopped = METER.with(|m| m.borrow_mut().as_mut().and_then(Meter::tick));
    match stopped {
        Some(limit) => Err(ftx.error(limit)),
        None => Ok(value),
    }
}

/// `expr` with the condition of every comprehension wrapped in [`TICK`]: the interpreter
/// evaluates it before each iteration (`all`, `exists`, `map`, `filter`, ...), and nothing else
/// in an expression runs longer than its text and the sizes of its inputs allow.
fn meter(expr: &mut cel::IdedExpr) {
    use cel::common::ast::{CallExpr, EntryExpr, Expr};
    match &mut expr.expr {
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        Expr::Select(s) => meter(&mut s.operand),
        Expr::Call(c) => {
            if let Some(target) = c.target.as_deref_mut() {
                meter(target);
            }
            c.args.iter_mut().for_each(meter);
        }
        Expr::List(l) => l.elements.iter_mut().for_each(meter),
        Expr::Map(cel::common::ast::MapExpr { entries })
        | Expr::Struct(cel::common::ast::StructExpr { entries, .. }) => {
            for entry in entries {
                match &mut entry.expr {
                    EntryExpr::MapEntry(e) => {
                        meter(&mut e.key);
                        meter(&mut e.value);
                    }
                    EntryExpr::StructField(f) => meter(&mut f.value),
                }
            }
        }
        Expr::Comprehension(c) => {
            for part in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                meter(part);
            }
            let condition = std::mem::take(&mut c.loop_cond);
            c.loop_cond = cel::IdedExpr {
                id: condition.id,
                expr: Expr::Call(CallExpr {
                    func_name: TICK.to_string(),
                    target: None,
                    args: vec![condition],
                }),
            };
        }
    }
}

/// Evaluates `compiled` with `variables`, bounded before it runs by the cost budget and while
/// it runs by [`TIME_LIMIT`], [`STEP_LIMIT`] and the deadline of [`within`] (an expression is
/// user input, the controller is shared). The interpreter is third-party code running user
/// input and has todo!()s left: a panic in it becomes an error, never takes the controller
/// down.
pub(crate) fn evaluate_bounded(
    compiled: &Compiled,
    variables: Vec<(&'static str, cel::Value)>,
) -> Result<cel::Value, NotEvaluated> {
    let estimated = cost::estimate(compiled.program.expression(), &cost::Sizes::of(&variables));
    if estimated > cost::BUDGET {
        return Err(NotEvaluated::OverBudget(estimated));
    }
    run_metered(compiled, variables)
}

/// Runs `compiled` under the limits of time and steps (the estimate is [`evaluate_bounded`]'s).
fn run_metered(
    compiled: &Compiled,
    variables: Vec<(&'static str, cel::Value)>,
) -> Result<cel::Value, NotEvaluated> {
    let now = Instant::now();
    let own = now + TIME_LIMIT;
    let (deadline, shared) = match SHARED.get() {
        Some((at, total)) if at <= now => return Err(NotEvaluated::Stopped(Limit::Shared(total))),
        Some((at, total)) if at < own => (at, Some(total)),
        _ => (own, None),
    };
    METER.set(Some(Meter {
        steps_left: STEP_LIMIT,
        deadline,
        shared,
        stopped: None,
    }));
    let result = ROOT.with(|root| {
        catch_unwind(AssertUnwindSafe(|| {
            let mut scope = root.new_inner_scope();
            for (name, value) in variables {
                scope.add_variable_from_value(name, value);
            }
            scope.resolve(&compiled.metered)
        }))
    });
    if let Some(limit) = METER.take().and_then(|m| m.stopped) {
        return Err(NotEvaluated::Stopped(limit));
    }
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(NotEvaluated::Error(shorten(&e.to_string(), 300))),
        Err(_) => Err(NotEvaluated::Panicked),
    }
}

/// Compiled expressions by source text: a checklist is evaluated against many snapshots, and
/// parsing costs far more than evaluation. Compile errors are cached too (they are deterministic).
type Cache = HashMap<String, Result<Arc<Compiled>, String>>;
static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
/// Enough for every distinct expression of a large installation; past it the cache starts over.
const CACHE_CAPACITY: usize = 512;

thread_local! {
    // The standard and Kubernetes functions, registered once per thread; each evaluation adds
    // its variables in a child scope.
    static ROOT: cel::Context<'static> = {
        let mut root = cel::Context::default().with_all();
        root.add_function(TICK, tick);
        root
    };
}

pub(crate) fn compile(expression: &str) -> Result<Arc<Compiled>, String> {
    let cache = CACHE.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
    if let Some(hit) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(expression)
    {
        return hit.clone();
    }
    let compiled = compile_uncached(expression);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= CACHE_CAPACITY {
        map.clear();
    }
    map.insert(expression.to_string(), compiled.clone());
    compiled
}

fn compile_uncached(expression: &str) -> Result<Arc<Compiled>, String> {
    let parsed = catch_unwind(|| cel::Program::compile(expression))
        .map_err(|_| "the parser failed on this expression".to_string())?;
    let program = parsed.map_err(|errors| describe_parse_errors(&errors.errors))?;
    if let Some(what) = unsupported(program.expression()) {
        return Err(format!("{what} is not supported"));
    }
    let references = program.references();
    let variables = VARIABLES
        .into_iter()
        .chain(related::cel_lists())
        .filter(|v| references.has_variable(v))
        .collect();
    let mut metered = program.expression().clone();
    meter(&mut metered);
    Ok(Arc::new(Compiled {
        program,
        metered,
        variables,
    }))
}

/// The first parse error, on one line (the parser reports one per token after the first, and
/// deep nesting yields thousands).
fn describe_parse_errors(errors: &[cel::ParseError]) -> String {
    let Some(first) = errors.first() else {
        return "unknown parse error".into();
    };
    // The recursion guard reports a bogus position and every nested level again.
    if first.msg.contains("Recursion limit") {
        return "nested more than 96 levels deep".into();
    }
    let more = match errors.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} more error(s))", n - 1),
    };
    format!(
        "{}:{}: {}{more}",
        first.pos.0,
        first.pos.1,
        shorten(&first.msg, 200)
    )
}

/// Syntax the parser accepts but the interpreter cannot evaluate (it would panic).
fn unsupported(expr: &cel::IdedExpr) -> Option<&'static str> {
    use cel::common::ast::{EntryExpr, Expr};
    match &expr.expr {
        Expr::Struct(_) => Some("message construction (Type{field: value})"),
        Expr::Unspecified => Some("an empty expression"),
        Expr::Ident(_) | Expr::Literal(_) => None,
        Expr::Select(s) => unsupported(&s.operand),
        Expr::Call(c) => c
            .target
            .as_deref()
            .and_then(unsupported)
            .or_else(|| c.args.iter().find_map(unsupported)),
        Expr::List(l) => l.elements.iter().find_map(unsupported),
        Expr::Map(m) => m.entries.iter().find_map(|e| match &e.expr {
            EntryExpr::MapEntry(e) => unsupported(&e.key).or_else(|| unsupported(&e.value)),
            EntryExpr::StructField(_) => Some("a struct field in a map literal"),
        }),
        Expr::Comprehension(c) => [
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ]
        .into_iter()
        .find_map(unsupported),
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The CEL values of the variables `names`, built from the snapshot.
fn variables(
    cx: &Context<'_>,
    names: &[&'static str],
) -> Result<Vec<(&'static str, cel::Value)>, String> {
    let snapshot = cx.snapshot;
    let mut out = Vec::with_capacity(names.len());
    for &name in names {
        let value = match name {
            // Typed, as every object here: through JSON, numbers would become CEL `uint`s.
            "deployment" | "workload" => match cx.workload {
                Workload::Deployment(d) => cel::to_value(visible(d.as_ref())),
                Workload::StatefulSet(s) => cel::to_value(visible(s.as_ref())),
                Workload::DaemonSet(d) => cel::to_value(visible(d.as_ref())),
            },
            "hpa" => cel::to_value(pod::hpa_for(snapshot, cx.workload).map(visible)),
            "namespace" => cel::to_value(&snapshot.namespace),
            "now" => Ok(cel::Value::String(Arc::new(snapshot.now.to_string()))),
            list => match related::cel_list(snapshot, list) {
                Some(objects) => cel::to_value(objects),
                None => continue,
            },
        }
        .map_err(|e| format!("{name}: {e}"))?;
        out.push((name, value));
    }
    Ok(out)
}

/// `kubectl apply` (client-side, and Argo CD's default) keeps a copy of the whole object in
/// this annotation.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An object as an expression sees it: without the last-applied copy of itself (the related
/// objects lose it when they are stored: `related::trim_metadata`). No gate needs
/// that copy, and as an object's longest string it would bound every field of the cost
/// estimate (see `cost`): an expression that nests two comprehensions (containers, then their
/// env) passes offline and would be refused on every kubectl-applied Deployment.
fn visible<T: kube::Resource + Clone>(object: &T) -> Cow<'_, T> {
    let copied = object
        .meta()
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(LAST_APPLIED));
    if !copied {
        return Cow::Borrowed(object);
    }
    let mut object = object.clone();
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
    Cow::Owned(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Snapshot, Source};
    use k8s_openapi::ByteString;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{PodSpec, Secret};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn deployment() -> Deployment {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "generation": 3, "labels": {"team": "payments"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.0",
                        "resources": {"limits": {"memory": "512Mi"}}}]}
                }
            }
        }))
        .unwrap()
    }

    fn snapshot() -> Snapshot {
        let mut s = Snapshot::new(
            "shop",
            "2026-06-01T00:00:00Z".parse().unwrap(),
            Source::Cluster,
        );
        let mut data = BTreeMap::new();
        data.insert("password".to_string(), ByteString(b"hunter2".to_vec()));
        s.secrets.push(Arc::new(Secret {
            metadata: ObjectMeta {
                name: Some("db".into()),
                ..Default::default()
            },
            data: Some(data),
            type_: Some("Opaque".into()),
            ..Default::default()
        }));
        s
    }

    fn eval(expression: &str) -> Outcome {
        eval_with(expression, None)
    }

    /// `expression` (with `message`) over the Deployment `d` in the snapshot `s`.
    fn eval_on(s: &Snapshot, d: &Deployment, expression: &str, message: Option<&str>) -> Outcome {
        let pod = PodSpec::default();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: s,
            workload: &crate::engine::Workload::from(d.clone()),
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "inline",
            item: "x",
        };
        Cel {
            expression: expression.into(),
            message: message.map(Into::into),
        }
        .evaluate(&cx)
    }

    #[test]
    fn the_last_applied_copy_neither_shows_nor_bounds_the_cost() {
        let mut d = deployment();
        let copy = serde_json::to_string(&d).unwrap().repeat(10);
        d.metadata.annotations = Some(BTreeMap::from([
            (LAST_APPLIED.to_string(), copy),
            ("team".to_string(), "payments".to_string()),
        ]));
        let s = snapshot();
        let check = |expression: &str| eval_on(&s, &d, expression, None);
        // Containers, then their env: refused over a 3 KB string, fine without it.
        let nested = r#"deployment.spec.template.spec.containers.all(c, !has(c.env) ||
            c.env.all(e, !e.name.matches("(KEY|SECRET|PASSWORD|TOKEN)$") || !has(e.value)))"#;
        assert!(
            matches!(check(nested), Outcome::Pass(_)),
            "{:?}",
            check(nested)
        );
        assert!(matches!(
            check(&format!(
                "!(\"{LAST_APPLIED}\" in deployment.metadata.annotations) && deployment.metadata.annotations.team == \"payments\""
            )),
            Outcome::Pass(_)
        ));
    }

    fn eval_with(expression: &str, message: Option<&str>) -> Outcome {
        eval_on(&snapshot(), &deployment(), expression, message)
    }

    fn fail_message(outcome: Outcome) -> String {
        match outcome {
            Outcome::Fail(f) => f
                .into_iter()
                .map(|f| f.message)
                .collect::<Vec<_>>()
                .join("; "),
            other => panic!("expected Fail, got {other:?}"),
        }
    }

    #[test]
    fn true_false_and_message() {
        assert!(matches!(
            eval("deployment.spec.replicas >= 2"),
            Outcome::Pass(_)
        ));
        assert_eq!(
            fail_message(eval("deployment.spec.replicas > 5")),
            "cel: deployment.spec.replicas > 5 is false"
        );
        assert_eq!(
            fail_message(eval_with(
                "deployment.spec.replicas > 5",
                Some("needs 6 replicas")
            )),
            "cel: needs 6 replicas"
        );
    }

    #[test]
    fn kubernetes_libraries_and_variables() {
        assert!(matches!(
            eval(
                "quantity(deployment.spec.template.spec.containers[0].resources.limits.memory).isLessThan(quantity('1Gi'))"
            ),
            Outcome::Pass(_)
        ));
        assert!(matches!(
            eval("namespace == 'shop' && hpa == null && size(pdbs) == 0"),
            Outcome::Pass(_)
        ));
        assert!(matches!(
            eval("deployment.metadata.labels.team == 'payments'"),
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn secrets_expose_key_names_never_values() {
        assert!(matches!(
            eval("secrets.exists(s, s.metadata.name == 'db' && 'password' in s.keys)"),
            Outcome::Pass(_)
        ));
        assert!(matches!(
            eval("secrets[0].type == 'Opaque'"),
            Outcome::Pass(_)
        ));
        // No field of the Secret's value is reachable.
        assert!(matches!(eval("has(secrets[0].data)"), Outcome::Fail(_)));
        let d = deployment();
        let s = snapshot();
        let pod = PodSpec::default();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: &s,
            workload: &crate::engine::Workload::from(d.clone()),
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "inline",
            item: "x",
        };
        let values = variables(&cx, &["secrets"]).unwrap();
        assert!(!format!("{values:?}").contains("hunter2"));
    }

    #[test]
    fn an_expression_over_budget_is_unknown_naming_the_limit() {
        let bomb = bomb();
        let started = std::time::Instant::now();
        match eval(&bomb) {
            Outcome::Unknown(message) => {
                assert!(
                    message.contains("exceeds the budget of 1000000"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    /// The issue's bomb: eight nested `exists` over literal lists, ~330 characters.
    fn bomb() -> String {
        let ten = "[0,1,2,3,4,5,6,7,8,9]";
        let mut bomb = "true".to_string();
        for v in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            bomb = format!("{ten}.exists({v}, {bomb} && {v} < 0)");
        }
        bomb
    }

    #[test]
    fn what_slips_past_the_estimate_stops_at_a_limit_while_it_runs() {
        // Run past the estimate, as an expression it misjudged would.
        let started = Instant::now();
        let compiled = compile(&bomb()).unwrap();
        let result = run_metered(&compiled, Vec::new());
        assert!(
            matches!(
                result,
                Err(NotEvaluated::Stopped(Limit::Steps | Limit::Time))
            ),
            "{result:?}"
        );
        assert!(started.elapsed() < TIME_LIMIT + Duration::from_millis(300));
        // Growing memory by nested `map`: stopped as well, the lists thrown away.
        let ten = "[0,1,2,3,4,5,6,7,8,9]";
        let grow = format!(
            "{ten}.map(a, {ten}.map(b, {ten}.map(c, {ten}.map(d, {ten}.map(e, {ten}.map(f, {ten}.map(g, [a, b, c, d, e, f, g]))))))) != []"
        );
        let started = Instant::now();
        let result = run_metered(&compile(&grow).unwrap(), Vec::new());
        assert!(
            matches!(result, Err(NotEvaluated::Stopped(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < TIME_LIMIT + Duration::from_millis(300));
        // `|| true` absorbs the error of a stopped loop, but the result is thrown away.
        let absorbed = format!("{} || true", bomb().replacen("true &&", "false ||", 1));
        assert!(matches!(
            run_metered(&compile(&absorbed).unwrap(), Vec::new()),
            Err(NotEvaluated::Stopped(_))
        ));
        // A later, small expression runs with a fresh meter.
        assert!(matches!(
            run_metered(&compile("[1, 2].all(x, x > 0)").unwrap(), Vec::new()),
            Ok(cel::Value::Bool(true))
        ));
    }

    #[test]
    fn the_limits_are_named_in_the_gate_message() {
        let steps = NotEvaluated::Stopped(Limit::Steps).to_string();
        assert!(steps.contains("1000000 loop iterations"), "{steps}");
        let time = NotEvaluated::Stopped(Limit::Time).to_string();
        assert!(time.contains("time limit of 500 ms"), "{time}");
    }

    #[test]
    fn expressions_within_a_shared_deadline_stop_when_it_is_spent() {
        let long = "[0,1,2,3,4,5,6,7,8,9].all(a, [0,1,2,3,4,5,6,7,8,9].all(b, [0,1,2,3,4,5,6,7,8,9].all(c, [0,1,2,3,4,5,6,7,8,9].all(d, [0,1,2,3,4,5,6,7,8,9].all(e, a + b + c + d + e >= 0)))))";
        let compiled = compile(long).unwrap();
        let started = Instant::now();
        let total = Duration::from_millis(20);
        let (first, second) = within(Instant::now() + total, total, || {
            (
                run_metered(&compiled, Vec::new()),
                run_metered(&compiled, Vec::new()),
            )
        });
        assert!(
            matches!(first, Err(NotEvaluated::Stopped(Limit::Shared(_)))),
            "{first:?}"
        );
        let Err(second) = second else {
            panic!("{second:?}")
        };
        assert!(
            second
                .to_string()
                .contains("the time for all expressions of this evaluation (20 ms) is spent"),
            "{second}"
        );
        assert!(started.elapsed() < Duration::from_millis(200));
        // Outside, expressions have their own limits again.
        assert!(matches!(
            run_metered(&compile("[1, 2].all(x, x > 0)").unwrap(), Vec::new()),
            Ok(cel::Value::Bool(true))
        ));
    }

    #[test]
    fn a_list_of_an_unread_kind_is_unknown_not_empty() {
        let d = deployment();
        let mut s = snapshot();
        s.secrets.clear();
        s.unread.insert("Secret", "--read-secrets=false".into());
        let check = |expression: &str| eval_on(&s, &d, expression, None);
        assert_eq!(
            check("size(secrets) == 0"),
            Outcome::Unknown(
                "cel: the expression reads `secrets`, but Secrets are not read (--read-secrets=false)"
                    .into()
            )
        );
        assert!(matches!(check("size(configMaps) == 0"), Outcome::Pass(_)));
    }

    #[test]
    fn non_bool_result_names_the_type() {
        assert_eq!(
            fail_message(eval("deployment.spec.replicas")),
            "cel: expression returned int, not bool"
        );
        assert_eq!(
            fail_message(eval("'yes'")),
            "cel: expression returned string, not bool"
        );
        assert_eq!(
            fail_message(eval("pdbs")),
            "cel: expression returned list, not bool"
        );
    }

    #[test]
    fn runtime_errors_are_unknown() {
        match eval("deployment.status.readyReplicas > 0") {
            Outcome::Unknown(m) => assert!(m.starts_with("cel: evaluation error: "), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(eval("undeclared > 1"), Outcome::Unknown(_)));
        assert!(matches!(eval("1 / 0 == 1"), Outcome::Unknown(_)));
        match eval("deployment + 1 == 2") {
            Outcome::Unknown(m) => assert!(m.len() < 400 && m.ends_with('…'), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nasty_inputs_fail_to_compile_without_panicking() {
        let deep_parens = format!("{}true{}", "(".repeat(2000), ")".repeat(2000));
        let deep_lists = format!("{}1{}", "[".repeat(2000), "]".repeat(2000));
        let deep_calls = format!("{}1{}", "size(".repeat(500), ")".repeat(500));
        for (input, expected) in [
            ("(", "1:2: Syntax error: mismatched input '<EOF>'"),
            (")", "1:1: Syntax error"),
            (
                "'unterminated",
                "1:1: Syntax error: token recognition error",
            ),
            (
                "\"unterminated",
                "1:1: Syntax error: token recognition error",
            ),
            ("a.b.c(", "1:7: Syntax error"),
            ("1 +", "1:4: Syntax error"),
            ("", "1:1: Syntax error"),
            ("{1: }", "1:5: Syntax error"),
            ("[1, 2,, 3]", "1:7: Syntax error"),
            ("has(1)", "invalid argument to has() macro"),
            ("b'\\xZZ'", "Syntax error"),
            ("in in in", "(and 3 more error(s))"),
            ("\u{0}", "token recognition error"),
            ("🙂 == 1", "token recognition error"),
            // The interpreter would panic on these (todo!("Support structs!")).
            (
                "Foo{a: 1}",
                "message construction (Type{field: value}) is not supported",
            ),
            ("[1].all(x, Foo{a: x}.a == 1)", "message construction"),
            (deep_parens.as_str(), "nested more than 96 levels deep"),
            (deep_lists.as_str(), "nested more than 96 levels deep"),
            (deep_calls.as_str(), "nested more than 96 levels deep"),
        ] {
            let message = fail_message(eval(input));
            assert!(
                message.starts_with("cel: expression does not compile: "),
                "{input:.40?}: {message}"
            );
            assert!(message.contains(expected), "{input:.40?}: {message}");
            assert!(
                message.len() < 400,
                "{input:.40?}: message too long: {message}"
            );
        }
    }

    #[test]
    fn long_flat_expressions_evaluate() {
        // Deep ASTs without nesting in the source: chains of operators and unary runs.
        let chain = format!("1{} == 1001", " + 1".repeat(1000));
        assert!(matches!(eval(&chain), Outcome::Pass(_)));
        assert!(matches!(
            eval(&format!("{}true", "!".repeat(3))),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            eval(&format!("{}1 == -1", "-".repeat(3))),
            Outcome::Pass(_)
        ));
        let many_not = format!("{}true", "!".repeat(4001));
        assert!(!matches!(eval(&many_not), Outcome::Skipped(_)));
        // A long expression is shortened in messages.
        let long = format!("1 == 2{}", " || 1 == 2".repeat(300));
        let message = fail_message(eval(&long));
        assert!(message.ends_with("… is false"), "{message}");
    }

    #[test]
    fn map_literals_evaluate() {
        assert!(matches!(eval("{'a': 1}.a == 1"), Outcome::Pass(_)));
        assert!(matches!(eval("{a: 1}.size() == 1"), Outcome::Unknown(_)));
    }

    #[test]
    fn compile_errors_are_cached_and_stable() {
        let a = fail_message(eval("a.b.c("));
        let b = fail_message(eval("a.b.c("));
        assert_eq!(a, b);
        assert!(a.starts_with("cel: expression does not compile: 1:"), "{a}");
    }

    #[test]
    fn the_cache_stays_bounded() {
        for i in 0..CACHE_CAPACITY + 10 {
            assert!(compile(&format!("{i} == {i}")).is_ok());
        }
        let len = CACHE.get().unwrap().lock().unwrap().len();
        assert!(len <= CACHE_CAPACITY, "{len}");
        // A hit returns the same compiled program.
        let a = compile("namespace == 'x'").unwrap();
        let b = compile("namespace == 'x'").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn only_referenced_variables_are_built() {
        let compiled = compile("size(pdbs) == 0 && namespace != ''").unwrap();
        assert_eq!(compiled.variables, vec!["namespace", "pdbs"]);
    }
}
