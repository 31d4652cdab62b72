//! The ZAP message format.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
