//! Asking the kernel (rtnetlink, `RTM_GETLINK`) which XDP program an
//! interface carries, so that pxe-monitor can tell whose it is before it
//! attaches, and say so when it will not replace it.

use std::{io, mem::size_of};

/// An XDP program attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpAttached {
    /// The kernel's program id (`bpftool prog show id N`).
    pub prog_id: u32,
    /// `IFLA_XDP_ATTACHED`: 1 driver (native), 2 generic (skb), 3
    /// offloaded, 4 several.
    pub mode: u8,
}

// From linux/if_link.h and linux/rtnetlink.h (stable UAPI).
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_PROG_ID: u16 = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

#[repr(C)]
struct Request {
    nlh: libc::nlmsghdr,
    ifi: libc::ifinfomsg,
}

/// The XDP program on interface `ifindex`, if any.
pub fn xdp_attached(ifindex: u32) -> io::Result<Option<XdpAttached>> {
    // SAFETY: socket() has no memory preconditions; the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut req: Request = unsafe { std::mem::zeroed() };
    req.nlh.nlmsg_len = size_of::<Request>() as u32;
    req.nlh.nlmsg_type = libc::RTM_GETLINK;
    req.nlh.nlmsg_flags = libc::NLM_F_REQUEST as u16;
    req.nlh.nlmsg_seq = 1;
    req.ifi.ifi_family = libc::AF_UNSPEC as u8;
    req.ifi.ifi_index = ifindex as i32;
    // SAFETY: `req` is a live, initialised buffer of the length passed.
    let sent = unsafe { libc::send(raw, (&raw const req).cast(), size_of::<Request>(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 32 * 1024];
    // SAFETY: `buf` is writable for its whole length.
    let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    parse_reply(&buf[..n as usize])
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Netlink attributes in `b`: (type, payload), each 4-byte aligned.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, 0)?);
        let ty = u16_at(b, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

/// The reply to one `RTM_GETLINK`: an `RTM_NEWLINK` message, or an error.
fn parse_reply(b: &[u8]) -> io::Result<Option<XdpAttached>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed rtnetlink reply");
    let hdr = size_of::<libc::nlmsghdr>();
    let len = u32_at(b, 0).ok_or_else(bad)? as usize;
    let ty = u16_at(b, 4).ok_or_else(bad)?;
    let msg = b.get(..len).ok_or_else(bad)?;
    if ty == libc::NLMSG_ERROR as u16 {
        let errno = u32_at(msg, hdr).ok_or_else(bad)? as i32;
        return Err(io::Error::from_raw_os_error(-errno));
    }
    if ty != libc::RTM_NEWLINK {
        return Err(bad());
    }
    let at = hdr + size_of::<libc::ifinfomsg>();
    let Some((_, xdp)) = attrs(msg.get(at..).ok_or_else(bad)?).find(|(t, _)| *t == IFLA_XDP) else {
        return Ok(None);
    };
    let (mut mode, mut prog_id) = (0, 0);
    for (t, v) in attrs(xdp) {
        match t {
            IFLA_XDP_ATTACHED => mode = v.first().copied().unwrap_or(0),
            IFLA_XDP_PROG_ID => prog_id = u32_at(v, 0).unwrap_or(0),
            _ => {}
        }
    }
    Ok((mode != 0).then_some(XdpAttached { prog_id, mode }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWLINK reply carrying IFLA_XDP { ATTACHED 1, PROG_ID 42 }.
    fn reply(xdp: Option<(u8, u32)>) -> Vec<u8> {
        let mut attrs = Vec::new();
        // An unrelated attribute first (IFLA_MTU, 4 bytes).
        attrs.extend_from_slice(&8u16.to_ne_bytes());
        attrs.extend_from_slice(&4u16.to_ne_bytes());
        attrs.extend_from_slice(&1500u32.to_ne_bytes());
        if let Some((mode, id)) = xdp {
            let mut nested = Vec::new();
            nested.extend_from_slice(&5u16.to_ne_bytes());
            nested.extend_from_slice(&IFLA_XDP_ATTACHED.to_ne_bytes());
            nested.extend_from_slice(&[mode, 0, 0, 0]);
            nested.extend_from_slice(&8u16.to_ne_bytes());
            nested.extend_from_slice(&IFLA_XDP_PROG_ID.to_ne_bytes());
            nested.extend_from_slice(&id.to_ne_bytes());
            attrs.extend_from_slice(&((4 + nested.len()) as u16).to_ne_bytes());
            attrs.extend_from_slice(&(IFLA_XDP | 0x8000).to_ne_bytes());
            attrs.extend_from_slice(&nested);
        }
        let head = size_of::<libc::nlmsghdr>() + size_of::<libc::ifinfomsg>();
        let mut b = vec![0u8; head];
        b.extend_from_slice(&attrs);
        let len = b.len() as u32;
        b[0..4].copy_from_slice(&len.to_ne_bytes());
        b[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
        b
    }

    #[test]
    fn reads_the_attached_program_and_its_absence() {
        assert_eq!(
            parse_reply(&reply(Some((1, 42)))).unwrap(),
            Some(XdpAttached {
                prog_id: 42,
                mode: 1
            })
        );
        assert_eq!(parse_reply(&reply(None)).unwrap(), None);
        assert_eq!(parse_reply(&reply(Some((0, 0)))).unwrap(), None);
        // Truncated or garbage replies are errors, never a panic.
        let r = reply(Some((1, 42)));
        for cut in 0..r.len() {
            let _ = parse_reply(&r[..cut]);
        }
        assert!(parse_reply(&[0xff; 64]).is_err());
    }
}
