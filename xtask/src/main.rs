use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Prepare {
        #[arg(long = "kernel", default_value = "7.2")]
        kernels: Vec<String>,
        #[arg(long)]
        root: Option<String>,
    },
}

fn main() -> Result<()> {
    ksock_vm::supervise::install_interrupt_handler();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Prepare { kernels, root } => {
            let cache = ksock_vm::Cache::from_env()?;
            for k in kernels {
                let p = ksock_vm::kernel::prepare(
                    &cache,
                    &k,
                    &ksock_vm::kernel::PrepareOptions { root: root.clone() },
                )?;
                println!("{} ready: {} tree={:?}", k, p.release, p.tree);
            }
        }
    }
    Ok(())
}
