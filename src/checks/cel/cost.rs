//! A bound on what evaluating a `cel` expression can cost, computed before it runs: an
//! expression anyone who may write a checklist can submit must not stall or starve the
//! controller (a few hundred characters of nested `exists` over literal lists take hours; nested
//! `map`s grow memory without bound). The API server bounds its own CEL the same way (cost
//! estimation against list sizes, a per-call budget of 1,000,000); here the list sizes are the
//! real ones of the objects about to be judged, so a legitimate expression over a small
//! namespace always runs, and a quadratic one over a huge namespace is refused with its
//! estimate.
//!
//! The unit is one evaluation step (a call, a field access, a loop iteration). For every
//! sub-expression the estimate carries its cost and the largest list, map or string it can yield
//! (`size`), the largest size of its elements (`element`) and the longest string it can hold
//! (`bytes`); a comprehension (`all`, `exists`, `exists_one`, `map`, `filter`) costs its range's
//! size times its body, and a function reads its arguments' sizes and strings. Sizes come from
//! the variables' values: a top-level list variable has its length; a field inside any variable
//! is a list or map no longer than the longest found anywhere inside the variables, or a string
//! no longer than the longest string found there. The two bounds are kept apart: a long string
//! (an annotation, an env value) must not make every list count as that long.

use std::collections::HashMap;

use kube_cel::cel;

/// The most steps an expression may be estimated to take (the API server's per-call limit).
pub const BUDGET: u64 = 1_000_000;

/// Size bounds of the variables an expression is evaluated with.
#[derive(Clone, Debug, Default)]
pub struct Sizes {
    /// Each variable's own size (a list's length, a string's bytes; 1 for a scalar), the
    /// longest list or map inside it, and the longest string inside it.
    variables: HashMap<String, (u64, Inside)>,
}

/// The longest list or map, and the longest string, among the parts of a value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Inside {
    items: u64,
    bytes: u64,
}

impl Inside {
    fn max(self, other: Inside) -> Inside {
        Inside {
            items: self.items.max(other.items),
            bytes: self.bytes.max(other.bytes),
        }
    }
}

impl Sizes {
    pub fn of(variables: &[(&str, cel::Value)]) -> Sizes {
        let variables = variables
            .iter()
            .map(|(name, value)| (name.to_string(), (own_size(value), largest_inside(value))))
            .collect();
        Sizes { variables }
    }

    /// The longest list or map, and the longest string, inside any variable: the bounds of
    /// every field.
    fn field_bound(&self) -> Inside {
        let inside = self
            .variables
            .values()
            .fold(Inside::default(), |all, (_, inside)| all.max(*inside));
        Inside {
            items: inside.items.max(1),
            bytes: inside.bytes.max(1),
        }
    }
}

/// What `value` itself is, as a bound: a list or map of its length, or a string of its bytes.
fn itself(value: &cel::Value) -> Inside {
    match value {
        cel::Value::List(_) | cel::Value::Map(_) => Inside {
            items: own_size(value),
            bytes: 1,
        },
        cel::Value::String(s) => Inside {
            items: 1,
            bytes: s.len() as u64,
        },
        _ => Inside { items: 1, bytes: 1 },
    }
}

/// The longest list or map and the longest string among the parts of `value` (not counting
/// `value` itself).
fn largest_inside(value: &cel::Value) -> Inside {
    let largest = |v: &cel::Value| itself(v).max(largest_inside(v));
    let one = Inside { items: 1, bytes: 1 };
    match value {
        cel::Value::List(l) => l.iter().map(largest).fold(one, Inside::max),
        cel::Value::Map(m) => m.map.values().map(largest).fold(one, Inside::max),
        _ => one,
    }
}

fn own_size(value: &cel::Value) -> u64 {
    match value {
        cel::Value::List(l) => l.len() as u64,
        cel::Value::Map(m) => m.map.len() as u64,
        cel::Value::String(s) => s.len() as u64,
        _ => 1,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Estimate {
    cost: u64,
    /// The largest list, map or string this can yield (1 for a scalar): how many times a
    /// comprehension over it runs.
    size: u64,
    /// The largest size of one of its elements.
    element: u64,
    /// The longest string it can be or hold: what reading it costs.
    bytes: u64,
}

impl Estimate {
    fn scalar(cost: u64) -> Estimate {
        Estimate {
            cost,
            size: 1,
            element: 1,
            bytes: 1,
        }
    }
}

/// The estimated cost of evaluating `expr` with variables of these sizes.
pub fn estimate(expr: &cel::IdedExpr, sizes: &Sizes) -> u64 {
    let bound = sizes.field_bound();
    Estimator {
        sizes,
        field: bound.items,
        text: bound.bytes,
        locals: Vec::new(),
    }
    .walk(expr)
    .cost
}

struct Estimator<'a> {
    sizes: &'a Sizes,
    /// The longest list or map inside the variables.
    field: u64,
    /// The longest string inside the variables.
    text: u64,
    /// Comprehension variables in scope, innermost last: (name, size of what they hold).
    locals: Vec<(String, u64)>,
}

/// Aggregates of the operands of one node.
#[derive(Default)]
struct Parts {
    cost: u64,
    size_sum: u64,
    size_max: u64,
    element_max: u64,
    first_element: Option<u64>,
    bytes_sum: u64,
    bytes_max: u64,
    /// What reading every operand once costs, in bytes or elements.
    read: u64,
    /// The least of the operands' reads: a comparison stops at the shorter operand.
    read_min: Option<u64>,
    /// The last operand's read (the list of `x in list`).
    read_last: u64,
}

impl Parts {
    fn add(&mut self, e: Estimate) {
        self.cost = self.cost.saturating_add(e.cost);
        self.size_sum = self.size_sum.saturating_add(e.size);
        self.size_max = self.size_max.max(e.size);
        self.element_max = self.element_max.max(e.element);
        self.first_element.get_or_insert(e.element);
        self.bytes_sum = self.bytes_sum.saturating_add(e.bytes);
        self.bytes_max = self.bytes_max.max(e.bytes);
        let read = e.size.max(e.bytes);
        self.read = self.read.saturating_add(read);
        self.read_min = Some(self.read_min.map_or(read, |m| m.min(read)));
        self.read_last = read;
    }
}

// Each kind of node has its own small function: chains of thousands of operators make deep
// trees, and the recursion must not grow the stack more than the interpreter's own does.
impl Estimator<'_> {
    fn walk(&mut self, expr: &cel::IdedExpr) -> Estimate {
        use cel::common::ast::{Expr, LiteralValue};
        match &expr.expr {
            Expr::Literal(LiteralValue::String(s)) => Estimate {
                cost: 1,
                size: s.len().max(1) as u64,
                element: 1,
                bytes: s.len().max(1) as u64,
            },
            Expr::Literal(_) | Expr::Unspecified => Estimate::scalar(1),
            Expr::Ident(name) => self.ident(name),
            Expr::Select(s) => self.select(s),
            Expr::List(l) => self.list(l),
            Expr::Map(m) => self.entries(&m.entries, false),
            Expr::Struct(s) => self.entries(&s.entries, true),
            Expr::Call(c) => self.call(c),
            Expr::Comprehension(c) => self.comprehension(c),
        }
    }

    #[inline(never)]
    fn ident(&self, name: &str) -> Estimate {
        if let Some((_, size)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return Estimate {
                cost: 1,
                size: *size,
                element: self.field,
                bytes: self.text,
            };
        }
        match self.sizes.variables.get(name) {
            Some((own, inside)) => Estimate {
                cost: 1,
                size: (*own).max(1),
                element: inside.items.max(inside.bytes),
                bytes: inside.bytes.max(*own),
            },
            None => Estimate::scalar(1),
        }
    }

    #[inline(never)]
    fn select(&mut self, s: &cel::common::ast::SelectExpr) -> Estimate {
        let operand = self.walk(&s.operand);
        Estimate {
            cost: operand.cost.saturating_add(1),
            size: self.field,
            element: self.field,
            bytes: self.text,
        }
    }

    #[inline(never)]
    fn list(&mut self, l: &cel::common::ast::ListExpr) -> Estimate {
        let mut parts = Parts::default();
        for e in &l.elements {
            parts.add(self.walk(e));
        }
        Estimate {
            cost: parts.cost.saturating_add(1),
            size: (l.elements.len() as u64).max(1),
            element: parts.size_max.max(1),
            bytes: parts.bytes_max.max(1),
        }
    }

    #[inline(never)]
    fn entries(&mut self, entries: &[cel::common::ast::IdedEntryExpr], object: bool) -> Estimate {
        use cel::common::ast::EntryExpr;
        let mut parts = Parts::default();
        for entry in entries {
            match &entry.expr {
                EntryExpr::MapEntry(e) => {
                    parts.add(self.walk(&e.key));
                    parts.add(self.walk(&e.value));
                }
                EntryExpr::StructField(f) => parts.add(self.walk(&f.value)),
            }
        }
        if object {
            return Estimate::scalar(parts.cost.saturating_add(1));
        }
        Estimate {
            cost: parts.cost.saturating_add(1),
            size: (entries.len() as u64).max(1),
            element: parts.size_max.max(1),
            bytes: parts.bytes_max.max(1),
        }
    }

    #[inline(never)]
    fn call(&mut self, c: &cel::common::ast::CallExpr) -> Estimate {
        let mut parts = Parts::default();
        for operand in c.target.iter().map(|t| &**t).chain(&c.args) {
            parts.add(self.walk(operand));
        }
        let cost = parts.cost.saturating_add(1);
        // Reading a value costs a tenth of a step per element or byte, as in the API server.
        // A comparison reads no more than its shorter operand (a field of unknown length
        // compared with a literal costs the literal's length), `x in list` the list and one
        // such comparison per element at most.
        let traversal = match c.func_name.as_str() {
            "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" | "startsWith" | "endsWith" => {
                parts.read_min.unwrap_or(0)
            }
            "@in" => parts.read_last.saturating_add(parts.read_min.unwrap_or(0)),
            _ => parts.read,
        } / 10;
        match c.func_name.as_str() {
            // Booleans and the conditional: no traversal.
            "_&&_" | "_||_" | "!_" | "_?_:_" | "@not_strictly_false" => Estimate {
                cost,
                size: parts.size_max.max(1),
                element: parts.element_max.max(1),
                bytes: parts.bytes_max.max(1),
            },
            // Concatenation: as large as both together.
            "_+_" => Estimate {
                cost: cost.saturating_add(traversal),
                size: parts.size_sum.max(1),
                element: parts.element_max.max(1),
                bytes: parts.bytes_sum.max(1),
            },
            "_[_]" => Estimate {
                cost,
                size: parts.first_element.unwrap_or(1),
                element: self.field,
                bytes: parts.bytes_max.max(1),
            },
            // Anything else reads its arguments once and yields no more than it read
            // (string functions, sets, quantities, comparisons, `in` ...).
            _ => Estimate {
                cost: cost.saturating_add(traversal),
                size: parts.size_max.max(1),
                element: parts.element_max.max(1),
                bytes: parts.bytes_max.max(1),
            },
        }
    }

    #[inline(never)]
    fn comprehension(&mut self, c: &cel::common::ast::ComprehensionExpr) -> Estimate {
        let range = self.walk(&c.iter_range);
        let init = self.walk(&c.accu_init);
        let scope = self.locals.len();
        self.locals.push((c.iter_var.clone(), range.element));
        if let Some(second) = &c.iter_var2 {
            self.locals.push((second.clone(), range.element));
        }
        // `map` and `filter` start from an empty list and add at most one result per element;
        // `all`, `exists` and `exists_one` accumulate a scalar.
        let accumulated = match &c.accu_init.expr {
            cel::common::ast::Expr::List(_) => range.size,
            _ => init.size,
        };
        self.locals.push((c.accu_var.clone(), accumulated));
        let condition = self.walk(&c.loop_cond);
        let step = self.walk(&c.loop_step);
        let result = self.walk(&c.result);
        self.locals.truncate(scope);
        let per_element = condition.cost.saturating_add(step.cost).saturating_add(1);
        Estimate {
            cost: sum([range.cost, init.cost, result.cost])
                .saturating_add(range.size.saturating_mul(per_element)),
            size: range.size,
            element: step.element.max(range.element),
            bytes: step.bytes.max(range.bytes),
        }
    }
}

fn sum(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(expression: &str, variables: &[(&str, cel::Value)]) -> u64 {
        let program = cel::Program::compile(expression).unwrap();
        estimate(program.expression(), &Sizes::of(variables))
    }

    fn list(n: usize) -> cel::Value {
        cel::Value::List(std::sync::Arc::new(
            (0..n).map(|i| cel::Value::Int(i as i64)).collect(),
        ))
    }

    #[test]
    fn plain_expressions_are_cheap() {
        assert!(cost("1 + 2 == 3", &[]) < 10);
        assert!(cost("deployment.spec.replicas >= 3", &[("deployment", list(3))]) < 10);
    }

    #[test]
    fn a_comprehension_costs_its_range_times_its_body() {
        let small = cost("secrets.exists(s, s == 3)", &[("secrets", list(10))]);
        let large = cost("secrets.exists(s, s == 3)", &[("secrets", list(10_000))]);
        assert!(small < 200, "{small}");
        assert!(large > 900 * small, "{small} -> {large}");
        assert!(large < BUDGET);
    }

    #[test]
    fn nested_loops_over_large_lists_exceed_the_budget() {
        let vars = [("services", list(5_000)), ("pdbs", list(5_000))];
        let nested = cost("services.all(s, pdbs.exists(p, p == s))", &vars);
        assert!(nested > BUDGET, "{nested}");
        // The same over a small namespace is fine.
        let vars = [("services", list(20)), ("pdbs", list(10))];
        assert!(cost("services.all(s, pdbs.exists(p, p == s))", &vars) < 5_000);
    }

    #[test]
    fn a_literal_bomb_is_refused_before_it_runs() {
        let ten = "[0,1,2,3,4,5,6,7,8,9]";
        let mut bomb = "true".to_string();
        for v in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            bomb = format!("{ten}.exists({v}, {bomb} && {v} < 0)");
        }
        assert!(bomb.len() < 400);
        assert!(cost(&bomb, &[]) > BUDGET, "{}", cost(&bomb, &[]));
        // Growing lists by nested map: sizes multiply.
        let grow = format!(
            "{ten}.map(a, {ten}.map(b, {ten}.map(c, {ten}.map(d, {ten}.map(e, {ten}.map(f, [a, b])))))) != []"
        );
        assert!(cost(&grow, &[]) > BUDGET, "{}", cost(&grow, &[]));
    }

    #[test]
    fn a_long_string_does_not_make_every_list_long() {
        // A Deployment with 3 containers of 40 env entries, and one 10,000-byte annotation.
        let env = cel::Value::List(std::sync::Arc::new(
            (0..40)
                .map(|i| cel::Value::String(std::sync::Arc::new(format!("VAR_{i}"))))
                .collect(),
        ));
        let annotation = cel::Value::String(std::sync::Arc::new("x".repeat(10_000)));
        let deployment = cel::Value::List(std::sync::Arc::new(vec![
            cel::Value::List(std::sync::Arc::new(vec![env.clone(), env.clone(), env])),
            annotation,
        ]));
        let vars = [("deployment", deployment)];
        let nested = cost(
            "deployment.spec.template.spec.containers.all(c, c.env.all(e, e.name != 'PASSWORD'))",
            &vars,
        );
        assert!(nested < 50_000, "{nested}");
        // Reading the long string still costs what it is long, inside every iteration.
        let reading = cost(
            "deployment.spec.template.spec.containers.all(c, c.env.all(e, e.value.contains('x')))",
            &vars,
        );
        assert!(reading > 40 * 40 * 1_000, "{reading}");
    }

    #[test]
    fn fields_are_bounded_by_the_largest_list_inside_the_variables() {
        let deployment = cel::Value::List(std::sync::Arc::new(vec![list(50)]));
        let c = cost(
            "deployment.spec.containers.all(c, c.env.all(e, e != ''))",
            &[("deployment", deployment)],
        );
        // 50 containers of at most 50 env entries each.
        assert!((2_500..50_000).contains(&c), "{c}");
    }
}
