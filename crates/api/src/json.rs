//! JSON on the hot read path: timestamps written without `fmt`, and pages serialized into a
//! buffer sized for them.
//!
//! A page of 50 messages is ~45 KB of JSON with five timestamps per message. In a profile of
//! the HTTP benchmark's page reads, chrono's timestamps took ~4 % of the service's CPU: written
//! through `fmt` a piece at a time, each piece escaped by serde_json on its own. [`time`]
//! writes the same text into a stack buffer and hands it over whole. `web::Json` serializes
//! into an empty `String` that doubles its way up (a dozen reallocations and copies for a
//! page); [`page`] starts with the page's size. The output is byte for byte what chrono and
//! `web::Json` write (tests below).

use actix_web::HttpResponse;
use chat_threads_application::AppError;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

use crate::error::ApiError;

/// Serializes a timestamp exactly as chrono's `Serialize` does (RFC 3339, `Z`, a fraction of 0,
/// 3, 6 or 9 digits, whichever is shortest and exact); use with `#[serde(serialize_with)]`.
pub fn time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 32];
    match rfc3339(t, &mut buf).and_then(|n| std::str::from_utf8(&buf[..n]).ok()) {
        Some(text) => s.serialize_str(text),
        // Years outside 0000-9999 (chrono writes a sign and more digits): chrono's own way.
        None => t.serialize(s),
    }
}

/// [`time`] for an optional timestamp (`null` when absent).
pub fn opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

/// Writes `t` into `buf` as chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` does;
/// the length written, or `None` for a year chrono writes with a sign.
fn rfc3339(t: &DateTime<Utc>, buf: &mut [u8; 32]) -> Option<usize> {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (mut sec, mut nano) = (t.second(), t.nanosecond());
    if nano >= 1_000_000_000 {
        // A leap second: chrono writes it as second 60.
        sec += 1;
        nano -= 1_000_000_000;
    }
    let mut w = Ascii { buf, n: 0 };
    w.digits(year.unsigned_abs(), 4);
    w.byte(b'-');
    w.digits(t.month(), 2);
    w.byte(b'-');
    w.digits(t.day(), 2);
    w.byte(b'T');
    w.digits(t.hour(), 2);
    w.byte(b':');
    w.digits(t.minute(), 2);
    w.byte(b':');
    w.digits(sec, 2);
    if nano != 0 {
        w.byte(b'.');
        if nano % 1_000_000 == 0 {
            w.digits(nano / 1_000_000, 3);
        } else if nano % 1_000 == 0 {
            w.digits(nano / 1_000, 6);
        } else {
            w.digits(nano, 9);
        }
    }
    w.byte(b'Z');
    Some(w.n)
}

/// ASCII written into a fixed buffer (at most 30 bytes here).
struct Ascii<'a> {
    buf: &'a mut [u8; 32],
    n: usize,
}

impl Ascii<'_> {
    fn byte(&mut self, b: u8) {
        self.buf[self.n] = b;
        self.n += 1;
    }

    /// `v` in `width` decimal digits, zero-padded.
    fn digits(&mut self, mut v: u32, width: usize) {
        for i in (0..width).rev() {
            self.buf[self.n + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.n += width;
    }
}

/// A `200 OK` with `value` as JSON, serialized into a buffer of `capacity` bytes to begin with
/// (what `web::Json` answers, without growing its buffer a dozen times for a large page).
pub fn page<T: Serialize>(value: &T, capacity: usize) -> Result<HttpResponse, ApiError> {
    Ok(ok_json(page_body(value, capacity)?.into()))
}

/// [`page`]'s body alone (its capacity may be larger than its length).
pub fn page_body<T: Serialize>(value: &T, capacity: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::with_capacity(capacity);
    // A page's maps all have string keys: this never fails, but if it did it would be ours.
    serde_json::to_writer(&mut body, value)
        .map_err(|e| AppError::internal(format!("a page did not serialize: {e}")))?;
    Ok(body)
}

/// `200 OK` with `body`, JSON already.
pub fn ok_json(body: actix_web::web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    #[derive(Serialize)]
    struct Fast(#[serde(serialize_with = "time")] DateTime<Utc>);

    #[derive(Serialize)]
    struct FastOpt(#[serde(serialize_with = "opt_time")] Option<DateTime<Utc>>);

    fn same(t: DateTime<Utc>) {
        let chrono = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::to_string(&Fast(t)).unwrap(), chrono, "{t:?}");
        assert_eq!(serde_json::to_string(&FastOpt(Some(t))).unwrap(), chrono);
    }

    #[test]
    fn timestamps_read_exactly_as_chrono_writes_them() {
        // Every fraction class (none, ms, µs, ns), the edges of the fast path's years, and
        // a spread of instants across them (a fixed walk, not random: the same on every run).
        for nano in [
            0,
            1,
            999_999_999,
            5_000_000,
            120_000_000,
            123_456_000,
            1_000,
            100_000_000,
            123_456_789,
            10,
        ] {
            for (y, mo, d, h, mi, s) in [
                (0, 1, 1, 0, 0, 0),
                (9999, 12, 31, 23, 59, 59),
                (1970, 1, 1, 0, 0, 0),
                (2026, 12, 6, 22, 5, 55),
                (2000, 2, 29, 12, 30, 9),
                (999, 10, 10, 1, 2, 3),
                (42, 7, 4, 9, 8, 7),
            ] {
                let naive = NaiveDate::from_ymd_opt(y, mo, d)
                    .unwrap()
                    .and_hms_nano_opt(h, mi, s, nano)
                    .unwrap();
                same(Utc.from_utc_datetime(&naive));
            }
        }
        let mut secs: i64 = -62_000_000_000;
        while secs < 253_000_000_000 {
            let nano = (secs.unsigned_abs() % 1_000_000_007) as u32 % 1_000_000_000;
            same(DateTime::from_timestamp(secs, nano).unwrap());
            same(DateTime::from_timestamp(secs, nano / 1000 * 1000).unwrap());
            same(DateTime::from_timestamp(secs, 0).unwrap());
            secs += 7_777_777_777;
        }
        // A leap second (chrono's nanosecond past 1e9), and years chrono writes with a sign.
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_250_000_000)
            .unwrap();
        same(Utc.from_utc_datetime(&leap));
        for y in [-1, -4000, 10_000, 262_000] {
            let naive = NaiveDate::from_ymd_opt(y, 3, 1)
                .unwrap()
                .and_hms_opt(4, 5, 6)
                .unwrap();
            same(Utc.from_utc_datetime(&naive));
        }
        assert_eq!(serde_json::to_string(&FastOpt(None)).unwrap(), "null");
    }

    #[actix_web::test]
    async fn a_page_is_the_json_web_json_would_write() {
        use actix_web::body::MessageBody;
        let value = serde_json::json!({"data": [{"content": "a \"quoted\"\nline", "n": 1}], "has_more": false});
        let response = page(&value, 8).unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        let body = response.into_body().try_into_bytes().unwrap();
        assert_eq!(body, serde_json::to_vec(&value).unwrap());
    }
}
