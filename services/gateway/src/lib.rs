//! Ringside gateway service.
