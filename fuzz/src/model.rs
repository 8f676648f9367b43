//! Named contracts a fuzz target may check beside the generic oracles ([`Named`]): the
//! contract of ksock's own sockopt module ([`Model::MessageStore`]: its `seed_bugs=0`
//! behaviour, on which the C and Rust flavours agree), as a state machine that says what
//! each op must return; and what a server that echoes sends back and logs
//! ([`ServerModel::EchoLog`]).

use serde::{Deserialize, Serialize};

use crate::lang::client::{ClientLoad, ClientTarget};
use crate::lang::sockopt::{Len, Op, Reload, Target};
use crate::params::Param;

/// A contract by its name in a `[[fuzz]]` table: `model = "message_store"`, or a list of
/// names (`model = ["message_store", "echo_log"]`), at most one per interface. Each judges
/// the ops of one interface; a target's other ops have only the generic oracles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// Judges sockopt calls.
    Sockopt(Model),
    /// Judges what a TCP server sends back and logs.
    Server(ServerModel),
    /// Judges what a module that connects out accepts and sends.
    Client(ClientModel),
}

impl Named {
    /// Every contract by its name. A new one is a variant of [`Model`] or [`ServerModel`]
    /// and a line here.
    pub const ALL: &'static [(&'static str, Named)] = &[
        ("message_store", Named::Sockopt(Model::MessageStore)),
        ("echo_log", Named::Server(ServerModel::EchoLog)),
        ("delivery", Named::Client(ClientModel::Delivery)),
    ];

    pub fn by_name(name: &str) -> Option<Named> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }

    /// The interface whose ops it judges, as a `[[fuzz]]` table names it.
    pub fn interface(self) -> &'static str {
        match self {
            Named::Sockopt(_) => "sockopt",
            Named::Server(_) => "tcp_server",
            Named::Client(_) => "tcp_client",
        }
    }
}

/// The contracts of sockopt calls: a named model adds its oracle to the generic ones, and
/// says what a reload op loads the module with. Without one, reloads load the target's own
/// parameters again and the served range never moves. A new model is a variant here, its
/// state machine, and a line in [`Named::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// One message of up to `capacity` bytes, set and read back through the served
    /// optnames ([`SockoptModel`]); reloads vary `optmin`, `optmax` and `seed_bugs`
    /// ([`Reload::params`]). ksock's own sockopt module is one.
    MessageStore,
}

impl Model {
    pub fn name(self) -> &'static str {
        Named::Sockopt(self).name()
    }

    /// Whether the contract is checked for a module loaded with this `seed_bugs` mask: the
    /// message store's planted copy bugs (bit 1) break it on purpose, and the generic
    /// oracles are what must find them.
    pub fn holds(self, seed_bugs: i64) -> bool {
        match self {
            Model::MessageStore => seed_bugs & 1 == 0,
        }
    }

    /// The parameters a reload op passes.
    pub fn reload_params(self, r: &Reload, seed_bugs: i64) -> String {
        match self {
            Model::MessageStore => {
                let (min, max, bugs) = store_reload(r, seed_bugs);
                format!("optmin={min} optmax={max} seed_bugs={bugs}")
            }
        }
    }

    /// Whether the module accepts a reload's parameters.
    pub fn reload_valid(self, r: &Reload, seed_bugs: i64) -> bool {
        match self {
            Model::MessageStore => {
                let (min, max, bugs) = store_reload(r, seed_bugs);
                (64..=4095).contains(&min)
                    && (min + 1..=min + 16).contains(&max)
                    && (0..=3).contains(&bugs)
            }
        }
    }
}

/// Optnames a message store's reload may serve. Not every valid value: the IP layer keeps
/// some for itself (multicast routing, 200..=211) and netfilter's own tables register
/// others when loaded (ip_tables 64..=69, arp_tables 96..=99, ip_vs 1152..); these four are
/// free.
const OPTMINS: [i64; 4] = [128, 256, 1000, 4080];

/// A message store's reload: `(optmin, optmax, seed_bugs)` from its first three values
/// (`optmin` 64..=4095; `optmax` relative to it, optmin+1..=optmin+16; `seed_bugs` 0..=3,
/// in range always the campaign's own mask: a reload never plants a bug the campaign did
/// not ask for).
pub fn store_reload(r: &Reload, seed_bugs: i64) -> (i64, i64, i64) {
    let [min, width, bugs, _] = r.params;
    let optmin = match min {
        Param::Default => 128,
        Param::In(n) => OPTMINS[usize::from(n) % OPTMINS.len()],
        Param::Below(n) => 63 - i64::from(n),
        Param::Above(n) => 4096 + i64::from(n),
    };
    let optmax = match width {
        Param::Default => optmin + 1,
        Param::In(n) => optmin + 1 + i64::from(n % 16),
        Param::Below(n) => optmin - i64::from(n % 4),
        Param::Above(n) => optmin + 17 + i64::from(n),
    };
    let bugs = match bugs {
        Param::Default | Param::In(_) => seed_bugs,
        Param::Below(n) => -1 - i64::from(n),
        Param::Above(n) => 4 + i64::from(n),
    };
    (optmin, optmax, bugs)
}

/// The contracts of a module serving TCP ([`crate::lang::msg`]): their oracles judge what
/// comes back on a connection and what the module logs, and an input ends when the module
/// has logged the end of every connection. Without one only the generic oracles speak (a
/// splat, a panic), what comes back is not judged, and an input ends when the module has
/// read everything sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerModel {
    /// Every message comes back unchanged (what has come back on a connection is a prefix
    /// of what was sent on it); each receive is logged as `recv peer=… len=N data=…` with
    /// at most the N bytes received ([`crate::lang::msg::RECV_LOG`]), and each connection's
    /// end as `closed peer=…` or `rejected peer=…`. ksock's own server loaded with `echo=1`
    /// is one.
    EchoLog,
}

impl ServerModel {
    pub fn name(self) -> &'static str {
        Named::Server(self).name()
    }
}

/// The contracts of a module that connects out ([`crate::lang::client`]): which loads it
/// must accept and what its peer must receive. Without one, a load is judged by the
/// table's declared ranges only and what arrives is not judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientModel {
    /// Connects to `port` and sends `count` messages (0..=1000): `size` bytes of `a..z`
    /// repeated (1..=65536), or the `message` parameter when `size` is 0; `seed_bugs`
    /// 0..=1. A load's first three values are count, size and seed_bugs. ksock's own client
    /// module is one.
    Delivery,
}

impl ClientModel {
    pub fn name(self) -> &'static str {
        Named::Client(self).name()
    }

    /// `(port, count, size, seed_bugs)` of a load, given the campaign's mask.
    pub fn resolve(self, l: &ClientLoad, t: &ClientTarget, seed_bugs: i64) -> [i64; 4] {
        let [count, size, bugs, _] = l.params;
        let count = match count {
            Param::Default => 1,
            // In range it stays small, as every message costs time.
            Param::In(n) => i64::from(n % 4),
            Param::Below(n) => -1 - i64::from(n),
            Param::Above(n) => 1001 + i64::from(n),
        };
        let size = match size {
            Param::Default => 0,
            // The seed's buffer (1024), its neighbours, and the edges.
            Param::In(n) => [1, 1023, 1024, 1025, 65536][usize::from(n) % 5],
            Param::Below(n) => -1 - i64::from(n),
            Param::Above(n) => 65537 + i64::from(n),
        };
        let bugs = match bugs {
            Param::Default | Param::In(_) => seed_bugs,
            Param::Below(n) => -1 - i64::from(n),
            Param::Above(n) => 2 + i64::from(n),
        };
        [l.port_value(t), count, size, bugs]
    }

    /// Whether the module accepts the load.
    pub fn valid(self, l: &ClientLoad, t: &ClientTarget, seed_bugs: i64) -> bool {
        let [port, count, size, bugs] = self.resolve(l, t, seed_bugs);
        (1..=65535).contains(&port)
            && (0..=1000).contains(&count)
            && (0..=65536).contains(&size)
            && (0..=1).contains(&bugs)
    }

    /// The module's parameters for the load.
    pub fn params(self, l: &ClientLoad, t: &ClientTarget, seed_bugs: i64) -> Vec<(String, String)> {
        let [port, count, size, bugs] = self.resolve(l, t, seed_bugs);
        let text = String::from_utf8(l.text()).expect("printable ASCII");
        [
            ("port", port.to_string()),
            ("count", count.to_string()),
            ("size", size.to_string()),
            ("seed_bugs", bugs.to_string()),
            ("message", format!("\"{text}\"")),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    }

    /// What one message is: `size` bytes of `a..z` repeated, or the message.
    pub fn payload(self, l: &ClientLoad, t: &ClientTarget, seed_bugs: i64) -> Vec<u8> {
        match self.resolve(l, t, seed_bugs)[2] {
            n if n > 0 => (0..n as usize).map(|i| b'a' + (i % 26) as u8).collect(),
            _ => l.text(),
        }
    }
}

/// The message the module holds after loading.
pub const INITIAL: &[u8] = b"a message from kernel";

pub const EINVAL: i32 = 22;
pub const EFAULT: i32 = 14;
pub const ENOPROTOOPT: i32 = 92;

/// What an op must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Success; for a get, exactly these bytes come back (and the returned length is theirs).
    Ok(Option<Vec<u8>>),
    /// Fails with one of these errnos.
    Err(&'static [i32]),
}

/// A message store's state as its contract defines it.
#[derive(Debug, Clone)]
pub struct SockoptModel {
    /// The served range ops are relative to (a reload moves it).
    pub target: Target,
    /// The campaign's `seed_bugs` mask, which an in-range reload keeps.
    pub seed_bugs: i64,
    /// Whether the module is loaded (a reload with bad parameters leaves it out).
    pub loaded: bool,
    store: Vec<u8>,
}

impl SockoptModel {
    /// The module just loaded for `target`, with the `seed_bugs` mask.
    pub fn new(target: Target, seed_bugs: i64) -> Self {
        Self {
            target,
            seed_bugs,
            loaded: true,
            store: INITIAL.to_vec(),
        }
    }

    /// What `op` must return; the model's state moves on as the module's should.
    pub fn step(&mut self, op: &Op) -> Expected {
        let t = self.target;
        // Unloaded, the module serves nothing: its optnames are the kernel's again.
        let serves = |opt: &crate::lang::sockopt::Opt| {
            self.loaded && (t.optmin..t.optmax).contains(&opt.resolve(&t))
        };
        match op {
            Op::Reload(r) => {
                if !Model::MessageStore.reload_valid(r, self.seed_bugs) {
                    self.loaded = false;
                    return Expected::Err(&[EINVAL]);
                }
                let (optmin, optmax, _) = store_reload(r, self.seed_bugs);
                self.target = Target {
                    optmin: optmin as i32,
                    optmax: optmax as i32,
                    ..t
                };
                self.loaded = true;
                self.store.clear();
                self.store.extend_from_slice(INITIAL);
                Expected::Ok(None)
            }
            Op::Set {
                opt,
                len,
                fill,
                place,
            } => {
                let served = serves(opt);
                let n = set_len(*len, &t);
                if n > i32::MAX as u64 {
                    // setsockopt(2) takes optlen as an int and refuses a negative one.
                    return Expected::Err(&[EINVAL]);
                }
                if !served {
                    // Not the module's: the kernel's own answer (it may read the value
                    // first), which this model does not try to predict beyond these.
                    return Expected::Err(&[ENOPROTOOPT, EFAULT, EINVAL]);
                }
                if n == 0 || n > t.capacity as u64 {
                    return Expected::Err(&[EINVAL]);
                }
                if !place.valid_for(false) {
                    return Expected::Err(&[EFAULT]);
                }
                // In place: this runs for every op the fuzzer executes.
                self.store.clear();
                self.store.resize(n as usize, 0);
                fill_into(&mut self.store, fill);
                Expected::Ok(None)
            }
            Op::Get { opt, len, place } => {
                let served = serves(opt);
                let n = len.resolve(&t);
                if n < 0 {
                    // The kernel reads and rejects a negative length before any module.
                    return Expected::Err(if served {
                        &[EINVAL]
                    } else {
                        &[EINVAL, ENOPROTOOPT]
                    });
                }
                if !served {
                    return Expected::Err(&[ENOPROTOOPT]);
                }
                let k = self.store.len().min(n as usize);
                if k > 0 && !place.valid_for(true) {
                    return Expected::Err(&[EFAULT]);
                }
                Expected::Ok(Some(self.store[..k].to_vec()))
            }
        }
    }
}

/// setsockopt's optlen is unsigned: a negative length wraps.
pub fn set_len(len: Len, t: &Target) -> u64 {
    let n = len.resolve(t);
    if n < 0 {
        u64::from(n as i32 as u32)
    } else {
        n as u64
    }
}

/// `fill` repeated to `n` bytes (zeros when `fill` is empty).
pub fn filled(fill: &[u8], n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    fill_into(&mut v, fill);
    v
}

/// Writes `fill` repeated over `dst` (leaves it alone when `fill` is empty). Copies by
/// doubling: a 1 MiB buffer takes 20 copies, not a million byte steps.
pub fn fill_into(dst: &mut [u8], fill: &[u8]) {
    if fill.is_empty() || dst.is_empty() {
        return;
    }
    let first = fill.len().min(dst.len());
    dst[..first].copy_from_slice(&fill[..first]);
    let mut done = first;
    while done < dst.len() {
        let n = done.min(dst.len() - done);
        dst.copy_within(..n, done);
        done += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_resolves_its_parameters_in_and_out_of_range() {
        use crate::lang::client::{ClientLoad, ClientTarget, Port};
        let t = ClientTarget::new(9200);
        let d = Param::Default;
        let l = ClientLoad {
            port: Port::Listener,
            params: [Param::In(2), d, d, d],
            text: b"hi".to_vec(),
        };
        let m = ClientModel::Delivery;
        assert!(m.valid(&l, &t, 0));
        assert_eq!(
            crate::params::join(&m.params(&l, &t, 1)),
            "port=9200 count=2 size=0 seed_bugs=1 message=\"hi\""
        );
        assert_eq!(m.payload(&l, &t, 0), b"hi");
        let with = |i: usize, p: Param| {
            let mut b = l.clone();
            b.params[i] = p;
            b
        };
        let pattern = m.payload(&with(1, Param::In(3)), &t, 0);
        assert_eq!((pattern.len(), pattern[26]), (1025, b'a'));
        assert!(!m.valid(&with(1, Param::Above(0)), &t, 0));
        assert!(!m.valid(&with(2, Param::Above(0)), &t, 0), "seed_bugs=2");
        let far = ClientLoad {
            port: Port::Above(0),
            ..l.clone()
        };
        assert!(!m.valid(&far, &t, 0));
    }
    use crate::lang::sockopt::{Opt, Place};

    fn get(len: Len, place: Place) -> Op {
        Op::Get {
            opt: Opt::Served(0),
            len,
            place,
        }
    }

    #[test]
    fn every_contract_has_one_name_and_one_interface() {
        for (name, m) in Named::ALL {
            assert_eq!(Named::by_name(name), Some(*m));
            assert_eq!(m.name(), *name);
        }
        assert_eq!(Model::MessageStore.name(), "message_store");
        assert_eq!(ServerModel::EchoLog.name(), "echo_log");
        assert_eq!(
            Named::by_name("echo_log").unwrap().interface(),
            "tcp_server"
        );
        assert_eq!(Named::by_name("nope"), None);
    }

    #[test]
    fn filling_repeats_the_pattern_exactly() {
        assert_eq!(filled(b"abc", 8), b"abcabcab");
        assert_eq!(filled(b"", 3), vec![0; 3]);
        assert_eq!(filled(b"abcdef", 2), b"ab");
        let big = filled(b"xyz", 1 << 20);
        assert!(big.chunks(3).all(|c| c == &b"xyz"[..c.len()]));
    }

    #[test]
    fn the_contract_of_the_set_get_spec() {
        // The same facts specs/sockopt-set-get.yaml checks on a real kernel.
        let mut m = SockoptModel::new(Target::KSOCK_SOCKOPT, 0);
        assert_eq!(
            m.step(&get(Len::Capacity, Place::Guarded)),
            Expected::Ok(Some(INITIAL.to_vec()))
        );
        let set = |len, place| Op::Set {
            opt: Opt::Served(0),
            len,
            fill: b"abc".to_vec(),
            place,
        };
        assert_eq!(
            m.step(&set(Len::Small(2), Place::Guarded)),
            Expected::Ok(None)
        );
        assert_eq!(
            m.step(&get(Len::Small(4), Place::Canary)),
            Expected::Ok(Some(b"abc".to_vec()))
        );
        assert_eq!(
            m.step(&get(Len::Small(1), Place::Guarded)),
            Expected::Ok(Some(b"ab".to_vec()))
        );
        assert_eq!(
            m.step(&set(Len::CapacityPlus1, Place::Guarded)),
            Expected::Err(&[EINVAL])
        );
        assert_eq!(
            m.step(&set(Len::Zero, Place::Null)),
            Expected::Err(&[EINVAL])
        );
        assert_eq!(
            m.step(&set(Len::Small(0), Place::Null)),
            Expected::Err(&[EFAULT])
        );
        assert_eq!(
            m.step(&get(Len::Capacity, Place::ReadOnly)),
            Expected::Err(&[EFAULT])
        );
        // Nothing to copy: even a NULL buffer is fine.
        assert_eq!(
            m.step(&get(Len::Zero, Place::Null)),
            Expected::Ok(Some(vec![]))
        );
        assert_eq!(
            m.step(&get(Len::Negative(0), Place::Guarded)),
            Expected::Err(&[EINVAL])
        );
        let above = Op::Get {
            opt: Opt::Above(0),
            len: Len::Small(3),
            place: Place::Guarded,
        };
        assert_eq!(m.step(&above), Expected::Err(&[ENOPROTOOPT]));
    }

    /// optmin the 2nd free name (256), optmax 3 past its first, the campaign's mask.
    fn moved_params() -> crate::lang::sockopt::Reload {
        crate::lang::sockopt::Reload {
            params: [Param::In(1), Param::In(3), Param::In(9), Param::Default],
        }
    }

    #[test]
    fn a_reload_moves_the_range_and_a_bad_one_leaves_nothing_served() {
        let with = |i: usize, p: Param| {
            let mut r = moved_params();
            r.params[i] = p;
            r
        };
        let mut m = SockoptModel::new(Target::KSOCK_SOCKOPT, 1);
        let set = Op::Set {
            opt: Opt::Served(0),
            len: Len::Small(0),
            fill: b"z".to_vec(),
            place: Place::Guarded,
        };
        assert_eq!(m.step(&set), Expected::Ok(None));
        let moved = moved_params();
        assert_eq!(
            Model::MessageStore.reload_params(&moved, 1),
            "optmin=256 optmax=260 seed_bugs=1",
            "the mask is kept"
        );
        assert_eq!(m.step(&Op::Reload(moved)), Expected::Ok(None));
        assert_eq!((m.target.optmin, m.target.optmax), (256, 260));
        assert_eq!(
            m.step(&get(Len::Capacity, Place::Guarded)),
            Expected::Ok(Some(INITIAL.to_vec())),
            "a fresh module holds its first message again"
        );
        for bad in [
            with(0, Param::Below(0)),
            with(1, Param::Below(0)),
            with(1, Param::Above(0)),
            with(2, Param::Above(0)),
            with(2, Param::Below(0)),
        ] {
            assert!(!Model::MessageStore.reload_valid(&bad, 1), "{bad:?}");
            assert_eq!(m.step(&Op::Reload(bad)), Expected::Err(&[EINVAL]));
            assert_eq!(
                m.step(&get(Len::Capacity, Place::Guarded)),
                Expected::Err(&[ENOPROTOOPT]),
                "nothing is served once a load failed"
            );
        }
    }
}
