//! The published JSON Schema (specs/ksock-spec.schema.json) is generated from the Rust types
//! and must match them; `cargo xtask schema` regenerates it.

use std::path::Path;

#[test]
fn committed_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/ksock-spec.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == ksock_spec::json_schema(),
        "{} is stale: run `cargo xtask schema`",
        path.display()
    );
}

#[test]
fn schema_describes_the_step_forms_and_rejects_unknown_keys() {
    let v: serde_json::Value = serde_json::from_str(&ksock_spec::json_schema()).unwrap();
    let text = v.to_string();
    for step in [
        "load",
        "unload",
        "wait_dmesg",
        "sleep",
        "client",
        "server",
        "join",
        "sockopt",
        "sockets",
    ] {
        assert!(
            text.contains(&format!("\"{step}\"")),
            "step {step} missing from the schema"
        );
    }
    assert_eq!(v["additionalProperties"], serde_json::Value::Bool(false));
    assert!(v["required"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "steps"));
}
