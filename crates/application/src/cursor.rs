//! Opaque keyset cursors: base64url of a small JSON object, so clients cannot depend on the shape.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Encodes a cursor position.
pub fn encode<T: Serialize>(position: &T) -> String {
    // Serializing plain structs of timestamps and ids cannot fail.
    let json = serde_json::to_vec(position).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor produced by [`encode`]; anything else is [`AppError::InvalidCursor`].
pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, AppError> {
    if raw.len() > 512 {
        return Err(AppError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| AppError::InvalidCursor)?;
    serde_json::from_slice(&bytes).map_err(|_| AppError::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::ThreadCursor;
    use chat_threads_domain::ThreadId;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = ThreadCursor {
            pinned: false,
            updated_at: chrono::Utc::now(),
            id: ThreadId::new(),
        };
        let back: ThreadCursor = decode(&encode(&c)).unwrap();
        assert_eq!(back, c);
        assert!(matches!(
            decode::<ThreadCursor>("!!!"),
            Err(AppError::InvalidCursor)
        ));
        assert!(matches!(
            decode::<ThreadCursor>("e30"),
            Err(AppError::InvalidCursor)
        ));
    }
}
