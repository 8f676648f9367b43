//! ksock's own kernel-side runtime for the module under test: `ksock_cov`, the coverage
//! runtime (its C source in `kmods/c/cov/`, compiled into this program so an installed
//! `ksock` can build it for any project's campaign).

use std::path::PathBuf;

use anyhow::{Context, Result};
use ksock_vm::Cache;

use crate::project::Project;

/// The coverage runtime module's name.
pub const COVERAGE: &str = "ksock_cov";

/// Its sources, as files of a module directory.
const COVERAGE_FILES: &[(&str, &str)] = &[
    ("Kbuild", include_str!("../../kmods/c/cov/Kbuild")),
    ("ksock_cov.c", include_str!("../../kmods/c/cov/ksock_cov.c")),
];

/// The directory to build the coverage runtime from: the project's own `ksock_cov` (this
/// repository), else the copy compiled into ksock, written once into the cache under a
/// name that carries its content's hash.
pub fn coverage_source(cache: &Cache, project: &Project) -> Result<PathBuf> {
    if let Some(dir) = project.modules.get(COVERAGE).and_then(|s| s.c.clone()) {
        return Ok(dir);
    }
    let all: Vec<u8> = COVERAGE_FILES
        .iter()
        .flat_map(|(n, t)| [n.as_bytes(), t.as_bytes()].concat())
        .collect();
    // Module builds name their cache entry after the source directory: `ksock_cov`.
    let kind = format!("runtime-src/{:016x}", ksock_vm::kernel::fnv1a(&all));
    cache
        .get_or_build(&kind, COVERAGE, |out| {
            for (file, text) in COVERAGE_FILES {
                let p = out.join(file);
                std::fs::write(&p, text).map_err(|e| ksock_vm::Error::io(&p, e))?;
            }
            Ok(())
        })
        .context("writing the coverage runtime's sources into the cache")
}
