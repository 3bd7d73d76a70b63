//! Request parameters: the path extractor whose failures are JSON errors, the parsers that
//! turn each path parameter into a value or a 400 naming it, and each parameter's schema for
//! the OpenAPI document, next to its parser.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use ferrite_core::{Address, AddressPrefix, Hash};
use serde::de::DeserializeOwned;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

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

/// `{hash}`: a block id.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct BlockHashParam {
    /// A block id, 64 hex digits.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    hash: String,
}

/// `{txid}`: a transfer id.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct TxidParam {
    /// A transfer id, 64 hex digits.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    txid: String,
}

/// `{last_seen_txid}`: a history cursor.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct LastSeenParam {
    /// The last confirmed transfer of the previous page, 64 hex digits.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    last_seen_txid: String,
}

/// `{address}`: an account (the pattern is set for the chain when the document is made).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct AddressParam {
    /// An address of this chain, bech32m, all lower or all upper case. The pattern cannot
    /// check the 6-character checksum: an address that fails it gets 400 `invalid_address`.
    address: String,
}

/// `{height}`: a block height.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct HeightParam {
    /// A block height, decimal digits, at most 2^64 - 1.
    #[param(value_type = DecimalU64, inline)]
    height: u64,
}

/// `{start}`: an index into a block's transfers.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct StartParam {
    /// Index of the first transfer listed, decimal digits, at most 2^64 - 1; 404 at or past
    /// the block's count (except 0).
    #[param(value_type = DecimalU64, inline)]
    start: u64,
}

/// `{start_height}`: where a list of blocks starts.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct StartHeightParam {
    /// The height of the first (newest) block listed, or `tip` for the newest; 404 above
    /// the tip.
    #[param(value_type = StartHeight, inline)]
    start_height: String,
}

/// The schema of a u64 path parameter: an integer from 0 to 2^64 - 1, the range
/// [`number`] takes.
pub(super) struct DecimalU64;

impl utoipa::PartialSchema for DecimalU64 {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            // usize is u64 on every target the node builds for.
            .maximum(Some(usize::MAX))
            .into()
    }
}

impl utoipa::ToSchema for DecimalU64 {}

/// The schema of `{start_height}`: a height, or `tip`.
pub(super) struct StartHeight;

impl utoipa::PartialSchema for StartHeight {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(DecimalU64::schema())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["tip"])),
            )
            .into()
    }
}

impl utoipa::ToSchema for StartHeight {}
