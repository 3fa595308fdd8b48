//! Portable column types: native `uuid`, `timestamptz` and `jsonb` on PostgreSQL; TEXT on SQLite.
//!
//! On SQLite, UUIDs are stored hyphenated lowercase and timestamps as fixed-width RFC 3339 UTC
//! (`2026-11-23T13:36:11.123456Z`), so text order equals binary and time order and keyset
//! comparisons behave the same on both backends.

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sqlite::Sqlite;
use uuid::Uuid;

/// SQL types shared by both backends.
pub mod sql {
    /// A UUID: `uuid` on PostgreSQL, TEXT on SQLite.
    #[derive(
        Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
    )]
    #[diesel(postgres_type(oid = 2950, array_oid = 2951))]
    #[diesel(sqlite_type(name = "Text"))]
    pub struct PUuid;

    /// A UTC timestamp: `timestamptz` on PostgreSQL, sortable TEXT on SQLite.
    #[derive(
        Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
    )]
    #[diesel(postgres_type(oid = 1184, array_oid = 1185))]
    #[diesel(sqlite_type(name = "Text"))]
    pub struct PTime;

    /// A JSON document: `jsonb` on PostgreSQL, TEXT on SQLite.
    #[derive(
        Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
    )]
    #[diesel(postgres_type(oid = 3802, array_oid = 3807))]
    #[diesel(sqlite_type(name = "Text"))]
    pub struct PJson;
}

use sql::{PJson, PTime, PUuid};

/// A UUID column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = PUuid)]
pub struct DbUuid(pub Uuid);

/// A timestamp column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = PTime)]
pub struct DbTime(pub DateTime<Utc>);

/// A JSON column value.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow)]
#[diesel(sql_type = PJson)]
pub struct DbJson(pub serde_json::Value);

/// A metadata column (`metadata` of messages, revisions and threads), read as the stored JSON
/// text: it reaches the domain as [`chat_threads_domain::Metadata`] without being parsed, and a
/// page writes it out as it was read (docs/operations.md, "metadata as stored").
#[derive(Debug, Clone, AsExpression, FromSqlRow)]
#[diesel(sql_type = PJson)]
pub struct DbMetadata(pub Box<serde_json::value::RawValue>);

impl DbMetadata {
    /// The column value of `m`: its text as stored, or its object serialized.
    pub fn of(m: &chat_threads_domain::Metadata) -> Self {
        Self(m.to_raw())
    }
}

/// PostgreSQL's jsonb text without the whitespace it writes after each `:` and `,` (whitespace
/// outside strings), so a page's JSON is the same compact JSON on both backends.
pub fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut start, mut in_string, mut escaped) = (0, false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
            // ASCII: `i` is a character boundary.
            out.push_str(&text[start..i]);
            start = i + 1;
        }
    }
    out.push_str(&text[start..]);
    out
}

/// The SQLite text form of a timestamp: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, fixed width, so text
/// order is time order. Written digit by digit (several per row written: chrono's `format`
/// parses its pattern at every call, ~1 % of an append's CPU); chrono writes the rare rest.
pub fn time_text(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let (year, nano) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    }
    let mut text = String::with_capacity(27);
    let mut digits = |v: u32, width: u32, then: char| {
        for i in (0..width).rev() {
            text.push(char::from(b'0' + (v / 10u32.pow(i) % 10) as u8));
        }
        text.push(then);
    };
    digits(year.unsigned_abs(), 4, '-');
    digits(t.month(), 2, '-');
    digits(t.day(), 2, 'T');
    digits(t.hour(), 2, ':');
    digits(t.minute(), 2, ':');
    digits(t.second(), 2, '.');
    digits(nano / 1_000, 6, 'Z');
    text
}

impl ToSql<PUuid, Pg> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Uuid as ToSql<diesel::sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PUuid, Pg> for DbUuid {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <Uuid as FromSql<diesel::sql_types::Uuid, Pg>>::from_sql(bytes).map(Self)
    }
}
impl ToSql<PUuid, Sqlite> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}
impl FromSql<PUuid, Sqlite> for DbUuid {
    fn from_sql(
        mut bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        // Read in place: no owned copy of the text per value (several per row).
        Ok(Self(Uuid::parse_str(bytes.read_text())?))
    }
}

impl ToSql<PTime, Pg> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PTime, Pg> for DbTime {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<diesel::sql_types::Timestamptz, Pg>>::from_sql(bytes).map(Self)
    }
}
impl ToSql<PTime, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(time_text(&self.0));
        Ok(IsNull::No)
    }
}
impl FromSql<PTime, Sqlite> for DbTime {
    fn from_sql(
        mut bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(Self(
            DateTime::parse_from_rfc3339(bytes.read_text())?.with_timezone(&Utc),
        ))
    }
}

impl ToSql<PJson, Pg> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<diesel::sql_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PJson, Pg> for DbJson {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<diesel::sql_types::Jsonb, Pg>>::from_sql(bytes).map(Self)
    }
}
impl ToSql<PJson, Sqlite> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}
impl FromSql<PJson, Sqlite> for DbJson {
    fn from_sql(
        mut bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(Self(serde_json::from_str(bytes.read_text())?))
    }
}

impl ToSql<PJson, Pg> for DbMetadata {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write as _;
        // jsonb's binary form: its version (1), then the text.
        out.write_all(&[1])?;
        out.write_all(self.0.get().as_bytes())?;
        Ok(IsNull::No)
    }
}
impl FromSql<PJson, Pg> for DbMetadata {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let text = match bytes.as_bytes() {
            [1, text @ ..] => std::str::from_utf8(text)?,
            _ => return Err("unsupported jsonb encoding version".into()),
        };
        Ok(Self(serde_json::value::RawValue::from_string(
            compact_json(text),
        )?))
    }
}
impl ToSql<PJson, Sqlite> for DbMetadata {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.get());
        Ok(IsNull::No)
    }
}
impl FromSql<PJson, Sqlite> for DbMetadata {
    fn from_sql(
        mut bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(Self(serde_json::value::RawValue::from_string(
            bytes.read_text().to_owned(),
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_drops_whitespace_outside_strings_only() {
        let pg = r#"{"a": [1, 2.50, {"b c": "d, e: f"}], "esc": "q\" x\\", "n": null}"#;
        let compact = compact_json(pg);
        assert_eq!(
            compact,
            r#"{"a":[1,2.50,{"b c":"d, e: f"}],"esc":"q\" x\\","n":null}"#
        );
        let before: serde_json::Value = serde_json::from_str(pg).unwrap();
        let after: serde_json::Value = serde_json::from_str(&compact).unwrap();
        assert_eq!(before, after);
        assert_eq!(compact_json("{}"), "{}");
        assert_eq!(compact_json(r#"{"é ü": "ß 😀"}"#), r#"{"é ü":"ß 😀"}"#);
    }

    #[test]
    fn sqlite_time_text_is_fixed_width_and_sorts_like_time() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let b = a + chrono::TimeDelta::microseconds(1);
        assert_eq!(time_text(&a), "2026-01-02T03:04:05.000000Z");
        assert_eq!(time_text(&b), "2026-01-02T03:04:05.000001Z");
        assert!(time_text(&a) < time_text(&b));
    }

    #[test]
    fn sqlite_time_text_is_what_chrono_writes() {
        let chrono = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        // A fixed walk over years 0 to 9999 with every kind of fraction, and the edges.
        let mut secs: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
        while secs < 253_402_300_800 {
            for nano in [0, 1, 999, 1_000, 123_456_789, 999_999_999] {
                let t = DateTime::from_timestamp(secs, nano).unwrap();
                assert_eq!(time_text(&t), chrono(&t));
            }
            secs += 3_333_333_333;
        }
        for t in [
            DateTime::from_timestamp(253_402_300_799, 999_999_999).unwrap(),
            DateTime::from_timestamp(-62_167_219_200, 0).unwrap(),
            DateTime::from_timestamp(-62_167_219_201, 0).unwrap(), // year -1
            DateTime::from_timestamp(253_402_300_800, 0).unwrap(), // year 10000
        ] {
            assert_eq!(time_text(&t), chrono(&t));
        }
    }
}
