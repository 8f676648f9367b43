// SPDX-License-Identifier: GPL-2.0

//! Module-parameter helpers shared by ksock's Rust modules (included with `#[path]`).

use kernel::prelude::*;

/// The value of integer parameter `$name` of the including module. The kernel crate changed
/// `value()` from returning `&T` (7.2) to `T` (7.3); ksock passes the detected form as the
/// `ksock_param_value_by_copy` cfg.
macro_rules! param {
    ($name:ident) => {{
        #[cfg(ksock_param_value_by_copy)]
        let v = module_parameters::$name.value();
        #[cfg(not(ksock_param_value_by_copy))]
        let v = *module_parameters::$name.value();
        v
    }};
}
pub(crate) use param;

/// Checks an integer parameter's range, logging the line every ksock module uses when it is
/// off: `invalid parameter NAME=V (want LO..=HI)`.
pub(crate) fn ranged(name: &str, v: i64, lo: i64, hi: i64) -> Result<i64> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        pr_err!("invalid parameter {}={} (want {}..={})\n", name, v, lo, hi);
        Err(EINVAL)
    }
}
