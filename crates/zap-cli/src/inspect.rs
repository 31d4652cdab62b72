//! `zap inspect`: decode hex ZAP messages and node frames.

use std::process::ExitCode;

use crate::demo::StepResult;
use crate::output::CliError;

/// Options of `zap inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Hex of messages (or frames with --frame); standard input, one per line, when none.
    hex: Vec<String>,
    /// Inputs are node frames with their 4-byte length prefix.
    #[arg(long)]
    frame: bool,
    /// One JSON object per input.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(_args: Args) -> Result<ExitCode, CliError> {
    Err(CliError::new("inspect: being written"))
}

pub(crate) async fn demo_step() -> StepResult {
    Err(CliError::new("wire step: being written"))
}
