//! Bounds the API server enforces so that it refuses what gonogo's types cannot hold.
//!
//! The OpenAPI formats alone do not: the API server accepts `format: int32` values of any size,
//! and any RFC 3339 date-time, while gonogo reads `i32` and `jiff::Timestamp` (which ends at
//! 9999-12-30T22:00:00Z and holds nanoseconds). One such object, once stored, would be
//! unreadable to gonogo. Every CRD schema is therefore walked once, and each integer,
//! date-time and free string gets the bound of its Rust type.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    ValidationRule,
};

/// RFC 3339 as both the API server and jiff read it: at most nanoseconds (9 fraction digits),
/// a `Z` or a `±hh:mm` offset.
pub const DATE_TIME_PATTERN: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

/// The latest instant a user may write, a little before jiff's last one.
pub const LATEST_DATE_TIME: &str = "9999-12-30T00:00:00Z";

/// Status date-times are written by gonogo (the current time); their year is bounded in the
/// pattern, which costs nothing at admission, unlike a CEL rule per list element.
const STATUS_DATE_TIME_PATTERN: &str = r"^([0-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

/// A free-text string without a bound of its own (descriptions, names, keys): long enough for
/// any of them, short enough to keep CEL cost estimates and objects small.
pub const DEFAULT_MAX_LENGTH: i64 = 4096;

/// Integers of a `format` the API server does not check: the range of the Rust type read.
fn integer_range(format: &str) -> Option<(f64, f64)> {
    match format {
        "int8" => Some((i8::MIN.into(), i8::MAX.into())),
        "int16" => Some((i16::MIN.into(), i16::MAX.into())),
        "int32" => Some((i32::MIN.into(), i32::MAX.into())),
        "uint8" => Some((0.0, u8::MAX.into())),
        "uint16" => Some((0.0, u16::MAX.into())),
        "uint32" => Some((0.0, u32::MAX.into())),
        // A JSON schema bound is a float: past 2^53 it would round to a value i64 cannot hold.
        "int64" => Some((-9_007_199_254_740_991.0, 9_007_199_254_740_991.0)),
        "uint64" => Some((0.0, 9_007_199_254_740_991.0)),
        _ => None,
    }
}

/// Adds the bounds to every version of `crd`.
pub fn bound(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        for (name, field) in root.properties.iter_mut().flatten() {
            match name.as_str() {
                // metadata is the API server's own, and validated by it.
                "metadata" | "apiVersion" | "kind" => {}
                "status" => walk(field, Part::Status),
                _ => walk(field, Part::Spec),
            }
        }
    }
    crd
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    /// Written by users.
    Spec,
    /// Written by gonogo.
    Status,
}

fn walk(schema: &mut JSONSchemaProps, part: Part) {
    bound_one(schema, part);
    for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        walk(child, part);
    }
    match &mut schema.items {
        Some(JSONSchemaPropsOrArray::Schema(item)) => walk(item, part),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            items.iter_mut().for_each(|i| walk(i, part));
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(values)) = &mut schema.additional_properties {
        walk(values, part);
    }
    // Branches of anyOf/oneOf/allOf hold no types of their own in a structural schema, except
    // int-or-string's, which `bound_one` handles on the field itself.
}

fn bound_one(schema: &mut JSONSchemaProps, part: Part) {
    let format = schema.format.clone().unwrap_or_default();
    if schema.x_kubernetes_int_or_string == Some(true) {
        // IntOrString holds an i32 or a string; each bound applies to its own type only.
        let (min, max) = integer_range("int32").unwrap_or_default();
        schema.minimum = Some(schema.minimum.map_or(min, |m| m.max(min)));
        schema.maximum = Some(schema.maximum.map_or(max, |m| m.min(max)));
        schema.max_length.get_or_insert(DEFAULT_MAX_LENGTH);
        return;
    }
    match schema.type_.as_deref() {
        Some("integer") => {
            if let Some((min, max)) = integer_range(&format) {
                schema.minimum = Some(schema.minimum.map_or(min, |m| m.max(min)));
                schema.maximum = Some(schema.maximum.map_or(max, |m| m.min(max)));
            }
        }
        Some("string") if format == "date-time" => match part {
            Part::Spec => {
                schema.pattern = Some(DATE_TIME_PATTERN.into());
                schema
                    .x_kubernetes_validations
                    .get_or_insert_with(Vec::new)
                    .push(ValidationRule {
                        rule: format!("self <= timestamp('{LATEST_DATE_TIME}')"),
                        message: Some(format!(
                            "must not be later than {LATEST_DATE_TIME}: gonogo's time library ends at 9999-12-30T22:00:00Z (for no expiry, use a date such as 9999-01-01T00:00:00Z)"
                        )),
                        ..ValidationRule::default()
                    });
            }
            Part::Status => schema.pattern = Some(STATUS_DATE_TIME_PATTERN.into()),
        },
        // Status strings are gonogo's own messages, which may list many gates.
        Some("string")
            if part == Part::Spec
                && schema.max_length.is_none()
                && schema.enum_.is_none()
                && format.is_empty() =>
        {
            schema.max_length = Some(DEFAULT_MAX_LENGTH);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which strings the pattern admits is checked by the API server itself
    /// (`tests/schema_bounds_e2e.rs`); here, that jiff reads the extremes it admits.
    #[test]
    fn the_extremes_the_bounds_admit_are_read_by_jiff() {
        let latest: jiff::Timestamp = LATEST_DATE_TIME.parse().unwrap();
        for text in [
            "0000-01-01T00:00:00+23:59",
            "0000-01-01T00:00:00-23:59",
            "2026-02-28T12:00:00.123456789Z",
            "2026-12-31T23:59:59.1+05:30",
            "9999-12-29T23:59:59.999999999Z",
            "9999-12-30T23:59:00+23:59",
            "9998-12-31T23:59:59.999999999-23:59",
            LATEST_DATE_TIME,
        ] {
            let time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time =
                serde_json::from_value(serde_json::json!(text))
                    .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(time.0 <= latest || text.starts_with("9998"), "{text}");
        }
    }

    #[test]
    fn integers_get_the_range_of_their_type_and_keep_tighter_ones() {
        let mut wide = JSONSchemaProps {
            type_: Some("integer".into()),
            format: Some("int32".into()),
            ..Default::default()
        };
        bound_one(&mut wide, Part::Spec);
        assert_eq!(
            (wide.minimum, wide.maximum),
            (Some(-2147483648.0), Some(2147483647.0))
        );
        let mut tight = JSONSchemaProps {
            type_: Some("integer".into()),
            format: Some("int32".into()),
            minimum: Some(1.0),
            maximum: Some(60.0),
            ..Default::default()
        };
        bound_one(&mut tight, Part::Spec);
        assert_eq!((tight.minimum, tight.maximum), (Some(1.0), Some(60.0)));
    }
}
