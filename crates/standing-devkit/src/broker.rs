//! A Kafka-protocol broker for tests and benchmarks: `tansu` (`$STANDING_TANSU`, else `tansu`
//! on the path; `.ci/run` installs it) on a free port of 127.0.0.1 with memory storage, started
//! from an empty directory (it reads `.env` from where it starts) and stopped when dropped.

use crate::TempDir;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker; killed and reaped when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    /// `127.0.0.1:port`, as clients dial it and as it advertises itself.
    pub address: String,
    _dir: TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Starts a broker and waits (at most 20 s) until it listens. Panics, naming the binary,
    /// when it cannot be started: a test that needs a broker fails rather than skips.
    pub fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port on 127.0.0.1");
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let dir = TempDir::new("kafka-broker");
        let binary = std::env::var("STANDING_TANSU").unwrap_or_else(|_| "tansu".into());
        let mut child = Command::new(&binary)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .args(["--cluster-id", "standing-test", "--silent"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the Kafka broker `{binary}` (.ci/run installs it): {e}")
            });
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the Kafka broker `{binary}` did not listen on {address} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            child,
            address,
            _dir: dir,
        }
    }
}
