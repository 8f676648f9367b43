//! Socket state from the kernel itself, through NETLINK_SOCK_DIAG (inet_diag), the
//! interface `ss` uses. Kernel sockets made with `sock_create_kern` are listed like any
//! other, so "the module left nothing behind" is checked by state, not by log lines.

use std::net::SocketAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};
use serde::{Deserialize, Serialize};

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
pub fn tcp_state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// One TCP socket as inet_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpSocket {
    pub state: String,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inode: u32,
    /// Bytes received and not yet read (a FIN counts one until it is read); for a
    /// listening socket, connections waiting to be accepted.
    #[serde(default)]
    pub recv_queue: u32,
}

impl std::fmt::Display for TcpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.state, self.local, self.remote)
    }
}

fn dump_family(family: u8) -> std::io::Result<Vec<TcpSocket>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NlAddr::new(0, 0))?;
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut packet = NetlinkMessage::new(
        hdr,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id,
        })
        .into(),
    );
    packet.finalize();
    let mut buf = vec![0; packet.header.length as usize];
    packet.serialize(&mut buf[..]);
    socket.send(&buf[..], 0)?;

    let mut out = Vec::new();
    let mut rx = vec![0u8; 1 << 16];
    loop {
        let size = socket.recv(&mut &mut rx[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&rx[offset..size])
                .map_err(|e| std::io::Error::other(format!("sock_diag reply: {e}")))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("sock_diag error: {e:?}")))
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let h = &r.header;
                    out.push(TcpSocket {
                        state: tcp_state_name(h.state).to_string(),
                        local: SocketAddr::new(h.socket_id.source_address, h.socket_id.source_port),
                        remote: SocketAddr::new(
                            h.socket_id.destination_address,
                            h.socket_id.destination_port,
                        ),
                        inode: h.inode,
                        recv_queue: h.recv_queue,
                    });
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

/// Every TCP socket of the running kernel (IPv4 and IPv6).
pub fn tcp_sockets() -> std::io::Result<Vec<TcpSocket>> {
    let mut all = dump_family(AF_INET)?;
    all.extend(dump_family(AF_INET6)?);
    Ok(all)
}

/// Sockets with `port` as local or remote port.
pub fn on_port(all: &[TcpSocket], port: u16) -> Vec<TcpSocket> {
    all.iter()
        .filter(|s| s.local.port() == port || s.remote.port() == port)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_listener_and_connection_are_seen() {
        // Real sockets on the host's loopback: sock_diag must report them.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_s, _) = l.accept().unwrap();
        let all = tcp_sockets().unwrap();
        let mine = on_port(&all, port);
        assert!(
            mine.iter()
                .any(|s| s.state == "LISTEN" && s.local.port() == port),
            "{mine:?}"
        );
        let est = mine.iter().filter(|s| s.state == "ESTABLISHED").count();
        assert_eq!(est, 2, "both ends of the connection: {mine:?}");
        drop(c);
    }

    #[test]
    fn unread_bytes_and_an_unread_end_are_queued_until_read() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // The server's end (its local port is the listener's) in `state` with `want`
        // bytes queued, within 2 s.
        let queued = |state: &str, want: u32| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                let all = tcp_sockets().unwrap();
                let mine = on_port(&all, port);
                let q = mine
                    .iter()
                    .find(|s| s.local.port() == port && s.state == state)
                    .map(|s| s.recv_queue);
                if q == Some(want) {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "{state}: {mine:?}");
            }
        };
        queued("LISTEN", 1); // one connection to accept
        let (mut s, _) = l.accept().unwrap();
        c.write_all(b"hello").unwrap();
        drop(c);
        queued("CLOSE_WAIT", 6); // five bytes and the FIN
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello");
        queued("CLOSE_WAIT", 0);
    }
}
