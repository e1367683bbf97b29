use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    gonogo::cli::main(gonogo::cli::Cli::parse())
}
