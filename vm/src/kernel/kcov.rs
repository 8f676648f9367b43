//! Coverage instrumentation for module builds: the flags the kernel's kcov would add.

use crate::kernel::compat::Flags;

/// What instruments a module for `PreparedKernel::build_module_with`: the flags the
/// kernel's own `scripts/Makefile.kcov` would add under `CONFIG_KCOV` (the Rust ones from
/// the "kcov: rust" patch), given on the command line because Debian's kernels do not set
/// it. `KCFLAGS`/`KRUSTFLAGS` reach only the module's own objects: the kernel crate is
/// prebuilt and stays uninstrumented.
pub fn coverage_flags(runtime_symvers: &str) -> Flags {
    Flags {
        cflags: vec!["-fsanitize-coverage=trace-pc".into()],
        rustflags: [
            "-Cpasses=sancov-module",
            "-Cllvm-args=-sanitizer-coverage-level=3",
            "-Cllvm-args=-sanitizer-coverage-trace-pc",
        ]
        .map(String::from)
        .to_vec(),
        args: vec![format!("KBUILD_EXTRA_SYMBOLS={runtime_symvers}")],
    }
}
