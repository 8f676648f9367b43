//! The only place that touches serde_yaml: reading specs strictly, and writing them.

use std::path::Path;

use crate::model::Spec;
use crate::validate::{validate, SpecError};

/// Reads and checks one spec file. `known_modules` are the module names kmods/ provides.
pub fn load_file(path: &Path, known_modules: &[String]) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        message: format!("cannot read: {e}"),
        hint: None,
    })?;
    parse_str(&text, path, known_modules)
}

/// Parses spec text that came from `file` (used for names and error positions).
pub fn parse_str(text: &str, file: &Path, known_modules: &[String]) -> Result<Spec, SpecError> {
    // Steps are written as one-key maps (`- load: {…}`), not YAML tags (`- !load {…}`).
    let de = serde_yaml::Deserializer::from_str(text);
    let parsed: Result<Spec, _> = serde_yaml::with::singleton_map_recursive::deserialize(de);
    let mut spec: Spec = parsed.map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let mut message = e.to_string();
        // serde_yaml appends " at line L column C"; we print the position in front instead.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let hint = hint_for(&message);
        SpecError {
            file: file.to_path_buf(),
            line,
            col,
            message,
            hint,
        }
    })?;
    spec.name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("spec")
        .to_string();
    validate(&spec, text, file, known_modules)?;
    Ok(spec)
}

/// A spec as YAML, minimal (fields at their defaults left out) and readable back with
/// [`parse_str`] into an equal spec. Steps are one-key maps, as people write them.
pub fn to_yaml(spec: &Spec) -> String {
    let mut out = Vec::new();
    let mut ser = serde_yaml::Serializer::new(&mut out);
    serde_yaml::with::singleton_map_recursive::serialize(spec, &mut ser)
        .expect("a spec has string keys only, so it always serialises");
    String::from_utf8(out).expect("serde_yaml writes UTF-8")
}

fn hint_for(message: &str) -> Option<String> {
    let h = if message.contains("unknown variant") {
        "a step is a one-key map: `- load: {module: NAME, params: {…}}`, `- unload: NAME`, \
         `- wait_dmesg: {pattern: REGEX}`, `- sleep: MS`"
    } else if message.contains("unknown field") {
        "check the spelling; the accepted keys are listed above"
    } else if message.contains("missing field `steps`") || message.contains("EOF") {
        "a spec needs at least `steps:` with one step"
    } else if message.contains("invalid type") {
        "check the value's type (numbers unquoted, lists with `- `, maps with `key: value`)"
    } else if message.contains("regular expression") {
        "patterns are Rust regexes: escape `(`, `[`, `.` and `+` with a backslash"
    } else {
        return None;
    };
    Some(h.to_string())
}
