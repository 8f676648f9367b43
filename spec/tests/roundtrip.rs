//! Specs can be written as well as read: every shipped spec, written with `to_yaml`, reads
//! back equal, and what is written is the minimal YAML (defaults left out).

use std::path::Path;

mod common;

#[test]
fn every_shipped_spec_reads_back_equal_after_writing() {
    let known = common::kmods_names();
    let files = common::shipped_specs();
    assert!(
        files
            .iter()
            .any(|p| p
                .starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/regressions"))),
        "the regression specs are among {files:?}"
    );
    for p in &files {
        let spec = ksock_spec::load_file(p, &known).unwrap_or_else(|e| panic!("{e}"));
        let yaml = ksock_spec::to_yaml(&spec);
        let back = ksock_spec::parse_str(&yaml, p, &known)
            .unwrap_or_else(|e| panic!("{}: written spec does not read: {e}\n{yaml}", p.display()));
        assert_eq!(spec, back, "{}: written as\n{yaml}", p.display());
        // Written again, the same text: writing is deterministic.
        assert_eq!(yaml, ksock_spec::to_yaml(&back), "{}", p.display());
    }
}

fn read(yaml: &str) -> ksock_spec::Spec {
    let known = ["ksock_hello".to_string(), "ksock_server".to_string()];
    ksock_spec::parse_str(yaml, Path::new("w.yaml"), &known).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn defaults_are_left_out_and_the_rest_is_kept() {
    let spec = read(
        "description: says hello\n\
         kernels: '>= 5.10, < 7.3'\n\
         steps:\n\
         \x20 - load: {module: ksock_hello, params: {}, expect_error: null}\n\
         \x20 - wait_dmesg: {pattern: 'hello\\b', timeout_ms: 5000}\n\
         \x20 - sleep: 10\n\
         \x20 - unload: ksock_hello\n\
         \x20 - load: {module: ksock_server, params: {port: 9100, echo: true, tag: '7'}}\n\
         \x20 - client: {addr: 127.0.0.1, port: 9100, messages: [], timeout_ms: 5000, abort: false}\n\
         \x20 - server: {name: s, port: 9101, accept: 1, backlog: 16, hold_ms: 5}\n\
         \x20 - join: s\n\
         \x20 - sockets: {port: 9100, listening: true, timeout_ms: 3000}\n\
         expect:\n\
         \x20 dmesg: []\n\
         \x20 absent: ['oops']\n",
    );
    assert_eq!(
        ksock_spec::to_yaml(&spec),
        "description: says hello\n\
         kernels: '>= 5.10, < 7.3'\n\
         steps:\n\
         - load:\n    module: ksock_hello\n\
         - wait_dmesg:\n    pattern: hello\\b\n\
         - sleep: 10\n\
         - unload: ksock_hello\n\
         - load:\n    module: ksock_server\n    params:\n      echo: true\n      port: 9100\n      tag: '7'\n\
         - client:\n    port: 9100\n\
         - server:\n    name: s\n    port: 9101\n    hold_ms: 5\n\
         - join: s\n\
         - sockets:\n    port: 9100\n    listening: true\n\
         expect:\n  absent:\n  - oops\n"
    );
}

#[test]
fn messages_are_written_the_shortest_way_that_reads_back_the_same_bytes() {
    let spec = read(
        "steps:\n\
         \x20 - load: {module: ksock_server}\n\
         \x20 - client: {port: 1, messages: ['', hi, {hex: '2b', times: 100}, {hex: '00ff'}, {hex: '00'}]}\n\
         \x20 - unload: ksock_server\n",
    );
    let yaml = ksock_spec::to_yaml(&spec);
    assert!(
        yaml.contains(
            "    messages:\n    - ''\n    - hi\n    - hex: 2b\n      times: 100\n    - hex: 00ff\n    - hex: '00'\n"
        ),
        "{yaml}"
    );
    assert_eq!(read(&yaml), spec);
}

#[test]
fn constructors_give_what_the_reader_gives_for_the_fields_left_out() {
    use ksock_spec::{Client, Load, Pattern, Server, Sockopt, Step, WaitDmesg};
    let spec = read(
        "steps:\n\
         \x20 - server: {name: s, port: 2}\n\
         \x20 - load: {module: ksock_hello}\n\
         \x20 - wait_dmesg: {pattern: hi}\n\
         \x20 - client: {port: 2}\n\
         \x20 - join: s\n\
         \x20 - sockopt: {optname: 7, get_len: 1}\n",
    );
    let want = [
        Step::Server(Server::new("s", 2)),
        Step::Load(Load::new("ksock_hello")),
        Step::WaitDmesg(WaitDmesg::new(Pattern::new("hi").unwrap())),
        Step::Client(Client::new(2)),
        Step::Join("s".into()),
        Step::Sockopt(Sockopt {
            get_len: Some(1),
            ..Sockopt::new(7)
        }),
    ];
    assert_eq!(spec.steps, want);
}
