//! Conversions between `google.protobuf.Struct` (the contract's extension bag) and JSON values,
//! shared by the core (which stores the bag as JSON) and the edge (which receives it as JSON).

use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number, Value as Json};

/// Converts a JSON object into a protobuf `Struct`.
pub fn struct_from_json(object: &Map<String, Json>) -> Struct {
    Struct {
        fields: object
            .iter()
            .map(|(key, value)| (key.clone(), value_from_json(value)))
            .collect(),
    }
}

/// Converts a protobuf `Struct` into a JSON object.
pub fn struct_to_json(value: &Struct) -> Map<String, Json> {
    value
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), value_to_json(value)))
        .collect()
}

/// Converts any JSON value into a protobuf `Value`.
pub fn value_from_json(value: &Json) -> Value {
    let kind = match value {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(value_from_json).collect(),
        }),
        Json::Object(object) => Kind::StructValue(struct_from_json(object)),
    };
    Value { kind: Some(kind) }
}

/// Converts a protobuf `Value` into JSON. Whole numbers come back as integers, since protobuf
/// only has doubles and SCIM clients expect `1`, not `1.0`.
pub fn value_to_json(value: &Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Json::Number(Number::from(*n as i64))
            } else {
                Number::from_f64(*n).map_or(Json::Null, Json::Number)
            }
        }
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(object)) => Json::Object(struct_to_json(object)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_json() {
        let json = serde_json::json!({
            "addresses": [{"type": "work", "primary": true, "postalCode": "12345"}],
            "count": 3,
            "ratio": 0.5,
            "nothing": null,
        });
        let object = json.as_object().unwrap();
        assert_eq!(
            Json::Object(struct_to_json(&struct_from_json(object))),
            json
        );
    }
}
