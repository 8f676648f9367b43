//! Errno names ⇄ values: the one table behind the spec reader (`expect_error: EINVAL`), its
//! JSON Schema and the agent's reports. The table is nix's (`nix::errno::Errno`), which
//! mirrors the C library's, so a name means what `errno.h` says on the machine that runs
//! the guest's userspace (Linux x86-64).

use nix::errno::Errno;

/// Linux errno values run from 1 to `EHWPOISON` (133).
const LAST: i32 = Errno::EHWPOISON as i32;

/// The name of errno `v` (`EINVAL`), or `errnoN` for a value with no name.
pub fn name(v: i32) -> String {
    match Errno::from_raw(v) {
        Errno::UnknownErrno => format!("errno{v}"),
        e => format!("{e:?}"),
    }
}

/// The value of an errno name (`EINVAL` → 22); aliases such as `EWOULDBLOCK` included.
pub fn by_name(n: &str) -> Option<i32> {
    match n {
        "EWOULDBLOCK" => return Some(Errno::EWOULDBLOCK as i32),
        "EDEADLOCK" => return Some(Errno::EDEADLOCK as i32),
        "ENOTSUP" => return Some(Errno::ENOTSUP as i32),
        _ => {}
    }
    (1..=LAST).find(|v| name(*v) == n)
}

/// Every errno name, in value order (aliases left out).
pub fn names() -> Vec<String> {
    (1..=LAST)
        .filter(|v| Errno::from_raw(*v) != Errno::UnknownErrno)
        .map(name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_agree_with_the_c_library() {
        assert_eq!(name(22), "EINVAL");
        assert_eq!(name(111), "ECONNREFUSED");
        assert_eq!(name(0), "errno0");
        assert_eq!(name(4000), "errno4000");
        assert_eq!(by_name("EFAULT"), Some(14));
        assert_eq!(by_name("EWOULDBLOCK"), Some(11));
        assert_eq!(by_name("EKEYREJECTED"), Some(129));
        assert_eq!(by_name("EINVALID"), None);
        let all = names();
        assert!(all.len() > 120, "{} names", all.len());
        for n in &all {
            assert_eq!(name(by_name(n).unwrap()), *n);
        }
    }
}
