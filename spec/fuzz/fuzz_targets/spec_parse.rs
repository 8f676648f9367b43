//! The spec reader must turn any input into a spec or a positioned error, never a panic
//! (users' editors save half-written YAML all the time).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let known = ["ksock_hello".to_string(), "ksock_server".to_string()];
    match ksock_spec::parse_str(text, Path::new("fuzz.yaml"), &known) {
        Ok(spec) => {
            // Whatever parsed must be usable by the runner's accessors.
            let _ = spec.modules();
            let v = ksock_spec::KernelVersion { major: 7, minor: 2 };
            let _ = spec.dmesg_for(&v);
        }
        Err(e) => {
            // Errors always carry a position and render.
            assert!(e.line >= 1 || e.message.starts_with("cannot read"));
            let _ = e.to_string();
        }
    }
});
