//! Provisioning's [`Error`] as a gRPC [`Status`].
//!
//! The kinds a caller can act on keep their meaning; everything else is
//! `INTERNAL` (or `UNAVAILABLE` when the database cannot be reached) with a
//! fixed message, its detail going to the log only: it may name tables,
//! constraints, hosts or keys.
//!
//! Field errors travel twice: readable in the message (`invalid input:
//! code: …; trunk_ip: …`) and as JSON `[{"field","code","message"}]` in the
//! binary trailer [`FIELD_ERRORS_KEY`], for clients that show them next to
//! form fields. (Not in `grpc-status-details-bin`: that one is a
//! `google.rpc.Status` by convention, and clients decode it as such.)

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::error::{Error, StoreError};
use crate::validate::ValidationError;

/// The metadata key of the JSON field errors of an `INVALID_ARGUMENT`.
pub const FIELD_ERRORS_KEY: &str = "ringside-field-errors-bin";

/// The status of a failed provisioning call.
pub fn status(error: Error) -> Status {
    match error {
        Error::Validation(v) => invalid(&v),
        Error::NotFound { entity } => Status::not_found(format!("{entity} not found")),
        Error::Conflict { entity, message } => {
            // The facade has one conflict variant; a duplicate is the one
            // whose message says so (see `Error::from_store`).
            let code =
                if message.starts_with("already exists") || message.contains(" already exists") {
                    Code::AlreadyExists
                } else {
                    Code::FailedPrecondition
                };
            Status::new(code, format!("{entity}: {message}"))
        }
        Error::Forbidden(reason) => Status::permission_denied(reason),
        Error::Store(StoreError::Connect(detail)) => {
            tracing::error!(error = %detail, "provisioning database unreachable");
            Status::unavailable("the database is unavailable, try again")
        }
        other => {
            tracing::error!(error = %other, "provisioning call failed");
            Status::internal("internal error")
        }
    }
}

/// `INVALID_ARGUMENT` with the field errors in the message and the trailer.
pub fn invalid(v: &ValidationError) -> Status {
    let mut status = Status::invalid_argument(v.to_string());
    if let Ok(json) = serde_json::to_vec(&v.fields) {
        status
            .metadata_mut()
            .insert_bin(FIELD_ERRORS_KEY, MetadataValue::from_bytes(&json));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_in_the_message_and_the_trailer() {
        let s = status(Error::Validation(ValidationError::field(
            "trunk_ip",
            "invalid_ip",
            "not an IP address",
        )));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("trunk_ip: not an IP address"));
        let raw = s.metadata().get_bin(FIELD_ERRORS_KEY).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&raw.to_bytes().unwrap()).unwrap();
        assert_eq!(json[0]["field"], "trunk_ip");
        assert_eq!(json[0]["code"], "invalid_ip");
    }

    #[test]
    fn conflicts_split_into_duplicates_and_preconditions() {
        let dup = Error::Conflict {
            entity: "customer",
            message: "already exists (customers_tenant_code_key)".into(),
        };
        assert_eq!(status(dup).code(), Code::AlreadyExists);
        let busy = Error::Conflict {
            entity: "gateway",
            message: "is still in use (referenced by other rows)".into(),
        };
        assert_eq!(status(busy).code(), Code::FailedPrecondition);
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let s = status(Error::Store(StoreError::Database(
            "relation secret_stuff does not exist".into(),
        )));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret_stuff"));
        let s = status(Error::Store(StoreError::Connect("pg://user:pw@db".into())));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(!s.message().contains("pw"));
    }
}
