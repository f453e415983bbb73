//! Asks Consul's DNS interface for the instances of a `*.service.consul` name:
//! one SRV question over UDP; the answer's SRV records give the ports, and
//! the A/AAAA records Consul puts in the additional section give the
//! addresses of their targets.
//!
//! Hand-written rather than a resolver crate (hickory and the like): one
//! question type against one known server needs a few hundred lines, and a
//! resolver crate would add tens of thousands to a build that is already
//! slow. Not handled: truncated answers are used as they are (no retry over
//! TCP; Consul caps UDP answers at 3 records by default anyway), and an SRV
//! target without an address in the additional section is skipped.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
const FLAG_RESPONSE: u16 = 0x8000;
const FLAG_RECURSION_DESIRED: u16 = 0x0100;
const RCODE_NAME_ERROR: u8 = 3;
/// Consul answers from memory on the same node: a lost datagram is the only
/// reason to wait, so ask again soon.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
const ATTEMPTS: u32 = 3;

#[derive(Debug)]
pub enum SrvError {
    Io(io::Error),
    Timeout,
    Malformed(&'static str),
    /// A response code other than "no error"; 3 is "no such name".
    Rcode(u8),
    /// The answer named no instance with an address.
    NoInstance,
}

impl SrvError {
    /// Whether Consul said the service has no instance (rather than failing to say anything).
    pub fn is_not_found(&self) -> bool {
        matches!(self, SrvError::Rcode(RCODE_NAME_ERROR) | SrvError::NoInstance)
    }
}

impl fmt::Display for SrvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SrvError::Io(err) => write!(f, "cannot ask Consul DNS: {err}"),
            SrvError::Timeout => write!(f, "Consul DNS did not answer"),
            SrvError::Malformed(why) => write!(f, "malformed answer from Consul DNS: {why}"),
            SrvError::Rcode(RCODE_NAME_ERROR) => write!(f, "Consul DNS knows no such service"),
            SrvError::Rcode(code) => write!(f, "Consul DNS answered with response code {code}"),
            SrvError::NoInstance => write!(f, "Consul DNS named no passing instance"),
        }
    }
}

/// Asks `server` for the SRV records of `name`: the instances' addresses,
/// lowest priority first, in the order Consul gave (it shuffles them).
pub async fn resolve_srv(server: SocketAddr, name: &str) -> Result<Vec<SocketAddr>, SrvError> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(SrvError::Io)?;
    // Connected: the kernel drops datagrams from anyone but `server`.
    socket.connect(server).await.map_err(SrvError::Io)?;
    let id = RandomState::new().hash_one(name) as u16;
    let query = srv_query(id, name);
    let mut buffer = vec![0; 4096];
    for _ in 0..ATTEMPTS {
        socket.send(&query).await.map_err(SrvError::Io)?;
        let deadline = tokio::time::Instant::now() + ATTEMPT_TIMEOUT;
        loop {
            let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await else {
                break;
            };
            let answer = &buffer[..received.map_err(SrvError::Io)?];
            // Not ours (a stray datagram to a reused port): keep waiting.
            if answer.get(..2) == Some(&id.to_be_bytes()[..]) {
                return parse_srv_response(answer, id);
            }
        }
    }
    Err(SrvError::Timeout)
}

/// A query packet: one SRV question in class IN, recursion desired.
pub fn srv_query(id: u16, name: &str) -> Vec<u8> {
    let mut packet = Vec::with_capacity(12 + name.len() + 6);
    for word in [id, FLAG_RECURSION_DESIRED, 1, 0, 0, 0] {
        packet.extend_from_slice(&word.to_be_bytes());
    }
    for label in name.trim_end_matches('.').split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&TYPE_SRV.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    packet
}

struct Srv {
    priority: u16,
    port: u16,
    target: String,
}

/// The instances an answer to query `id` names.
pub fn parse_srv_response(packet: &[u8], id: u16) -> Result<Vec<SocketAddr>, SrvError> {
    let mut reader = Reader { packet, at: 0 };
    if reader.u16()? != id {
        return Err(SrvError::Malformed("another query's answer"));
    }
    let flags = reader.u16()?;
    if flags & FLAG_RESPONSE == 0 {
        return Err(SrvError::Malformed("not a response"));
    }
    let rcode = (flags & 0x000f) as u8;
    if rcode != 0 {
        return Err(SrvError::Rcode(rcode));
    }
    let (questions, answers, authorities, additionals) =
        (reader.u16()?, reader.u16()?, reader.u16()?, reader.u16()?);
    for _ in 0..questions {
        reader.name()?;
        reader.skip(4)?;
    }
    let mut services = Vec::new();
    let mut addresses: Vec<(String, IpAddr)> = Vec::new();
    let records = u32::from(answers) + u32::from(authorities) + u32::from(additionals);
    for _ in 0..records {
        let owner = reader.name()?;
        let (kind, class) = (reader.u16()?, reader.u16()?);
        reader.skip(4)?; // TTL
        let length = usize::from(reader.u16()?);
        let end = reader.at + length;
        if end > packet.len() {
            return Err(SrvError::Malformed("record runs past the packet"));
        }
        match (kind, class, length) {
            (TYPE_SRV, CLASS_IN, _) => {
                let priority = reader.u16()?;
                reader.skip(2)?; // weight: Consul gives every instance the same
                let port = reader.u16()?;
                let target = reader.name()?;
                services.push(Srv { priority, port, target });
            }
            (TYPE_A, CLASS_IN, 4) => {
                let octets: [u8; 4] = packet[reader.at..end].try_into().expect("four bytes");
                addresses.push((owner, Ipv4Addr::from(octets).into()));
            }
            (TYPE_AAAA, CLASS_IN, 16) => {
                let octets: [u8; 16] = packet[reader.at..end].try_into().expect("sixteen bytes");
                addresses.push((owner, Ipv6Addr::from(octets).into()));
            }
            _ => {}
        }
        reader.at = end;
    }
    services.sort_by_key(|srv| srv.priority);
    let found: Vec<SocketAddr> = services
        .iter()
        .flat_map(|srv| {
            addresses
                .iter()
                .filter(|(owner, _)| owner.eq_ignore_ascii_case(&srv.target))
                .map(|(_, ip)| SocketAddr::new(*ip, srv.port))
        })
        .collect();
    if found.is_empty() {
        return Err(SrvError::NoInstance);
    }
    Ok(found)
}

struct Reader<'a> {
    packet: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, SrvError> {
        let bytes = self.packet.get(self.at..self.at + 2).ok_or(SrvError::Malformed("truncated"))?;
        self.at += 2;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn skip(&mut self, count: usize) -> Result<(), SrvError> {
        if self.at + count > self.packet.len() {
            return Err(SrvError::Malformed("truncated"));
        }
        self.at += count;
        Ok(())
    }

    /// A domain name, following compression pointers (RFC 1035 4.1.4), as
    /// dotted text without the final dot.
    fn name(&mut self) -> Result<String, SrvError> {
        let mut name = String::new();
        let mut at = self.at;
        let mut jumps = 0;
        loop {
            let length = *self.packet.get(at).ok_or(SrvError::Malformed("truncated name"))?;
            match length {
                0 => {
                    if jumps == 0 {
                        self.at = at + 1;
                    }
                    return Ok(name);
                }
                0xc0..=0xff => {
                    let low = *self.packet.get(at + 1).ok_or(SrvError::Malformed("truncated name"))?;
                    if jumps == 0 {
                        self.at = at + 2;
                    }
                    jumps += 1;
                    if jumps > 16 {
                        return Err(SrvError::Malformed("compression loop"));
                    }
                    at = usize::from(u16::from_be_bytes([length & 0x3f, low]));
                }
                1..=63 => {
                    let label = self
                        .packet
                        .get(at + 1..at + 1 + usize::from(length))
                        .ok_or(SrvError::Malformed("truncated name"))?;
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.extend(label.iter().map(|&b| char::from(b)));
                    if name.len() > 255 {
                        return Err(SrvError::Malformed("name too long"));
                    }
                    at += 1 + usize::from(length);
                }
                _ => return Err(SrvError::Malformed("unknown label type")),
            }
        }
    }
}

/// Answers built the way Consul's DNS server writes them, for tests here and elsewhere.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// An answer to `query` naming each `(address, port)` as an instance, each
    /// with its own `<hex>.addr.dc1.consul` target, with names compressed.
    pub fn srv_answer(query: &[u8], instances: &[(IpAddr, u16)]) -> Vec<u8> {
        let question_end = {
            let mut reader = Reader { packet: query, at: 12 };
            reader.name().unwrap();
            reader.at + 4
        };
        let mut packet = query[..2].to_vec();
        let count = instances.len() as u16;
        for word in [0x8580, 1, count, 0, count] {
            packet.extend_from_slice(&u16::to_be_bytes(word));
        }
        packet.extend_from_slice(&query[12..question_end]);
        let mut targets = Vec::new();
        for (index, (_, port)) in instances.iter().enumerate() {
            packet.extend_from_slice(&[0xc0, 12]); // the question's name
            packet.extend_from_slice(&[0, 33, 0, 1, 0, 0, 0, 0]);
            let target = format!("{index:08x}.addr.dc1.consul");
            packet.extend_from_slice(&((6 + target.len() + 2) as u16).to_be_bytes());
            packet.extend_from_slice(&[0, 1, 0, 1]);
            packet.extend_from_slice(&port.to_be_bytes());
            targets.push(packet.len() as u16);
            for label in target.split('.') {
                packet.push(label.len() as u8);
                packet.extend_from_slice(label.as_bytes());
            }
            packet.push(0);
        }
        for ((ip, _), target) in instances.iter().zip(targets) {
            packet.extend_from_slice(&(0xc000 | target).to_be_bytes());
            let (kind, data) = match ip {
                IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
                IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
            };
            packet.extend_from_slice(&kind.to_be_bytes());
            packet.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
            packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
            packet.extend_from_slice(&data);
        }
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_asks_one_srv_question() {
        let packet = srv_query(0x1234, "web.service.consul");
        let mut expected = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"\x03web\x07service\x06consul\x00\x00\x21\x00\x01");
        assert_eq!(packet, expected);
    }

    #[test]
    fn reads_a_consul_answer_byte_by_byte() {
        // web.service.consul SRV 1 1 8080 0a000001.addr.dc1.consul; its A
        // record in the additional section, owner compressed into the SRV rdata.
        let mut packet = vec![0x12, 0x34, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
        packet.extend_from_slice(b"\x03web\x07service\x06consul\x00\x00\x21\x00\x01");
        packet.extend_from_slice(&[0xc0, 0x0c, 0, 0x21, 0, 1, 0, 0, 0, 0, 0, 32, 0, 1, 0, 1, 0x1f, 0x90]);
        packet.extend_from_slice(b"\x080a000001\x04addr\x03dc1\x06consul\x00");
        assert_eq!(packet.len(), 80);
        packet.extend_from_slice(&[0xc0, 0x36, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, 1]);
        let found = parse_srv_response(&packet, 0x1234).unwrap();
        assert_eq!(found, vec!["10.0.0.1:8080".parse().unwrap()]);
        assert!(matches!(parse_srv_response(&packet, 0x4321), Err(SrvError::Malformed(_))));
        for cut in [5, 20, 50, 85] {
            assert!(parse_srv_response(&packet[..cut], 0x1234).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn reads_several_instances_and_both_families() {
        let query = srv_query(7, "email.service.consul");
        let instances: [(IpAddr, u16); 2] =
            [(Ipv4Addr::LOCALHOST.into(), 21000), ("2001:db8::5".parse::<Ipv6Addr>().unwrap().into(), 21001)];
        let found = parse_srv_response(&testing::srv_answer(&query, &instances), 7).unwrap();
        let expected: Vec<SocketAddr> =
            instances.iter().map(|(ip, port)| SocketAddr::new(*ip, *port)).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn no_such_service_and_empty_answers_are_errors() {
        let query = srv_query(9, "gone.service.consul");
        let mut nxdomain = query.clone();
        nxdomain[2] = 0x85;
        nxdomain[3] = 0x83;
        assert!(matches!(parse_srv_response(&nxdomain, 9), Err(SrvError::Rcode(3))));
        let empty = testing::srv_answer(&query, &[]);
        assert!(matches!(parse_srv_response(&empty, 9), Err(SrvError::NoInstance)));
        assert!(matches!(parse_srv_response(&query, 9), Err(SrvError::Malformed("not a response"))));
    }

    #[test]
    fn compression_loops_are_refused() {
        let mut packet = vec![0, 1, 0x85, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(&[0xc0, 12]); // points at itself
        assert!(matches!(parse_srv_response(&packet, 1), Err(SrvError::Malformed("compression loop"))));
    }

    #[tokio::test]
    async fn asks_a_server_over_udp() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buffer = [0; 512];
            let (length, from) = server.recv_from(&mut buffer).await.unwrap();
            let answer = testing::srv_answer(&buffer[..length], &[(Ipv4Addr::LOCALHOST.into(), 4242)]);
            server.send_to(&answer, from).await.unwrap();
        });
        let found = resolve_srv(address, "x.service.consul").await.unwrap();
        assert_eq!(found, vec!["127.0.0.1:4242".parse().unwrap()]);
    }
}
