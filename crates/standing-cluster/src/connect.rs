//! Connecting the processes of a cluster before timely takes the sockets over.
//!
//! Timely's own start-up (`timely_communication::initialize_networking`) retries a peer that
//! is not there forever, printing to stdout. Ours makes the same mesh — process `i` connects to
//! every process before it and accepts every process after it — with a deadline, and a
//! handshake that refuses a peer of another cluster shape; every error names the peer. The
//! sockets then go to `initialize_networking_from_sockets`, and timely speaks its own protocol
//! over them.

use crate::ClusterError;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// What a process says first: who it is and the cluster it believes it is in.
const MAGIC: &[u8; 8] = b"STNDCLU1";

fn hello(process: usize, processes: usize, workers: usize) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&(process as u64).to_le_bytes());
    bytes[16..24].copy_from_slice(&(processes as u64).to_le_bytes());
    bytes[24..].copy_from_slice(&(workers as u64).to_le_bytes());
    bytes
}

/// Reads a peer's hello: its process index, checked against the shape of ours.
fn read_hello(
    stream: &mut TcpStream,
    processes: usize,
    workers: usize,
    peer: &str,
) -> Result<usize, ClusterError> {
    let mut bytes = [0u8; 32];
    stream
        .read_exact(&mut bytes)
        .map_err(|error| ClusterError::Peer {
            peer: peer.to_owned(),
            reason: format!("no handshake: {error}"),
        })?;
    let field = |range: std::ops::Range<usize>| {
        u64::from_le_bytes(bytes[range].try_into().expect("8 bytes")) as usize
    };
    if &bytes[..8] != MAGIC {
        return Err(ClusterError::Peer {
            peer: peer.to_owned(),
            reason: "not a standing cluster process".into(),
        });
    }
    let (process, their_processes, their_workers) = (field(8..16), field(16..24), field(24..32));
    if their_processes != processes || their_workers != workers {
        return Err(ClusterError::Peer {
            peer: peer.to_owned(),
            reason: format!(
                "it runs {their_processes} processes × {their_workers} workers, this one \
                 {processes} × {workers}"
            ),
        });
    }
    Ok(process)
}

/// Says hello on a connected stream and reads the peer's (each side writes first: 32 bytes sit
/// in the socket's buffer), within `timeout`; the process the peer says it is.
fn handshake(
    stream: &mut TcpStream,
    process: usize,
    processes: usize,
    workers: usize,
    timeout: Duration,
    peer: &str,
) -> Result<usize, ClusterError> {
    stream.set_nodelay(true).map_err(ClusterError::Io)?;
    stream
        .write_all(&hello(process, processes, workers))
        .map_err(|error| ClusterError::Peer {
            peer: peer.to_owned(),
            reason: format!("handshake: {error}"),
        })?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(ClusterError::Io)?;
    let said = read_hello(stream, processes, workers, peer)?;
    stream.set_read_timeout(None).map_err(ClusterError::Io)?;
    Ok(said)
}

/// The sockets to every other process, in process order, `None` at `process` itself, made
/// within `timeout`.
pub(crate) fn mesh(
    addresses: &[String],
    process: usize,
    workers: usize,
    timeout: Duration,
) -> Result<Vec<Option<TcpStream>>, ClusterError> {
    let processes = addresses.len();
    let deadline = Instant::now() + timeout;
    let name = |index: usize| format!("process {index} ({})", addresses[index]);
    // Bound first, so peers after us find us while we connect to those before.
    let listener = TcpListener::bind(&addresses[process]).map_err(|error| ClusterError::Peer {
        peer: name(process),
        reason: format!("cannot listen there: {error}"),
    })?;
    listener.set_nonblocking(true).map_err(ClusterError::Io)?;
    let mut sockets: Vec<Option<TcpStream>> = (0..processes).map(|_| None).collect();
    for (index, address) in addresses.iter().enumerate().take(process) {
        let target = address
            .to_socket_addrs()
            .ok()
            .and_then(|mut found| found.next())
            .ok_or_else(|| ClusterError::Peer {
                peer: name(index),
                reason: "the address does not resolve".into(),
            })?;
        let mut stream = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClusterError::Unreachable {
                    peer: name(index),
                    waited: timeout,
                });
            }
            match TcpStream::connect_timeout(&target, left.min(Duration::from_secs(1))) {
                Ok(stream) => break stream,
                Err(_) => std::thread::sleep(Duration::from_millis(50).min(left)),
            }
        };
        let said = handshake(
            &mut stream,
            process,
            processes,
            workers,
            timeout,
            &name(index),
        )?;
        if said != index {
            return Err(ClusterError::Peer {
                peer: name(index),
                reason: format!("it says it is process {said}"),
            });
        }
        sockets[index] = Some(stream);
    }
    while let Some(missing) = (process + 1..processes).find(|&i| sockets[i].is_none()) {
        match listener.accept() {
            Ok((mut stream, from)) => {
                stream.set_nonblocking(false).map_err(ClusterError::Io)?;
                let peer = from.to_string();
                let said = handshake(&mut stream, process, processes, workers, timeout, &peer)?;
                if said <= process || said >= processes || sockets[said].is_some() {
                    return Err(ClusterError::Peer {
                        peer,
                        reason: format!("it says it is process {said}, which is not expected here"),
                    });
                }
                sockets[said] = Some(stream);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(ClusterError::Unreachable {
                        peer: name(missing),
                        waited: timeout,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => return Err(ClusterError::Io(error)),
        }
    }
    Ok(sockets)
}
