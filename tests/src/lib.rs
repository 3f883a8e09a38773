//! Test harnesses shared by the integration tests.
