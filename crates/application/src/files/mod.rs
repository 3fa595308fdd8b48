//! Uploaded files: streamed to storage in parts (never held whole), typed from their bytes,
//! checked against an allowlist, a size limit and a per-owner quota; read back as a stream.
//!
//! Two ports: [`FileStore`] keeps the metadata and the per-owner byte counter (the database);
//! [`BlobStore`] keeps the bytes, as numbered parts of at most [`PART_BYTES`] — in the database
//! by default, or in an object store.

mod ports;
mod sniff;

pub use ports::{BlobStore, FileCursor, FileStore, StoredFile};
pub use sniff::sniff;

use chat_threads_domain::{DomainError, FileId, Principal};
use futures_util::{Stream, StreamExt};
use sha2::Digest;

use crate::error::AppError;
use crate::paging::Page;
use crate::system::Clock;

/// Most files one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// The attachments a message asks for, checked: at most [`MAX_ATTACHMENTS`], no file twice,
/// each an upload of `owner`'s (else 422 `attachment_not_found`, whoever else owns it).
pub async fn resolve_attachments<S: FileStore>(
    store: &S,
    owner: &chat_threads_domain::Owner,
    ids: &[FileId],
) -> Result<Vec<chat_threads_domain::Attachment>, AppError> {
    if ids.len() > MAX_ATTACHMENTS {
        return Err(DomainError::LimitExceeded {
            field: "attachments",
            limit: MAX_ATTACHMENTS,
            actual: ids.len(),
        }
        .into());
    }
    let mut out: Vec<chat_threads_domain::Attachment> = Vec::with_capacity(ids.len());
    for id in ids {
        if out.iter().any(|a| a.file_id == *id) {
            return Err(DomainError::invalid("attachments", "lists a file twice").into());
        }
        let file = store
            .get_file(owner, *id)
            .await?
            .ok_or(AppError::AttachmentNotFound(*id))?;
        out.push(chat_threads_domain::Attachment {
            file_id: file.id,
            name: file.name,
            content_type: file.content_type,
            size: file.size,
        });
    }
    Ok(out)
}

/// Size of a stored part (the last one of a file may be shorter).
pub const PART_BYTES: usize = 256 * 1024;

/// What uploads are checked against: the keys of `[files]` the configuration deserializes
/// into it (config/default.toml documents them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FileSettings {
    /// Media types accepted (as sniffed from the bytes).
    pub allowed_types: Vec<String>,
    /// Bytes of files one owner may keep.
    #[serde(rename = "quota_bytes_per_owner")]
    pub quota_bytes: u64,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            allowed_types: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "application/pdf",
                "text/plain",
                "text/markdown",
                "text/csv",
                "application/json",
            ]
            .map(str::to_owned)
            .to_vec(),
            quota_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Uploads, reads and deletes files.
pub struct FileService<S, B, C> {
    store: S,
    blobs: B,
    clock: C,
    settings: FileSettings,
    limits: chat_threads_domain::Limits,
}

impl<S: Clone, B: Clone, C: Clone> Clone for FileService<S, B, C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            clock: self.clock.clone(),
            settings: self.settings.clone(),
            limits: self.limits,
        }
    }
}

impl<S, B, C> std::fmt::Debug for FileService<S, B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Checks a file name: 1-255 characters, no control characters and no invisible formatting
/// ones (bidirectional overrides such as U+202E, which make `invoice\u{202E}fdp.exe` show as
/// `invoiceexe.pdf`, zero-width characters, a BOM); any folder part a client sent
/// (`C:\\x\\a.txt`, `../a.txt`) is dropped.
pub fn file_name(raw: &str) -> Result<String, AppError> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let n = base.chars().count();
    let hidden = |c: char| c.is_control() || invisible(c);
    if n == 0 || n > 255 || base.chars().any(hidden) || base == "." || base == ".." {
        return Err(DomainError::invalid(
            "filename",
            "must be 1-255 characters without control or invisible formatting characters \
             (bidirectional overrides, zero-width characters)",
        )
        .into());
    }
    Ok(base.to_owned())
}

/// Characters that change how a name is shown without showing themselves.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

impl<S: FileStore, B: BlobStore, C: Clock> FileService<S, B, C> {
    /// A file service.
    pub fn new(
        store: S,
        blobs: B,
        clock: C,
        settings: FileSettings,
        limits: chat_threads_domain::Limits,
    ) -> Self {
        Self {
            store,
            blobs,
            clock,
            settings,
            limits,
        }
    }

    /// Stores a file from a stream of bytes, part by part. Over `limits.file_bytes` is 413
    /// (`FileTooLarge`), a type outside the allowlist 415, over the owner's quota 422; a
    /// refused or broken upload leaves nothing behind.
    pub async fn upload<E>(
        &self,
        who: &Principal,
        name: &str,
        body: impl Stream<Item = Result<Vec<u8>, E>> + Unpin,
    ) -> Result<StoredFile, AppError>
    where
        AppError: From<E>,
    {
        let name = file_name(name)?;
        let owner = who.owner();
        let used = self.store.used_bytes(&owner).await?;
        if used >= self.settings.quota_bytes {
            return Err(AppError::StorageQuotaExceeded {
                quota: self.settings.quota_bytes,
                used,
                size: 0,
            });
        }
        let id = FileId::new();
        let mut parts = 0u32;
        let result = self.write_parts(id, &name, body, &mut parts).await;
        let (size, content_type, sha256) = match result {
            Ok(r) => r,
            Err(e) => {
                self.discard(id, parts).await;
                return Err(e);
            }
        };
        let file = StoredFile {
            id,
            owner,
            org_id: who.org.as_ref().map(|o| o.as_str().to_owned()),
            name,
            content_type,
            size,
            sha256,
            parts,
            created_at: self.clock.now(),
        };
        match self
            .store
            .insert_file(file.clone(), self.settings.quota_bytes)
            .await
        {
            Ok(()) => Ok(file),
            Err(e) => {
                self.discard(id, parts).await;
                Err(e)
            }
        }
    }

    /// Writes the body as parts; returns size, sniffed type and SHA-256.
    async fn write_parts<E>(
        &self,
        id: FileId,
        name: &str,
        mut body: impl Stream<Item = Result<Vec<u8>, E>> + Unpin,
        parts: &mut u32,
    ) -> Result<(u64, String, String), AppError>
    where
        AppError: From<E>,
    {
        let limit = self.limits.file_bytes;
        let mut size = 0usize;
        let mut hash = sha2::Sha256::new();
        let mut buffer: Vec<u8> = Vec::with_capacity(PART_BYTES);
        let mut content_type: Option<String> = None;
        while let Some(chunk) = body.next().await.transpose()? {
            size += chunk.len();
            if size > limit {
                return Err(AppError::PayloadTooLarge { limit });
            }
            hash.update(&chunk);
            buffer.extend_from_slice(&chunk);
            while buffer.len() >= PART_BYTES {
                let rest = buffer.split_off(PART_BYTES);
                let part = std::mem::replace(&mut buffer, rest);
                self.write_part(id, name, part, false, parts, &mut content_type)
                    .await?;
            }
        }
        if size == 0 {
            // An empty file is text, like an empty text file (no part is stored).
            content_type = Some(self.allowed(sniff(&[], name, true))?);
        }
        if !buffer.is_empty() {
            self.write_part(id, name, buffer, true, parts, &mut content_type)
                .await?;
        }
        let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let content_type = content_type.unwrap_or_else(|| "application/octet-stream".into());
        Ok((size as u64, content_type, hex))
    }

    /// Writes one part; the first is sniffed for the file's type, which must be allowed.
    async fn write_part(
        &self,
        id: FileId,
        name: &str,
        part: Vec<u8>,
        last: bool,
        parts: &mut u32,
        content_type: &mut Option<String>,
    ) -> Result<(), AppError> {
        if content_type.is_none() {
            *content_type = Some(self.allowed(sniff(&part, name, last))?);
        }
        self.blobs.write_part(id, *parts, part).await?;
        *parts += 1;
        Ok(())
    }

    /// The sniffed type, if `files.allowed_types` admits it.
    fn allowed(&self, sniffed: String) -> Result<String, AppError> {
        if self.settings.allowed_types.contains(&sniffed) {
            Ok(sniffed)
        } else {
            Err(AppError::FileTypeNotAllowed {
                content_type: sniffed,
                allowed: self.settings.allowed_types.clone(),
            })
        }
    }

    async fn discard(&self, id: FileId, parts: u32) {
        if let Err(e) = self.blobs.delete(id, parts).await {
            tracing::warn!(error = %e, file_id = %id, "removing the parts of a refused upload failed");
        }
    }

    /// A file's metadata (the owner's only).
    pub async fn get(&self, who: &Principal, id: FileId) -> Result<StoredFile, AppError> {
        self.store
            .get_file(&who.owner(), id)
            .await?
            .ok_or(AppError::FileNotFound)
    }

    /// A file and its bytes, part by part.
    pub async fn content(
        &self,
        who: &Principal,
        id: FileId,
    ) -> Result<
        (
            StoredFile,
            impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static + use<S, B, C>,
        ),
        AppError,
    > {
        let owner = who.owner();
        self.content_of(&owner, id).await
    }

    /// A file of `owner` and its bytes (a file seen through a share link, whose reader the
    /// share service has checked).
    pub async fn content_of(
        &self,
        owner: &chat_threads_domain::Owner,
        id: FileId,
    ) -> Result<
        (
            StoredFile,
            impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static + use<S, B, C>,
        ),
        AppError,
    > {
        let file = self
            .store
            .get_file(owner, id)
            .await?
            .ok_or(AppError::FileNotFound)?;
        let blobs = self.blobs.clone();
        let parts = file.parts;
        let stream = futures_util::stream::unfold(0u32, move |part| {
            let blobs = blobs.clone();
            async move {
                if part >= parts {
                    return None;
                }
                let r = match blobs.read_part(id, part).await {
                    Ok(Some(bytes)) => Ok(bytes),
                    Ok(None) => Err(AppError::internal(format!(
                        "part {part} of file {id} is missing"
                    ))),
                    Err(e) => Err(e),
                };
                Some((r, part + 1))
            }
        });
        Ok((file, stream))
    }

    /// The owner's files, newest first.
    pub async fn list(
        &self,
        who: &Principal,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<StoredFile>, AppError> {
        let limit = crate::paging::page_size(limit, &self.limits)?;
        let after = cursor
            .map(crate::cursor::decode::<FileCursor>)
            .transpose()?;
        let rows = self
            .store
            .list_files(&who.owner(), after, limit + 1)
            .await?;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |f| {
            FileCursor {
                created_at: f.created_at,
                id: f.id,
            }
        }))
    }

    /// Deletes a file: its metadata at once (it is gone for every reader), then its bytes.
    pub async fn delete(&self, who: &Principal, id: FileId) -> Result<(), AppError> {
        let file = self
            .store
            .delete_file(&who.owner(), id)
            .await?
            .ok_or(AppError::FileNotFound)?;
        self.discard(file.id, file.parts).await;
        Ok(())
    }

    /// Deletes files that no message references once they are older than `grace` (a file
    /// uploaded and never attached, or whose messages were purged); returns how many.
    pub async fn collect_garbage(&self, grace: std::time::Duration) -> Result<u64, AppError> {
        let grace = chrono::TimeDelta::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
        let before = self.clock.now() - grace;
        let mut total = 0;
        loop {
            let batch = self.store.collect_garbage(before, 200).await?;
            for f in &batch {
                self.discard(f.id, f.parts).await;
            }
            total += batch.len() as u64;
            if batch.len() < 200 {
                return Ok(total);
            }
        }
    }
}

/// Most bytes a PDF's streams may inflate to, all together, for its text to be extracted, at the
/// default `files.inline_tokens` (2,000): see [`pdf_inflate_budget`].
pub const PDF_INFLATED_BYTES: u64 = 16 * 1024 * 1024;

/// Inflated bytes a PDF may hold per token of text the model is given: a PDF's streams carry
/// fonts, images and layout besides its text, so the budget is a generous multiple of the text
/// wanted (8 KiB a token: 16 MiB at the default 2,000 tokens), and never under 1 MiB.
pub const PDF_BYTES_PER_TOKEN: u64 = 8 * 1024;

/// The inflate budget for a PDF whose text the model is given `inline_tokens` of.
pub fn pdf_inflate_budget(inline_tokens: usize) -> u64 {
    (inline_tokens as u64)
        .saturating_mul(PDF_BYTES_PER_TOKEN)
        .max(1024 * 1024)
}
/// Longest a PDF's text extraction may take.
pub const PDF_EXTRACTION_TIME: std::time::Duration = std::time::Duration::from_secs(20);

/// Why a PDF gives the model no text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdfRefusal {
    /// It holds no text that can be read (or it is malformed).
    NoText,
    /// Its streams inflate beyond [`PDF_INFLATED_BYTES`] (a decompression bomb, or simply too
    /// big to extract).
    TooLarge,
    /// Extraction took longer than [`PDF_EXTRACTION_TIME`].
    TooSlow,
}

/// What the streams of a PDF inflate to, counted without keeping them and stopping as soon as
/// the count passes `most`: each `stream … endstream` body inflated (zlib) up to the budget
/// left, or counted as it is when it is not zlib. Every stream of a PDF appears at its top
/// level (object streams are streams too), so a compressed bomb cannot hide from the count.
pub fn pdf_inflated_size(bytes: &[u8], most: u64) -> u64 {
    use std::io::Read;
    let find = |from: usize, what: &[u8]| {
        bytes
            .get(from..)
            .and_then(|rest| rest.windows(what.len()).position(|w| w == what))
            .map(|i| from + i)
    };
    let mut total = 0u64;
    let mut at = 0;
    while let Some(start) = find(at, b"stream") {
        let mut body = start + b"stream".len();
        if bytes.get(body) == Some(&b'\r') {
            body += 1;
        }
        if bytes.get(body) == Some(&b'\n') {
            body += 1;
        }
        let Some(end) = find(body, b"endstream") else {
            break;
        };
        at = end + b"endstream".len();
        if start >= 3 && &bytes[start - 3..start] == b"end" {
            continue;
        }
        let raw = &bytes[body..end];
        let left = most.saturating_sub(total) + 1;
        let mut inflater = flate2::read::ZlibDecoder::new(raw).take(left);
        let inflated = std::io::copy(&mut inflater, &mut std::io::sink()).unwrap_or(0);
        total = total.saturating_add(if inflated > 0 {
            inflated
        } else {
            raw.len() as u64
        });
        if total > most {
            return total;
        }
    }
    total
}

/// The text of a PDF, extracted on a blocking thread (two at a time in the process) within
/// [`PDF_EXTRACTION_TIME`], and only when its streams inflate to at most `inflate_budget` bytes
/// ([`pdf_inflate_budget`]); else why not (a malformed file that makes the extractor panic
/// gives [`PdfRefusal::NoText`]).
pub async fn pdf_text(bytes: Vec<u8>, inflate_budget: u64) -> Result<String, PdfRefusal> {
    // A bounded pool: at most this many extractions run at once in the process; each holds
    // its permit until its thread is done, even past the time limit.
    static EXTRACTIONS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(2)));
    let work = async move {
        let permit = EXTRACTIONS
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PdfRefusal::NoText)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            extract(&bytes, inflate_budget)
        })
        .await
        .map_err(|_| PdfRefusal::NoText)?
    };
    match tokio::time::timeout(PDF_EXTRACTION_TIME, work).await {
        Ok(text) => text,
        // The blocking thread finishes on its own; its memory is bounded by the check.
        Err(_) => Err(PdfRefusal::TooSlow),
    }
}

/// The extraction itself, on a blocking thread: refused when the streams inflate beyond the
/// budget; a panic of the extractor is a file without text.
fn extract(bytes: &[u8], budget: u64) -> Result<String, PdfRefusal> {
    if pdf_inflated_size(bytes, budget) > budget {
        return Err(PdfRefusal::TooLarge);
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pdf_extract::extract_text_from_mem(bytes)
    }))
    .ok()
    .and_then(Result::ok)
    .filter(|t| !t.trim().is_empty())
    .ok_or(PdfRefusal::NoText)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chat_threads_testing::samples::minimal_pdf;

    #[test]
    fn the_pdf_budget_follows_the_text_the_model_is_given() {
        assert_eq!(super::pdf_inflate_budget(2_000), 2_000 * 8 * 1024);
        assert_eq!(
            super::pdf_inflate_budget(1),
            1024 * 1024,
            "never under 1 MiB"
        );
        assert!(super::pdf_inflate_budget(8_000) > super::pdf_inflate_budget(2_000));
    }

    #[tokio::test]
    async fn pdf_text_is_extracted_and_garbage_gives_none() {
        let text = super::pdf_text(minimal_pdf("Hello PDF world"), super::PDF_INFLATED_BYTES)
            .await
            .unwrap();
        assert!(text.contains("Hello PDF world"), "{text:?}");
        assert_eq!(
            super::pdf_text(b"%PDF-1.4\nnot really".to_vec(), super::PDF_INFLATED_BYTES).await,
            Err(super::PdfRefusal::NoText)
        );
        assert_eq!(
            super::sniff(&minimal_pdf("x"), "a.pdf", true),
            "application/pdf"
        );
    }

    #[tokio::test]
    async fn a_pdf_whose_streams_inflate_beyond_the_budget_is_not_extracted() {
        use std::io::Write;
        // 64 MiB of text compressed to a few tens of KiB: a decompression bomb.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let line = b"BT /F1 12 Tf 72 720 Td (boom boom boom) Tj ET\n".repeat(1024);
        for _ in 0..(64 * 1024 * 1024 / line.len()) {
            z.write_all(&line).unwrap();
        }
        let packed = z.finish().unwrap();
        assert!(packed.len() < 1024 * 1024, "{}", packed.len());
        let mut pdf = b"%PDF-1.4\n4 0 obj\n<< /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&packed);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        let counted = super::pdf_inflated_size(&pdf, super::PDF_INFLATED_BYTES);
        assert!(counted > super::PDF_INFLATED_BYTES, "{counted}");
        assert!(
            counted <= super::PDF_INFLATED_BYTES + 1,
            "stops at the budget: {counted}"
        );
        assert_eq!(
            super::pdf_text(pdf, super::PDF_INFLATED_BYTES).await,
            Err(super::PdfRefusal::TooLarge)
        );
        // An ordinary PDF's streams count what they inflate to.
        let small = minimal_pdf("Hello");
        assert!(super::pdf_inflated_size(&small, super::PDF_INFLATED_BYTES) < 10_000);
    }

    #[test]
    fn file_names_lose_their_folders() {
        assert_eq!(super::file_name("C:\\Users\\x\\a.txt").unwrap(), "a.txt");
        assert_eq!(super::file_name("../../etc/passwd").unwrap(), "passwd");
        assert!(super::file_name("dir/").is_err());
        assert!(super::file_name("a\u{0}b").is_err());
        assert!(super::file_name(&"x".repeat(256)).is_err());
        for hidden in [
            "invoice\u{202E}fdp.exe",
            "a\u{200B}b.txt",
            "\u{FEFF}a.txt",
            "a\u{2066}b",
        ] {
            assert!(super::file_name(hidden).is_err(), "{hidden:?}");
        }
        assert_eq!(
            super::file_name("résumé 日本.pdf").unwrap(),
            "résumé 日本.pdf"
        );
    }
}
