//! `gonogo check`: the checklists against rendered manifests.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Manifest files or directories (recursive), or `-` for standard input. Repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
}

pub fn run(_args: CheckArgs) -> ExitCode {
    eprintln!("gonogo check: not implemented yet");
    ExitCode::from(2)
}
