//! Ringside provisioning service.
