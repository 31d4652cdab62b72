//! The `zap` command.
fn main() {}
