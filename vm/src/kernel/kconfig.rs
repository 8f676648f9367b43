//! A kernel `.config` read as data: `CONFIG_X=y`, `CONFIG_S="text"`, `# CONFIG_N is not set`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

#[derive(Debug, Clone, Default)]
pub struct KernelConfig {
    values: BTreeMap<String, String>,
}

impl KernelConfig {
    pub fn parse(text: &str) -> Self {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("CONFIG_") else {
                continue;
            };
            if let Some((k, v)) = rest.split_once('=') {
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .map(|v| v.replace("\\\"", "\"").replace("\\\\", "\\"))
                    .unwrap_or_else(|| v.to_string());
                values.insert(k.to_string(), v);
            }
        }
        Self { values }
    }

    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::parse(&text))
    }

    /// Value of `CONFIG_<name>`, without quotes.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn enabled(&self, name: &str) -> bool {
        matches!(self.get(name), Some("y") | Some("m"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_bools_and_unset() {
        let c = KernelConfig::parse(
            "# comment\nCONFIG_RUST=y\nCONFIG_CC_VERSION_TEXT=\"gcc-16 (Debian 16.2.0-4) 16.2.0\"\n\
             # CONFIG_KASAN is not set\nCONFIG_NF=m\n",
        );
        assert!(c.enabled("RUST") && c.enabled("NF") && !c.enabled("KASAN"));
        assert_eq!(
            c.get("CC_VERSION_TEXT"),
            Some("gcc-16 (Debian 16.2.0-4) 16.2.0")
        );
    }
}
