//! Debian's archive, reached through a private apt configuration per suite set.
//!
//! Invariants: the host's apt sources are only *read* (to find the mirror the machine
//! already uses); nothing is added to them. The mirror can be overridden with
//! `KSOCK_DEBIAN_MIRROR`. Suites are passed by name.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use xshell::{cmd, Shell};

use crate::host::hash::fnv1a;
use crate::host::install::KEYRING;
use crate::Error;

/// The Debian mirror: `$KSOCK_DEBIAN_MIRROR`, else the first Debian archive (not
/// -security) found in the host's apt sources.
pub fn mirror() -> Result<String, Error> {
    if let Ok(m) = std::env::var("KSOCK_DEBIAN_MIRROR") {
        if !m.trim().is_empty() {
            return Ok(m.trim().trim_end_matches('/').to_string());
        }
    }
    let mut texts = Vec::new();
    for f in ["/etc/apt/sources.list"] {
        if let Ok(t) = std::fs::read_to_string(f) {
            texts.push((f.to_string(), t));
        }
    }
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext_ok = matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("list") | Some("sources")
            );
            if ext_ok {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    texts.push((p.display().to_string(), t));
                }
            }
        }
    }
    for (name, text) in &texts {
        let found = if name.ends_with(".sources") {
            mirror_from_deb822(text)
        } else {
            mirror_from_one_line(text)
        };
        if let Some(m) = found {
            return Ok(m);
        }
    }
    Err(Error::Config(
        "no Debian mirror found in /etc/apt/sources.list{,.d}; set KSOCK_DEBIAN_MIRROR to the \
         archive's base URL (the one that has dists/sid)"
            .into(),
    ))
}

fn is_debian_archive(uri: &str, suites: &[&str]) -> bool {
    let uri = uri.trim_end_matches('/');
    uri.ends_with("/debian")
        && suites
            .iter()
            .any(|s| !s.ends_with("-security") && !s.contains('/'))
}

/// One-line format: `deb [opts] URI suite comp…`.
pub fn mirror_from_one_line(text: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        if is_debian_archive(uri, &[suite]) {
            return Some(uri.trim_end_matches('/').to_string());
        }
    }
    None
}

/// deb822 format (`*.sources`): stanzas of `Types:`, `URIs:`, `Suites:`.
pub fn mirror_from_deb822(text: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let mut types = "";
        let mut uris = "";
        let mut suites = "";
        let mut enabled = true;
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "types" => types = v.trim(),
                    "uris" => uris = v.trim(),
                    "suites" => suites = v.trim(),
                    "enabled" => enabled = v.trim() != "no",
                    _ => {}
                }
            }
        }
        if !enabled || !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        let suites: Vec<&str> = suites.split_whitespace().collect();
        for uri in uris.split_whitespace() {
            if is_debian_archive(uri, &suites) {
                return Some(uri.trim_end_matches('/').to_string());
            }
        }
    }
    None
}

/// A private apt state (lists, archives, config) for a fixed set of suites.
#[derive(Debug, Clone)]
pub struct AptEnv {
    dir: PathBuf,
    pub mirror: String,
    pub suites: Vec<String>,
}

impl AptEnv {
    /// Creates (or reuses) the apt state under `dir`. Lists are refreshed when older than a day.
    pub fn open(dir: &Path, mirror: &str, suites: &[&str]) -> Result<Self, Error> {
        let env = Self {
            dir: dir.to_path_buf(),
            mirror: mirror.to_string(),
            suites: suites.iter().map(|s| s.to_string()).collect(),
        };
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "lists/partial",
            "archives/partial",
        ] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        let status = dir.join("status");
        if !status.exists() {
            std::fs::write(&status, "").map_err(|e| Error::io(&status, e))?;
        }
        let sources: String = suites
            .iter()
            .map(|s| format!("deb [signed-by={KEYRING}] {mirror} {s} main\n"))
            .collect();
        write_if_changed(&dir.join("etc/apt/sources.list"), &sources)?;
        let d = dir.display();
        let conf = format!(
            "Dir \"{d}/\";\nDir::Etc \"{d}/etc/apt\";\nDir::State::Lists \"{d}/lists\";\n\
             Dir::State::status \"{d}/status\";\nDir::Cache::Archives \"{d}/archives\";\n\
             Dir::Cache \"{d}/cache\";\nAPT::Architecture \"amd64\";\n\
             Acquire::Check-Valid-Until \"false\";\nAcquire::Languages \"none\";\n\
             APT::Sandbox::User \"root\";\n"
        );
        write_if_changed(&dir.join("apt.conf"), &conf)?;
        let fresh = std::fs::metadata(dir.join("lists/.updated"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < Duration::from_secs(24 * 3600));
        if !fresh {
            env.run(&["apt-get", "-q", "update"])?;
            let m = dir.join("lists/.updated");
            std::fs::write(&m, "").map_err(|e| Error::io(&m, e))?;
        }
        Ok(env)
    }

    fn sh(&self) -> Result<Shell, Error> {
        let sh = Shell::new().map_err(|e| Error::Config(e.to_string()))?;
        sh.set_var("APT_CONFIG", self.dir.join("apt.conf"));
        sh.set_var("LC_ALL", "C");
        Ok(sh)
    }

    fn run(&self, args: &[&str]) -> Result<String, Error> {
        let sh = self.sh()?;
        let (prog, rest) = args.split_first().expect("a command");
        cmd!(sh, "{prog} {rest...}")
            .quiet()
            .ignore_stderr()
            .read()
            .map_err(|e| Error::Command {
                what: format!("{} (apt suites {})", args.join(" "), self.suites.join(",")),
                detail: e.to_string(),
            })
    }

    /// Package names matching a POSIX regex, as `apt-cache search --names-only` gives them.
    pub fn names_matching(&self, re: &str) -> Result<Vec<String>, Error> {
        // apt-cache reads every Packages index (0.7 s on sid): keep the answer until the
        // lists are next refreshed (their `.updated` marker changes).
        let updated = std::fs::metadata(self.dir.join("lists/.updated"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string());
        let memo = self
            .dir
            .join(format!("lists/.search-{:016x}", fnv1a(re.as_bytes())));
        let cached = std::fs::read_to_string(&memo).ok().and_then(|t| {
            let (stamp, body) = t.split_once('\n')?;
            (Some(stamp) == updated.as_deref()).then(|| body.to_string())
        });
        let out = match cached {
            Some(out) => out,
            None => {
                let out = self.run(&["apt-cache", "search", "--names-only", re])?;
                if let Some(stamp) = &updated {
                    // Best effort: a memo that cannot be written is only a slower next run.
                    let _ = std::fs::write(&memo, format!("{stamp}\n{out}"));
                }
                out
            }
        };
        Ok(out
            .lines()
            .filter_map(|l| l.split(" - ").next())
            .map(|s| s.trim().to_string())
            .collect())
    }

    /// The version apt would install.
    pub fn candidate(&self, pkg: &str) -> Result<String, Error> {
        let out = self.run(&["apt-cache", "policy", pkg])?;
        out.lines()
            .find_map(|l| l.trim().strip_prefix("Candidate:"))
            .map(|v| v.trim().to_string())
            .filter(|v| v != "(none)")
            .ok_or_else(|| Error::NotInArchive {
                package: pkg.to_string(),
                suites: self.suites.join(","),
            })
    }

    /// Names of the direct dependencies of `pkg`.
    pub fn depends(&self, pkg: &str) -> Result<Vec<String>, Error> {
        let out = self.run(&["apt-cache", "show", "--no-all-versions", pkg])?;
        let deps = out
            .lines()
            .find_map(|l| l.strip_prefix("Depends:"))
            .unwrap_or("");
        // Only the first alternative of each `a | b` group.
        Ok(deps
            .split(',')
            .filter_map(|d| d.split('|').next())
            .filter_map(|d| d.split_whitespace().next())
            .map(str::to_string)
            .collect())
    }

    /// Downloads the candidate `.deb`s of `pkgs` into `dest` and returns their paths.
    pub fn download(&self, pkgs: &[String], dest: &Path) -> Result<Vec<PathBuf>, Error> {
        std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
        let sh = self.sh()?;
        sh.change_dir(dest);
        cmd!(sh, "apt-get -q download {pkgs...}")
            .quiet()
            .ignore_stdout()
            .run()
            .map_err(|e| Error::Command {
                what: format!("apt-get download {}", pkgs.join(" ")),
                detail: e.to_string(),
            })?;
        let mut out = Vec::new();
        for p in pkgs {
            let prefix = format!("{}_", p);
            let found = std::fs::read_dir(dest)
                .map_err(|e| Error::io(dest, e))?
                .flatten()
                .map(|e| e.path())
                .find(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
                })
                .ok_or_else(|| Error::NotInArchive {
                    package: p.clone(),
                    suites: self.suites.join(","),
                })?;
            out.push(found);
        }
        Ok(out)
    }
}

/// Unpacks a `.deb`'s data into `dest` (no maintainer scripts run).
pub fn extract_deb(deb: &Path, dest: &Path) -> Result<(), Error> {
    let sh = Shell::new().map_err(|e| Error::Config(e.to_string()))?;
    cmd!(sh, "dpkg-deb -x {deb} {dest}")
        .quiet()
        .run()
        .map_err(|e| Error::Command {
            what: format!("dpkg-deb -x {}", deb.display()),
            detail: e.to_string(),
        })
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_skips_security_and_disabled() {
        let text = "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\n\
                    Components: main\n\nTypes: deb\nURIs: http://off.test/debian\nSuites: bookworm\n\
                    Enabled: no\n\nTypes: deb deb-src\n# comment\nURIs: http://mirror.test/debian/\n\
                    Suites: bookworm bookworm-updates\nComponents: main\n";
        assert_eq!(
            mirror_from_deb822(text).as_deref(),
            Some("http://mirror.test/debian")
        );
    }

    #[test]
    fn one_line_with_options() {
        let text = "# deb http://old.test/debian buster main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://mirror.test/debian bookworm main\n";
        assert_eq!(
            mirror_from_one_line(text).as_deref(),
            Some("http://mirror.test/debian")
        );
        assert_eq!(
            mirror_from_one_line("deb http://x.test/ubuntu jammy main"),
            None
        );
    }
}
