//! `ksock-agent`: the guest agent as its own binary (what `cargo xtask` runs); see
//! `ksock_agent::cli` for its commands.

fn main() -> std::process::ExitCode {
    ksock_agent::cli::main(std::env::args().skip(1).collect())
}
