//! What attachments give the model: images as `data:` URLs (for models that see images), the
//! text of text files and PDFs inline within `inline_tokens` per file (the cut marked), and a
//! short note for anything it cannot be given (a deleted file, an image for a model without
//! vision, a PDF whose text cannot be extracted).

use std::collections::HashMap;

use base64::Engine;
use chat_threads_domain::{Attachment, Message, MessageId, Owner};

use crate::files::{BlobStore, FileStore, StoredFile};
use crate::replies::ReplyService;
use crate::replies::prompt::{Attached, within_tokens};

/// Whether a media type is read as text.
pub(crate) fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type == "application/json"
}

/// The attachments of the window's messages, rendered for the prompt. Each file is read as its
/// uploader's: the message's author (a member of a shared thread attaches their own files),
/// else the thread's owner.
pub(super) async fn render<S, C>(
    g: &ReplyService<S, C>,
    thread_owner: &Owner,
    model: &str,
    window: &[Message],
) -> HashMap<MessageId, Attached>
where
    S: FileStore + BlobStore,
{
    let mut out = HashMap::new();
    for m in window.iter().filter(|m| !m.attachments.is_empty()) {
        let mut attached = Attached::default();
        let uploader = m.author.as_ref().map_or_else(
            || thread_owner.clone(),
            |a| Owner::from_stored(a.id.clone()),
        );
        for a in &m.attachments {
            let (piece, given) = one(g, &uploader, model, a).await;
            let mut entry = serde_json::json!({
                "message_id": m.id,
                "file_id": a.file_id,
                "name": a.name,
            });
            match given {
                Given::Whole => entry["given"] = "whole".into(),
                Given::Cut { tokens } => {
                    entry["given"] = "cut".into();
                    entry["tokens"] = tokens.into();
                }
                Given::Note(why) => {
                    entry["given"] = "note".into();
                    entry["reason"] = why.into();
                }
            }
            attached.report.push(entry);
            match piece {
                Piece::Text(t) => attached.text.push_str(&t),
                Piece::Image(url) => attached.images.push(url),
            }
        }
        out.insert(m.id, attached);
    }
    out
}

enum Piece {
    Text(String),
    Image(String),
}

/// What the model was given of one attachment.
enum Given {
    /// All of it (text within the budget, or an image).
    Whole,
    /// Its first `tokens` tokens: the rest was cut.
    Cut { tokens: usize },
    /// Only a note saying why not.
    Note(&'static str),
}

fn note(a: &Attachment, why: &'static str) -> (Piece, Given) {
    let piece = Piece::Text(format!(
        "\n\n[Attachment {} ({}): {why}]",
        a.name, a.content_type
    ));
    (piece, Given::Note(why))
}

async fn one<S, C>(
    g: &ReplyService<S, C>,
    uploader: &Owner,
    model: &str,
    a: &Attachment,
) -> (Piece, Given)
where
    S: FileStore + BlobStore,
{
    let file = match g.store.get_file(uploader, a.file_id).await {
        Ok(Some(f)) => f,
        Ok(None) => return note(a, "the file was deleted"),
        Err(e) => {
            tracing::warn!(error = %e, file_id = %a.file_id, "reading an attachment failed");
            return note(a, "the file could not be read");
        }
    };
    if file.content_type.starts_with("image/") {
        if !g.catalog.sees_images(model) {
            return note(a, "an image, not shown: this model does not see images");
        }
        return match read(g, &file, usize::MAX).await {
            Some(bytes) => (
                Piece::Image(format!(
                    "data:{};base64,{}",
                    file.content_type,
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )),
                Given::Whole,
            ),
            None => note(a, "the file could not be read"),
        };
    }
    let budget = g.settings.inline_tokens;
    let text = if is_text(&file.content_type) {
        // About 8 bytes a token is more than any text needs: read no further than that.
        match read(g, &file, budget.saturating_mul(8).max(4096)).await {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => return note(a, "the file could not be read"),
        }
    } else if file.content_type == "application/pdf" {
        let Some(bytes) = read(g, &file, usize::MAX).await else {
            return note(a, "the file could not be read");
        };
        use crate::files::PdfRefusal;
        let budget = crate::files::pdf_inflate_budget(budget);
        match crate::files::pdf_text(bytes, budget).await {
            Ok(t) => t,
            Err(PdfRefusal::NoText) => return note(a, "a PDF whose text could not be extracted"),
            Err(PdfRefusal::TooLarge) => {
                tracing::warn!(file_id = %file.id, "a PDF's streams inflate beyond the extraction budget");
                return note(a, "a PDF too large to extract its text");
            }
            Err(PdfRefusal::TooSlow) => {
                tracing::warn!(file_id = %file.id, "extracting a PDF's text took too long");
                return note(a, "a PDF whose text took too long to extract");
            }
        }
    } else {
        return note(a, "a file of a type the model is not given");
    };
    let (kept, cut) = within_tokens(g.counter.as_ref(), &text, budget);
    let cut_mark = if cut {
        format!("\n[… cut here: the file goes on beyond the {budget} tokens given]")
    } else {
        String::new()
    };
    let piece = Piece::Text(format!(
        "\n\n--- Attachment: {} ({}) ---\n{kept}{cut_mark}\n--- End of {} ---",
        file.name, file.content_type, file.name
    ));
    let given = if cut {
        Given::Cut { tokens: budget }
    } else {
        Given::Whole
    };
    (piece, given)
}

/// The first `at_most` bytes of a file (whole parts), or `None` if a part is missing.
async fn read<S, C>(g: &ReplyService<S, C>, file: &StoredFile, at_most: usize) -> Option<Vec<u8>>
where
    S: BlobStore,
{
    let mut bytes = Vec::new();
    for part in 0..file.parts {
        if bytes.len() >= at_most {
            break;
        }
        match g.store.read_part(file.id, part).await {
            Ok(Some(p)) => bytes.extend_from_slice(&p),
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, file_id = %file.id, "reading an attachment failed");
                return None;
            }
        }
    }
    Some(bytes)
}
