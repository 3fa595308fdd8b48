//! Turning raw input (strings from any front door: REST, WebSocket) into domain values.

use crate::error::AppError;

/// Parses an optional raw value.
pub(crate) fn opt<T>(
    raw: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, chat_threads_domain::DomainError>,
) -> Result<Option<T>, AppError> {
    raw.map(|s| parse(&s)).transpose().map_err(AppError::from)
}
