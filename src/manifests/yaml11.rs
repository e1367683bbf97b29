//! YAML 1.1 scalars, as kubectl and Helm read them.
//!
//! The YAML parser follows YAML 1.2, where `0644` and `yes` are strings. Kubernetes tooling
//! reads YAML 1.1: `defaultMode: 0644` is octal (420) and `readOnly: yes` is `true`. So when a
//! typed read fails because a field that wants a number or a boolean holds such a string, the
//! string is read the YAML 1.1 way and the read is tried again — only there, where the schema
//! asks for it, so a label value `"0644"` stays a string. Errors are rare, so the common path
//! costs nothing.

use serde_json::Value;

/// What the typed read wanted, from its error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Integer,
    Float,
    Bool,
}

/// `message` is a typed-read error (`spec.x[0].y: invalid type: string "0644", expected i32`).
/// When the string at that path is a YAML 1.1 scalar of the wanted type, replace it in `value`
/// and return true (the caller reads again).
pub fn repair(value: &mut Value, message: &str) -> bool {
    let Some((path, rest)) = message.split_once(": invalid type: string ") else {
        return false;
    };
    let Some((_, expected)) = rest.rsplit_once(", expected ") else {
        return false;
    };
    let want = if expected.contains("bool") {
        Want::Bool
    } else if expected.starts_with('i') || expected.starts_with('u') {
        Want::Integer
    } else if expected.starts_with('f') {
        Want::Float
    } else {
        return false;
    };
    let Some(slot) = at_path(value, path) else {
        return false;
    };
    let Value::String(text) = slot else {
        return false;
    };
    match resolve(text, want) {
        Some(resolved) => {
            *slot = resolved;
            true
        }
        None => false,
    }
}

/// The value at a serde_path_to_error path (`a.b[2].c`). Map keys may hold dots
/// (`app.kubernetes.io/name`), so the longest key that fits is taken.
fn at_path<'v>(mut value: &'v mut Value, mut path: &str) -> Option<&'v mut Value> {
    while !path.is_empty() {
        path = path.strip_prefix('.').unwrap_or(path);
        if let Some(rest) = path.strip_prefix('[') {
            let (index, rest) = rest.split_once(']')?;
            let index: usize = index.parse().ok()?;
            value = value.as_array_mut()?.get_mut(index)?;
            path = rest;
            continue;
        }
        let map = value.as_object_mut()?;
        let key = map
            .keys()
            .filter(|k| {
                path.strip_prefix(k.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
            .max_by_key(|k| k.len())?
            .clone();
        path = &path[key.len()..];
        value = map.get_mut(&key)?;
    }
    Some(value)
}

/// A plain scalar the way YAML 1.1 resolves it, if it is of the wanted type.
fn resolve(text: &str, want: Want) -> Option<Value> {
    match want {
        Want::Bool => match text {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Some(Value::Bool(true))
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Some(Value::Bool(false)),
            _ => None,
        },
        Want::Integer => integer(text).map(Value::from),
        Want::Float => integer(text)
            .map(|i| i as f64)
            .or_else(|| text.replace('_', "").parse::<f64>().ok())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
    }
}

/// YAML 1.1 integers: `0644` (octal), `0x1F`, `0b101`, `1_000`, `+5`, `1:30` (base 60).
fn integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() {
        return None;
    }
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if digits.contains(':') {
        let mut n: i64 = 0;
        for (i, part) in digits.split(':').enumerate() {
            let part: i64 = part.parse().ok()?;
            if i > 0 && !(0..60).contains(&part) {
                return None;
            }
            n = n.checked_mul(60)?.checked_add(part)?;
        }
        n
    } else {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn octal_modes_and_yes_no_are_read_where_the_schema_wants_them() {
        let mut v = json!({"spec": {"volumes": [{"secret": {"defaultMode": "0644"}}]}});
        assert!(repair(
            &mut v,
            "spec.volumes[0].secret.defaultMode: invalid type: string \"0644\", expected i32"
        ));
        assert_eq!(v["spec"]["volumes"][0]["secret"]["defaultMode"], 420);
        let mut v = json!({"a": {"app.kubernetes.io/x": {"readOnly": "yes"}}});
        assert!(repair(
            &mut v,
            "a.app.kubernetes.io/x.readOnly: invalid type: string \"yes\", expected a boolean"
        ));
        assert_eq!(v["a"]["app.kubernetes.io/x"]["readOnly"], true);
    }

    #[test]
    fn other_strings_are_left_for_the_error() {
        let mut v = json!({"replicas": "three"});
        assert!(!repair(
            &mut v,
            "replicas: invalid type: string \"three\", expected i32"
        ));
        let mut v = json!({"x": "maybe"});
        assert!(!repair(
            &mut v,
            "x: invalid type: string \"maybe\", expected a boolean"
        ));
        assert!(!repair(&mut v, "x: missing field `name`"));
    }

    #[test]
    fn yaml_1_1_integers() {
        assert_eq!(integer("0644"), Some(420));
        assert_eq!(integer("0755"), Some(493));
        assert_eq!(integer("0x1F"), Some(31));
        assert_eq!(integer("0b101"), Some(5));
        assert_eq!(integer("1_000"), Some(1000));
        assert_eq!(integer("-012"), Some(-10));
        assert_eq!(integer("1:30"), Some(90));
        assert_eq!(integer("089"), None, "not octal");
        assert_eq!(integer("12a"), None);
    }
}
