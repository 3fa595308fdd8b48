//! Mapping database failures onto the application's errors.

use chat_threads_application::AppError;
use chat_threads_domain::DomainError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The error type inside store code: an [`AppError`] that diesel errors convert into.
#[derive(Debug)]
pub struct DbError(pub AppError);

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        Self(classify(e))
    }
}

impl From<AppError> for DbError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl From<DomainError> for DbError {
    fn from(e: DomainError) -> Self {
        Self(AppError::Domain(e))
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        e.0
    }
}

/// Sorts a diesel error into conflict, unavailable (worth a retry) or an internal failure.
pub fn classify(e: DieselError) -> AppError {
    match &e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            AppError::Conflict(info.message().to_owned())
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::SerializationFailure,
            _,
        ) => AppError::unavailable_from("the database", e),
        // PostgreSQL broke a lock cycle by failing this transaction (40P01): nothing of it was
        // written, and the same request again goes through.
        DieselError::DatabaseError(_, info)
            if info.message().contains("database is locked")
                || info.message().contains("busy")
                || info.message().starts_with("deadlock detected") =>
        {
            AppError::unavailable_from("the database", e)
        }
        // A named statement that vanished or clashes: the connection was handed to another
        // client's server session, i.e. a pooler switched to transaction mode after start-up
        // (start-up refuses it). Not the client's fault, and worth a retry once it is fixed.
        DieselError::DatabaseError(_, info)
            if info.message().starts_with("prepared statement")
                && (info.message().ends_with("does not exist")
                    || info.message().ends_with("already exists")) =>
        {
            AppError::unavailable_from(
                "the database (a connection pooler in transaction mode? see docs/operations.md)",
                e,
            )
        }
        _ => AppError::internal_from("the database", e),
    }
}

/// A corrupt stored value (it passed validation when written, so this is a storage fault).
pub fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError(AppError::internal(format!("stored {what} is invalid: {e}")))
}
