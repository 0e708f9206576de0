//! gateway-shim: specs into route tables.

mod specs;
