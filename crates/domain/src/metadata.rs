//! Free-form metadata of threads, messages and sessions: a size-limited JSON object.

use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::DomainError;
use crate::values::Limits;

/// A JSON object of free-form metadata (RAG sources, prompt details ...), size-limited.
///
/// Read back from storage ([`Metadata::from_stored_json`]) it is kept as the stored JSON text
/// until something asks for its keys ([`Metadata::as_map`], parsed once then), and is written
/// out as that text: a page of 50 messages no longer builds and drops a map per message only
/// to write it out again (docs/operations.md, "metadata as stored"). Equality is the objects'.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// The object as storage gave it, when it came from there.
    stored: Option<Box<RawValue>>,
    /// The object's keys: given at construction, or parsed from `stored` on first use.
    map: OnceLock<Map<String, Value>>,
}

/// Deepest nesting of metadata (objects and arrays inside the top object).
pub const METADATA_MAX_DEPTH: usize = 32;
/// Most keys and array items in one metadata object, all levels together.
pub const METADATA_MAX_ENTRIES: usize = 1024;
/// Checks one metadata value: no NUL in keys or strings (PostgreSQL refuses it), numbers that
/// read back the same on both backends, bounded depth and size.
fn check_metadata_value(v: &Value, depth: usize, entries: &mut usize) -> Result<(), DomainError> {
    if depth > METADATA_MAX_DEPTH {
        return Err(DomainError::invalid(
            "metadata",
            format!("nests deeper than {METADATA_MAX_DEPTH} levels"),
        ));
    }
    let mut count = |n: usize| {
        *entries += n;
        if *entries > METADATA_MAX_ENTRIES {
            Err(DomainError::invalid(
                "metadata",
                format!("holds more than {METADATA_MAX_ENTRIES} keys and items"),
            ))
        } else {
            Ok(())
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => Err(DomainError::invalid(
            "metadata",
            "contains a NUL character in a string",
        )),
        // Every finite number comes back the same from both backends: PostgreSQL keeps jsonb
        // numbers as exact decimals and they are read back with correctly rounded parsing
        // (serde_json's float_roundtrip), so even f64::MAX and subnormals survive.
        Value::Number(n) if n.as_f64().is_none_or(|x| !x.is_finite()) => Err(DomainError::invalid(
            "metadata",
            "holds a number that is not finite",
        )),
        Value::Array(items) => {
            count(items.len())?;
            items
                .iter()
                .try_for_each(|i| check_metadata_value(i, depth + 1, entries))
        }
        Value::Object(map) => {
            count(map.len())?;
            for (k, item) in map {
                if k.contains('\0') {
                    return Err(DomainError::invalid(
                        "metadata",
                        "contains a NUL character in a key",
                    ));
                }
                check_metadata_value(item, depth + 1, entries)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Metadata {
    fn from_map(map: Map<String, Value>) -> Self {
        Self {
            stored: None,
            map: OnceLock::from(map),
        }
    }

    /// Parses metadata: must be a JSON object (or null, meaning empty) within the size limit,
    /// without NUL characters, with numbers every backend stores exactly, at most
    /// [`METADATA_MAX_DEPTH`] levels deep and [`METADATA_MAX_ENTRIES`] keys and items.
    pub fn parse(raw: Value, limits: &Limits) -> Result<Self, DomainError> {
        let map = match raw {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => return Err(DomainError::invalid("metadata", "must be a JSON object")),
        };
        check_metadata_value(&Value::Object(map.clone()), 0, &mut 0)?;
        let size = serde_json::to_string(&map)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > limits.metadata_bytes {
            return Err(DomainError::LimitExceeded {
                field: "metadata",
                limit: limits.metadata_bytes,
                actual: size,
            });
        }
        Ok(Self::from_map(map))
    }

    /// Wraps an object read back from storage, which was validated when written.
    pub fn from_stored(map: Map<String, Value>) -> Self {
        Self::from_map(map)
    }

    /// Wraps the JSON text of an object read back from storage, which was validated when
    /// written; the text back when it is not an object. Its keys are parsed only if asked for.
    pub fn from_stored_json(text: Box<RawValue>) -> Result<Self, Box<RawValue>> {
        if !text.get().trim_start().starts_with('{') {
            return Err(text);
        }
        Ok(Self {
            stored: Some(text),
            map: OnceLock::new(),
        })
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| match &self.stored {
            // Valid JSON and an object (checked when wrapped), at most 32 levels deep:
            // parsing it cannot fail.
            Some(text) => serde_json::from_str(text.get()).unwrap_or_default(),
            None => Map::new(),
        })
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.as_map().clone())
    }

    /// The object as a JSON value, without copying it when its keys were already at hand.
    pub fn into_value(self) -> Value {
        self.as_map();
        Value::Object(self.map.into_inner().unwrap_or_default())
    }

    /// The object as JSON text: as stored when it came from storage, else serialized (not
    /// checked again: it is JSON by construction).
    pub fn to_raw(&self) -> Box<RawValue> {
        match &self.stored {
            Some(text) => text.clone(),
            // A map with string keys always serializes; `{}` only if that ever failed.
            None => serde_json::value::to_raw_value(self.as_map()).unwrap_or_else(|_| {
                serde_json::value::to_raw_value(&Map::new()).unwrap_or_default()
            }),
        }
    }

    /// About how many bytes the object takes as JSON (keys, strings and a few bytes per other
    /// value), without serializing it.
    pub fn approx_bytes(&self) -> usize {
        fn object(o: &Map<String, Value>) -> usize {
            2 + o.iter().map(|(k, v)| k.len() + 4 + walk(v)).sum::<usize>()
        }
        fn walk(v: &Value) -> usize {
            match v {
                Value::String(s) => s.len() + 2,
                Value::Array(a) => 2 + a.iter().map(|v| walk(v) + 1).sum::<usize>(),
                Value::Object(o) => object(o),
                _ => 8,
            }
        }
        match (&self.stored, self.map.get()) {
            (_, Some(map)) => object(map),
            (Some(text), None) => text.get().len(),
            (None, None) => 2,
        }
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.as_map() == other.as_map()
    }
}

impl Eq for Metadata {}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.stored {
            Some(text) => text.serialize(s),
            None => self.as_map().serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::deserialize(d).map(Self::from_map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_must_be_a_small_object() {
        let limits = Limits {
            metadata_bytes: 20,
            ..Limits::default()
        };
        assert!(Metadata::parse(json!({"a": 1}), &limits).is_ok());
        assert_eq!(
            Metadata::parse(json!(null), &limits).unwrap(),
            Metadata::default()
        );
        assert!(Metadata::parse(json!([1, 2]), &limits).is_err());
        // Values every backend stores and reads back exactly, or a clear refusal.
        for bad in [json!({"k": "a\u{0}b"}), json!({"a\u{0}": 1})] {
            assert!(
                Metadata::parse(bad.clone(), &Limits::default()).is_err(),
                "{bad}"
            );
        }
        for good in [
            json!({"big": 1e300, "tiny": -1e-300, "int": i64::MIN, "uint": u64::MAX, "zero": 0.0}),
            json!({"max": f64::MAX, "subnormal": 5e-324, "min": -2.225_073_858_507_201_4e-308}),
            json!({"rtl": "\u{202e}abc", "emoji": "👩‍👩‍👧‍👦", "plane1": "𝔘"}),
        ] {
            assert!(
                Metadata::parse(good.clone(), &Limits::default()).is_ok(),
                "{good}"
            );
        }
        let mut deep = json!(1);
        for _ in 0..METADATA_MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(Metadata::parse(json!({"d": deep.clone()}), &Limits::default()).is_err());
        let wide: serde_json::Map<String, serde_json::Value> = (0..=METADATA_MAX_ENTRIES)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        assert!(Metadata::parse(serde_json::Value::Object(wide), &Limits::default()).is_err());
        assert!(Metadata::parse(json!("x"), &limits).is_err());
        assert!(matches!(
            Metadata::parse(json!({"key": "a value that is far too long"}), &limits),
            Err(DomainError::LimitExceeded {
                field: "metadata",
                ..
            })
        ));
    }

    fn stored(text: &str) -> Option<Metadata> {
        Metadata::from_stored_json(RawValue::from_string(text.to_owned()).unwrap()).ok()
    }

    #[test]
    fn stored_metadata_is_written_out_as_stored_and_equals_its_object() {
        // PostgreSQL's jsonb text: keys by length, a space after each separator.
        let text = r#"{"ab": [1, 2.50], "abc": {"x": "y z"}, "zzzz": null}"#;
        let m = stored(text).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
        assert_eq!(m.to_raw().get(), text);
        assert_eq!(m.approx_bytes(), text.len());
        let same = Metadata::from_stored(
            json!({"zzzz": null, "abc": {"x": "y z"}, "ab": [1, 2.5]})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(m, same);
        assert_eq!(m.as_map().len(), 3);
        assert_eq!(m.clone().into_value(), same.to_value());
        // Written out as stored even after its keys were read.
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
        // Inside a larger document, and through a JSON value.
        let doc = serde_json::to_string(&json!({"m": serde_json::to_value(&m).unwrap()})).unwrap();
        assert_eq!(doc, r#"{"m":{"ab":[1,2.5],"abc":{"x":"y z"},"zzzz":null}}"#);
        #[derive(Serialize)]
        struct Dto {
            metadata: Metadata,
        }
        assert_eq!(
            serde_json::to_string(&Dto { metadata: m }).unwrap(),
            format!(r#"{{"metadata":{text}}}"#)
        );
    }

    #[test]
    fn stored_metadata_must_be_an_object() {
        assert!(stored(" {}").is_some());
        assert!(stored("[1]").is_none());
        assert!(stored("null").is_none());
        assert!(stored(r#""{}""#).is_none());
        assert_eq!(stored("{}").unwrap(), Metadata::default());
        assert_eq!(serde_json::to_string(&Metadata::default()).unwrap(), "{}");
        let m: Metadata = serde_json::from_str(r#"{"b": 1, "a": 2}"#).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"a":2,"b":1}"#);
    }
}
