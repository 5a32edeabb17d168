//! Local AWS.
