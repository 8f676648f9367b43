// SPDX-License-Identifier: GPL-2.0

//! ksock_hello: the smallest module the pipeline proves itself with.
//!
//! It logs one structured line per event so specs can match them:
//! `ksock_hello: loaded count=N`, then `ksock_hello: hello i/N` for each i, and
//! `ksock_hello: unloaded count=N` on rmmod.

use kernel::prelude::*;

module! {
    type: KsockHello,
    name: "ksock_hello",
    authors: ["ksock developers"],
    description: "ksock pipeline check: logs a greeting `count` times",
    license: "GPL",
    params: {
        count: i64 {
            default: 1,
            description: "How many greeting lines to log at load (1..=16)",
        },
    },
}

struct KsockHello {
    count: i64,
}

impl kernel::Module for KsockHello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // The kernel crate changed `value()` from `&T` (7.2) to `T` (7.3); the build passes
        // the detected form as a cfg.
        #[cfg(ksock_param_value_by_copy)]
        let count = module_parameters::count.value();
        #[cfg(not(ksock_param_value_by_copy))]
        let count = *module_parameters::count.value();
        if !(1..=16).contains(&count) {
            pr_err!("invalid parameter count={} (want 1..=16)\n", count);
            return Err(EINVAL);
        }
        pr_info!("loaded count={}\n", count);
        for i in 1..=count {
            pr_info!("hello {}/{}\n", i, count);
        }
        Ok(KsockHello { count })
    }
}

impl Drop for KsockHello {
    fn drop(&mut self) {
        pr_info!("unloaded count={}\n", self.count);
    }
}
