//! The application layer's error type. The HTTP layer maps it to
//! problem+json in one place (`http::error`).

use super::Unauthenticated;
use crate::domain::{CustomerError, OutOfRange, ScheduleError, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The named thing does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but the slots are not free.
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but the resource's state refuses it (a
    /// limit reached, a change its data does not allow); nothing about slots.
    #[error("{0}")]
    StateConflict(String),
    /// A field's value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// No usable credential was presented: none, or a malformed one.
    #[error("{0}")]
    Unauthorized(Unauthenticated),
    /// A credential was presented but does not grant this.
    #[error("{0}")]
    Forbidden(String),
    /// The `Idempotency-Key` was used before with a different request.
    #[error("{0}")]
    IdempotencyMismatch(String),
    /// A request with the same `Idempotency-Key` has not finished yet.
    #[error("{0}")]
    IdempotencyInProgress(String),
    /// A hold's slots no longer make the span its service needs (the
    /// service was lengthened or shortened since it was taken) (409).
    #[error("{0}")]
    HoldNoLongerFits(String),
    /// The client already has as many active slot holds as it may (429).
    #[error("{0}")]
    TooManyHolds(String),
    /// The client already waits in as many waitlist entries as it may (429).
    #[error("{0}")]
    TooManyEntries(String),
    /// The provider's times are booked in the marketplace's own booking
    /// system (`slotSource: external`), at `booking_url` when it has one (409).
    #[error("{detail}")]
    BooksElsewhere { detail: String, booking_url: Option<String> },
    /// The provider is deactivated: it takes no new bookings or holds (410).
    #[error("{0}")]
    Gone(String),
    /// The database cannot be reached (no connection, or it broke): 503
    /// with `Retry-After`, and the instance's health is told.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    /// The search index is loading, or cannot catch up with what was
    /// announced before the search began (503 with `Retry-After`).
    #[error("{0}")]
    SearchUnavailable(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Database(sea_orm::DbErr),
    /// A failure that is neither the caller's nor the database's.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The one place a database error becomes an application error: a
/// connection-level failure is `DatabaseUnavailable`, any other `Database`.
impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> AppError {
        if crate::health::is_unreachable(&error) {
            AppError::DatabaseUnavailable(error.to_string())
        } else {
            AppError::Database(error)
        }
    }
}

impl From<TransitionError> for AppError {
    fn from(error: TransitionError) -> AppError {
        AppError::Conflict(error.to_string())
    }
}

impl From<CustomerError> for AppError {
    fn from(error: CustomerError) -> AppError {
        AppError::Invalid(error.to_string())
    }
}

impl From<OutOfRange> for AppError {
    fn from(error: OutOfRange) -> AppError {
        AppError::Invalid(error.to_string())
    }
}

impl From<ScheduleError> for AppError {
    fn from(error: ScheduleError) -> AppError {
        match error {
            ScheduleError::NoSlotAt(_) | ScheduleError::NotCovered { .. } => {
                AppError::Conflict(format!("the requested time is not available: {error}"))
            }
            ScheduleError::CrossesMidnight | ScheduleError::NonexistentLocalTime(_) => {
                AppError::Invalid(error.to_string())
            }
        }
    }
}
