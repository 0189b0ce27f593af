//! Unit tests of partial files.
