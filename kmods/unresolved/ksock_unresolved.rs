// SPDX-License-Identifier: GPL-2.0

//! ksock_unresolved: refers to a symbol that no kernel exports, so that loading it fails
//! the way a module built against the wrong kernel does ("Unknown symbol", ENOENT). ksock's
//! own tests use it to prove that a failed load is reported with its real cause.

use kernel::prelude::*;

module! {
    type: KsockUnresolved,
    name: "ksock_unresolved",
    authors: ["ksock developers"],
    description: "ksock self-test: depends on a symbol no kernel exports",
    license: "GPL",
}

extern "C" {
    /// Exported by no kernel: the loader refuses the module before `init` runs.
    fn ksock_no_such_symbol() -> i32;
}

struct KsockUnresolved;

impl kernel::Module for KsockUnresolved {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: never executed (the module cannot be loaded); the declaration matches the
        // signature this self-test invents.
        let v = unsafe { ksock_no_such_symbol() };
        pr_info!("unreachable: {}\n", v);
        Ok(KsockUnresolved)
    }
}
