//! API errors: every failure is a status code and a JSON body naming the problem, and the
//! path parameter or body field at fault when there is one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `invalid_hash`, `not_found`, `rejected`.
    pub code: &'static str,
    /// The path parameter or field at fault.
    pub field: Option<&'static str>,
    /// Human-readable detail.
    pub message: String,
    /// For a refused transfer, the short name of the rule that refused it.
    pub rule: Option<&'static str>,
}

impl ApiError {
    /// 400 for a parameter that does not parse.
    pub fn bad_param(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            field: Some(field),
            message: message.into(),
            rule: None,
        }
    }

    /// Any other status, with no field at fault.
    pub fn status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
            rule: None,
        }
    }

    /// 404 for an object the node does not know.
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            field: None,
            message: what.into(),
            rule: None,
        }
    }

    /// 500 for a failure of the node itself (the store).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "HTTP request failed inside the node");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            field: None,
            message: "the node failed to answer; see its log".into(),
            rule: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ferrite_api::ErrorBody {
            error: self.code.to_owned(),
            field: self.field.map(str::to_owned),
            message: self.message.clone(),
            rule: self.rule.map(str::to_owned),
        };
        let status = self.status;
        // The explorer's pages answer the same error as an HTML page (pages/mod.rs).
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<crate::chain::ChainError> for ApiError {
    fn from(e: crate::chain::ChainError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}
