//! The API's one error shape:
//! `{"error": {"code", "message", "details": [{"field", "code", "message"}]}}`.
//!
//! Handlers return [`ApiError`]; internal detail goes to the log, never to the
//! caller.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The error codes of the API, each with one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 404: absent, or another tenant's.
    NotFound,
    /// 401: no token, a bad one, or wrong credentials.
    Unauthorized,
    /// 403: the role does not allow it.
    Forbidden,
    /// 422: invalid input, with per-field details.
    Validation,
    /// 409.
    Conflict,
    /// 429, with `Retry-After`.
    RateLimited,
    /// 400: unreadable request.
    BadRequest,
    /// 500.
    Internal,
    /// 503: the bus, the state service or the PBX cannot be reached.
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// One invalid field of a 422.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name (`pbx`, `Action`…).
    pub field: String,
    /// A machine-readable reason (`required`, `invalid`…).
    pub code: String,
    /// Said to people.
    pub message: String,
}

/// An error answer of the API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// What kind of error.
    pub code: ErrorCode,
    /// Said to people; never internal detail.
    pub message: String,
    /// Per-field details (422).
    pub details: Vec<FieldError>,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `code` saying `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Conflict, message)
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unavailable, message)
    }

    /// 500, logging the detail and telling the caller nothing more.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error")
    }

    /// 422 with one field's detail.
    pub fn validation(field: &str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            details: vec![FieldError {
                field: field.to_owned(),
                code: code.to_owned(),
                message: message.clone(),
            }],
            ..ApiError::new(ErrorCode::Validation, format!("invalid {field}: {message}"))
        }
    }

    /// 422 with several fields' details.
    pub fn validation_fields(details: Vec<FieldError>) -> Self {
        ApiError {
            details,
            ..ApiError::new(ErrorCode::Validation, "invalid input")
        }
    }

    /// 429 with `Retry-After: seconds`.
    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(ErrorCode::RateLimited, "too many attempts; retry later")
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

/// The JSON body of an error answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable.
    pub code: ErrorCode,
    /// Human-readable.
    pub message: String,
    /// Per-field details (422), else empty.
    pub details: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == ErrorCode::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as J;
        match rejection {
            J::JsonDataError(e) => ApiError::validation("body", "invalid", e.body_text()),
            J::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
            J::MissingJsonContentType(_) => {
                ApiError::bad_request("expected Content-Type: application/json")
            }
            other => ApiError::bad_request(other.body_text()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::validation("query", "invalid", rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        ApiError::validation("path", "invalid", rejection.body_text())
    }
}

/// A JSON body whose rejections are [`ApiError`]s.
pub type JsonBody<T> = extract::Json<T>;

/// Extractors whose rejections use the API's error shape.
pub mod extract {
    use axum::extract::{FromRequest, FromRequestParts, Request};
    use axum::http::request::Parts;

    use super::ApiError;

    /// `axum::Json` with [`ApiError`] rejections.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Json<T>(pub T);

    impl<S, T> FromRequest<S> for Json<T>
    where
        S: Send + Sync,
        T: serde::de::DeserializeOwned,
    {
        type Rejection = ApiError;
        async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
            let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
            Ok(Json(value))
        }
    }

    /// `axum::extract::Query` with [`ApiError`] rejections.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Query<T>(pub T);

    impl<S, T> FromRequestParts<S> for Query<T>
    where
        S: Send + Sync,
        T: serde::de::DeserializeOwned,
    {
        type Rejection = ApiError;
        async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
            let axum::extract::Query(value) =
                axum::extract::Query::<T>::from_request_parts(parts, state).await?;
            Ok(Query(value))
        }
    }

    /// `axum::extract::Path` with [`ApiError`] rejections.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Path<T>(pub T);

    impl<S, T> FromRequestParts<S> for Path<T>
    where
        S: Send + Sync,
        T: serde::de::DeserializeOwned + Send,
    {
        type Rejection = ApiError;
        async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
            let axum::extract::Path(value) =
                axum::extract::Path::<T>::from_request_parts(parts, state).await?;
            Ok(Path(value))
        }
    }
}
