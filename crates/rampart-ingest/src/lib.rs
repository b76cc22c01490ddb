//! placeholder, replaced as the crate is written
