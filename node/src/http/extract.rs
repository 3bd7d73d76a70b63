//! Request parameters: the path extractor whose failures are JSON errors, and the parsers that
//! turn each path parameter into a value or a 400 naming it.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use ferrite_core::{Address, AddressPrefix, Hash};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Longest decimal u64 (20 digits); longer input is refused before parsing.
const MAX_DECIMAL_DIGITS: usize = 20;

/// Like axum's `Path`, but a path that cannot be decoded (bad percent-encoding, invalid
/// UTF-8) answers the API's JSON 400 instead of plain text.
pub(super) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::bad_param("path", "invalid_path", e.body_text())),
        }
    }
}

/// A hash parameter: 64 hex digits.
pub(super) fn hash(field: &'static str, s: &str) -> Result<Hash, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_param(
            field,
            "invalid_hash",
            format!("{field} must be 64 hex digits"),
        )
    })
}

/// A non-negative integer parameter: decimal digits only (no sign, no spaces), at most a u64.
pub(super) fn number(field: &'static str, code: &'static str, s: &str) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::bad_param(
            field,
            code,
            format!("{field} must be a non-negative decimal integer below 2^64"),
        )
    };
    if s.is_empty() || s.len() > MAX_DECIMAL_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

/// An address parameter of this chain.
pub(super) fn address(s: &str, prefix: &AddressPrefix) -> Result<Address, ApiError> {
    Address::parse(s, prefix)
        .map_err(|e| ApiError::bad_param("address", "invalid_address", format!("address: {e}")))
}
