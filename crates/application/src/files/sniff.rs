//! A file's media type, from its bytes: binary formats by their signature (the `infer` crate);
//! anything else that is UTF-8 text is text, refined by the file name's extension (Markdown,
//! CSV, JSON, source code as plain text). What the client declares is never trusted.

/// The media type of a file whose first part is `head`; `whole` when `head` is the whole file
/// (otherwise a UTF-8 character cut at its end is not held against it).
pub fn sniff(head: &[u8], name: &str, whole: bool) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut inside the last character of a part that is not the end of the file.
        Err(e) => !whole && e.error_len().is_none(),
    };
    if !text || head.contains(&0) {
        return "application/octet-stream".into();
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "json" => {
            if whole && serde_json::from_slice::<serde_json::Value>(head).is_err() {
                "text/plain"
            } else {
                "application/json"
            }
        }
        _ => "text/plain",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn types_come_from_the_bytes_not_the_name() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
        ];
        assert_eq!(sniff(&png, "cat.txt", true), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n...", "x.bin", true), "application/pdf");
        assert_eq!(sniff(b"# Title\n", "notes.md", true), "text/markdown");
        assert_eq!(sniff(b"a,b\n1,2\n", "t.csv", true), "text/csv");
        assert_eq!(sniff(b"{\"a\":1}", "d.json", true), "application/json");
        assert_eq!(sniff(b"{not json", "d.json", true), "text/plain");
        assert_eq!(sniff(b"fn main() {}\n", "main.rs", true), "text/plain");
        assert_eq!(
            sniff(&[0xff, 0xfe, 0x00, 0x01], "a.txt", true),
            "application/octet-stream"
        );
        assert_eq!(
            sniff(b"MZ\x90\x00\x03", "setup.txt", true),
            "application/vnd.microsoft.portable-executable"
        );
        // A part cut inside a multi-byte character is still text; a whole file is not.
        let cut = &"héllo".as_bytes()[..2];
        assert_eq!(sniff(cut, "a.txt", false), "text/plain");
        assert_eq!(sniff(cut, "a.txt", true), "application/octet-stream");
    }
}
