//! Command-line entry points: flags → telemetry → run.

pub mod approve;
pub mod check;
pub mod input;
pub mod output;
pub mod run;
pub mod verdicts;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "gonogo",
    version,
    about = "Production-readiness checklists as go/no-go gates for Kubernetes Deployments"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Judge rendered manifests offline (e.g. `helm template . | gonogo check -f -`).
    Check(check::CheckArgs),
    /// Run the operator: evaluate DeploymentReadiness objects and gate their rollouts.
    Run(Box<run::RunArgs>),
    /// Sign off an approval gate for the target's current revision, as yourself.
    Approve(approve::ApproveArgs),
    /// Print the CustomResourceDefinitions as YAML (or write one file per CRD).
    Crds {
        /// Write `<plural>.gonogo.dev.yaml` files into this directory instead of printing.
        #[arg(long)]
        output_dir: Option<std::path::PathBuf>,
    },
}

pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Run(args) => run::run(*args),
        Command::Approve(args) => approve::run(args),
        Command::Crds { output_dir } => match crds(output_dir.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn crds(output_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    match output_dir {
        None => print!("{}", crate::api::crds_yaml()?),
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            for (file, yaml) in crate::api::crd_files()? {
                std::fs::write(dir.join(file), yaml)?;
            }
        }
    }
    Ok(())
}
