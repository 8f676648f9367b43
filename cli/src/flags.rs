//! Flags shared by `ksock` and `cargo xtask` (clap types; each command's help text is on
//! its subcommand variant).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ksock_vm::boot::Accel;
use ksock_vm::kernel::Flavour;

#[derive(Clone, Copy, ValueEnum)]
pub enum AccelArg {
    /// KVM if a probe boot works on this host (cached), else TCG.
    Auto,
    Kvm,
    Tcg,
}

impl AccelArg {
    /// `None`: probe (see `ksock_vm::boot`).
    pub fn get(self) -> Option<Accel> {
        match self {
            AccelArg::Auto => None,
            AccelArg::Kvm => Some(Accel::Kvm),
            AccelArg::Tcg => Some(Accel::Tcg),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FlavourArg {
    /// Rust modules where the kernel has Rust, else the C reference ports.
    Auto,
    Rust,
    C,
}

impl FlavourArg {
    pub fn get(self) -> Option<Flavour> {
        match self {
            FlavourArg::Auto => None,
            FlavourArg::Rust => Some(Flavour::Rust),
            FlavourArg::C => Some(Flavour::C),
        }
    }
}

// The flags of `ksock run` (its help text is on its `Cmd` variant).
#[derive(Args)]
pub struct RunArgs {
    /// Catalog kernel(s) to run on (repeatable); default: the project's `kernels`
    /// (ksock.toml), else the catalog's default.
    #[arg(long = "kernel", short, conflicts_with = "kernel_image")]
    pub kernels: Vec<String>,
    /// Your own kernel instead of a catalog one: its image (a bzImage / vmlinuz)...
    #[arg(long, value_name = "PATH", requires = "kernel_build")]
    pub kernel_image: Option<PathBuf>,
    /// ...and what modules build against: an unpacked Debian kernel (`dpkg -x` of its
    /// linux-image, linux-headers and linux-kbuild packages) or a built kernel tree.
    #[arg(long, value_name = "DIR", requires = "kernel_image")]
    pub kernel_build: Option<PathBuf>,
    /// With --kernel-image: the toolchain root to build in (`bookworm-c`, `sid`, …);
    /// default: the first of ksock's roots whose compilers match the kernel's.
    #[arg(long, value_name = "NAME", requires = "kernel_image")]
    pub root: Option<String>,
    /// How the guest CPU is provided.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
    /// Which module sources to build: Rust (kmods/<mod>) or the C ports (kmods/c/<mod>).
    #[arg(long, value_enum, default_value = "auto")]
    pub flavour: FlavourArg,
    /// Write the verdicts as JSON (round-trips through ksock_harness::report::Report).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the verdicts as JUnit XML, for CI systems.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Only these specs (file names without .yaml); default: all.
    pub specs: Vec<String>,
}

// The flags of `ksock diff` (its help text is on its `Cmd` variant).
#[derive(Args)]
pub struct DiffArgs {
    #[arg(long = "kernel", short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
    pub kernel: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
    /// Only these specs; default: all.
    pub specs: Vec<String>,
}

// The flags of `ksock watch` (its help text is on its `Cmd` variant).
#[derive(Args)]
pub struct WatchArgs {
    #[arg(long = "kernel", short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
    pub kernel: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
    #[arg(long, value_enum, default_value = "auto")]
    pub flavour: FlavourArg,
    /// Only these specs (names or files); default: all.
    pub specs: Vec<String>,
}

// The flags of `ksock repro` (its help text is on its `Cmd` variant).
#[derive(Args)]
pub struct ReproArgs {
    /// A finding directory or a spec file.
    pub what: PathBuf,
    /// Where to write the spec made from a finding.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `all` (the catalog) or kernel names, comma-separated.
    #[arg(long = "kernel", short, default_value = "all", value_delimiter = ',')]
    pub kernels: Vec<String>,
    /// Runs per kernel and flavour (reliability: "reproduces 5/5").
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Name where, in version order, the outcome changes (runs every catalog kernel).
    #[arg(long)]
    pub bisect: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
}

// The flags of `ksock prepare` (its help text is on its `Cmd` variant).
#[derive(Args)]
pub struct PrepareArgs {
    #[arg(long = "kernel", short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
    pub kernels: Vec<String>,
    /// Toolchain root to use: a kernel (`7.3`) or suite (`trixie`, `sid`).
    #[arg(long)]
    pub root: Option<String>,
}

// The flags of `ksock fuzz` (its help text is on its `Cmd` variant); `cargo xtask fuzz`
// takes the same.
#[derive(Args, Clone)]
pub struct FuzzArgs {
    /// Fuzz targets: the `name`s of ksock.toml's [[fuzz]] tables; default: every one, one
    /// after another.
    pub names: Vec<String>,
    /// Fuzzing time in seconds per target (boots not counted).
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Catalog kernel; default: the project's first `kernels` entry, else the catalog's
    /// default.
    #[arg(long, short)]
    pub kernel: Option<String>,
    /// Module flavour; default: Rust where the kernel has Rust and every module of the
    /// target is written in Rust, else C.
    #[arg(long, value_enum, default_value = "auto")]
    pub flavour: FlavourArg,
    /// Guests fuzzing in parallel, sharing one corpus.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// A `NAME=VALUE` added to every module's parameters for this campaign (repeatable):
    /// `--param seed_bugs=1`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Instead of fuzzing, merge these corpus directories (other shards' or machines') into
    /// this kernel's corpus with libFuzzer's -merge=1 in a guest: only inputs that add
    /// coverage are kept. Repeatable. How CI shards combine.
    #[arg(long, value_name = "DIR")]
    pub merge: Vec<PathBuf>,
    /// Instead of fuzzing, write each target's coverage page again from its last campaign
    /// (coverage.html beside its corpus, and coverage-lines.json); no guest is booted.
    #[arg(long, conflicts_with = "merge")]
    pub report: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
}
