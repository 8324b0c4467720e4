//! Ringside telemetry setup.
