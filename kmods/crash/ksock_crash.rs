// SPDX-License-Identifier: GPL-2.0

//! ksock_crash: takes the kernel down on purpose, so ksock's own tests can prove that a
//! crashing spec fails alone and the specs after it still run on a fresh boot.
//!
//! With `crash=0` (the default) it only logs `ksock_crash: armed=0`.

use kernel::prelude::*;

module! {
    type: KsockCrash,
    name: "ksock_crash",
    authors: ["ksock developers"],
    description: "ksock self-test: panics in init when crash=1",
    license: "GPL",
    params: {
        crash: i64 {
            default: 0,
            description: "1: panic while loading (for testing crash recovery)",
        },
    },
}

struct KsockCrash;

impl kernel::Module for KsockCrash {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        #[cfg(ksock_param_value_by_copy)]
        let crash = module_parameters::crash.value();
        #[cfg(not(ksock_param_value_by_copy))]
        let crash = *module_parameters::crash.value();
        pr_info!("armed={}\n", crash);
        if crash == 1 {
            // A Rust panic in the kernel is a BUG(): an oops, which the guest's `oops=panic`
            // turns into a kernel panic.
            panic!("ksock_crash: deliberate panic");
        }
        Ok(KsockCrash)
    }
}
