// SPDX-License-Identifier: GPL-2.0

//! ksock_crash: takes the kernel down on purpose, so ksock's own tests can prove that a
//! crashing or hanging spec fails alone, with its real cause named, and the specs after it
//! still run on a fresh boot.
//!
//! `crash=0` (the default) only logs `ksock_crash: armed=0`; `1` panics (a Rust panic),
//! `2` oopses (a NULL pointer read), `3` hangs in init (sleeps forever, interruptibly by no
//! one: `finit_module` never returns).

use kernel::prelude::*;

module! {
    type: KsockCrash,
    name: "ksock_crash",
    authors: ["ksock developers"],
    description: "ksock self-test: panics, oopses or hangs in init",
    license: "GPL",
    params: {
        crash: i64 {
            default: 0,
            description: "1: panic, 2: oops (NULL dereference), 3: hang, while loading",
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
        match crash {
            // A Rust panic in the kernel is a BUG(): an oops, which the guest's `oops=panic`
            // turns into a kernel panic.
            1 => panic!("ksock_crash: deliberate panic"),
            2 => {
                let null = core::ptr::null::<u64>();
                // SAFETY: not sound, on purpose: reading address 0 faults, and the kernel
                // reports "BUG: kernel NULL pointer dereference" and oopses. That is the
                // behaviour under test.
                let v = unsafe { core::ptr::read_volatile(null) };
                pr_info!("unreachable: {}\n", v);
            }
            3 => loop {
                // SAFETY: msleep may sleep; module init runs in process context.
                unsafe { kernel::bindings::msleep(1000) };
            },
            _ => {}
        }
        Ok(KsockCrash)
    }
}
