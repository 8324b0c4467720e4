//! pbx-sim
