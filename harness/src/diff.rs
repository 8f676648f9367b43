//! Differential runs: the same specs with the Rust modules and with their C reference ports
//! must give the same observations (verdict, and what the modules logged).

use std::collections::BTreeMap;

use crate::judge::{Status, Verdict};

/// What a spec run is compared by: its verdict and the modules' own log lines, with what
/// legitimately differs between runs taken out (timestamps, ephemeral ports, the kernel's
/// taint notices).
pub fn observation(v: &Verdict) -> Vec<String> {
    let ts = regex::Regex::new(r"^\[\s*[0-9.]+\]\s*").expect("valid regex");
    let port = regex::Regex::new(r"(\d+\.\d+\.\d+\.\d+):(\d+)").expect("valid regex");
    let mut out = vec![format!("verdict {:?}", v.status)];
    for l in &v.dmesg {
        let l = ts.replace(l, "");
        let ours = l.starts_with("ksock_");
        let notice = l.contains("loading out-of-tree module taints kernel")
            || l.contains("module verification failed");
        if !ours || notice {
            continue;
        }
        let l = port.replace_all(&l, |c: &regex::Captures| {
            let p: u32 = c[2].parse().unwrap_or(0);
            if p >= 32768 {
                format!("{}:<ephemeral>", &c[1])
            } else {
                c[0].to_string()
            }
        });
        out.push(l.into_owned());
    }
    out
}

/// One spec whose observations differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub spec: String,
    pub only_left: Vec<String>,
    pub only_right: Vec<String>,
}

/// Specs (present in both runs) whose observations differ, in spec order.
pub fn compare(left: &[Verdict], right: &[Verdict]) -> Vec<Difference> {
    let r: BTreeMap<&str, &Verdict> = right.iter().map(|v| (v.spec.as_str(), v)).collect();
    let mut out = Vec::new();
    for l in left {
        let Some(rv) = r.get(l.spec.as_str()) else {
            continue;
        };
        if l.status == Status::Skip && rv.status == Status::Skip {
            continue;
        }
        let (a, b) = (observation(l), observation(rv));
        if a != b {
            out.push(Difference {
                spec: l.spec.clone(),
                only_left: a.iter().filter(|x| !b.contains(x)).cloned().collect(),
                only_right: b.iter().filter(|x| !a.contains(x)).cloned().collect(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(status: Status, lines: &[&str]) -> Verdict {
        Verdict {
            spec: "s".into(),
            kernel: "7.2".into(),
            release: "r".into(),
            flavour: "rust".into(),
            status,
            duration_ms: 0,
            failure: None,
            note: String::new(),
            dmesg: lines.iter().map(|s| s.to_string()).collect(),
            stage: Default::default(),
        }
    }

    #[test]
    fn timestamps_ephemeral_ports_and_taint_notices_do_not_count() {
        let a = v(
            Status::Pass,
            &[
                "[    6.1] ksock_server: loading out-of-tree module taints kernel.",
                "[    6.2] ksock_server: accepted peer=127.0.0.1:40312",
                "[    6.3] virtio_net: unrelated",
                "[    6.4] ksock_client: connected peer=127.0.0.1:9000",
            ],
        );
        let b = v(
            Status::Pass,
            &[
                "[   17.9] ksock_server: accepted peer=127.0.0.1:51000",
                "[   18.0] ksock_client: connected peer=127.0.0.1:9000",
            ],
        );
        assert!(compare(&[a], &[b]).is_empty());
    }

    #[test]
    fn a_different_line_or_verdict_is_a_difference() {
        let a = v(
            Status::Pass,
            &["[1.0] ksock_sockopt: get optname=128 len=21"],
        );
        let b = v(
            Status::Pass,
            &["[1.0] ksock_sockopt: get optname=128 len=22"],
        );
        let d = compare(std::slice::from_ref(&a), &[b]);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].only_left,
            vec!["ksock_sockopt: get optname=128 len=21"]
        );
        let c = v(
            Status::Fail,
            &["[1.0] ksock_sockopt: get optname=128 len=21"],
        );
        assert_eq!(compare(&[a], &[c]).len(), 1);
        // A fixed port (below the ephemeral range) is part of the observation.
        let p1 = v(
            Status::Pass,
            &["[1] ksock_client: connected peer=127.0.0.1:9000"],
        );
        let p2 = v(
            Status::Pass,
            &["[1] ksock_client: connected peer=127.0.0.1:9001"],
        );
        assert_eq!(compare(&[p1], &[p2]).len(), 1);
    }
}
