//! The error answer every failing request gets.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable machine-readable code (docs/http.md lists them all), e.g. `invalid_hash`,
    /// `unknown_parameter`, `rejected`, `not_found`.
    #[schema(example = "invalid_hash")]
    pub error: String,
    /// The path or query parameter, or body, at fault; null if none.
    #[schema(example = "hash")]
    pub field: Option<String>,
    /// Human-readable detail.
    #[schema(example = "hash must be 64 hex digits")]
    pub message: String,
    /// Only with `rejected`: the name of the rule that refused the transfer (docs/http.md
    /// lists them), e.g. `fee_too_low`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "fee_too_low")]
    pub rule: Option<String>,
}
