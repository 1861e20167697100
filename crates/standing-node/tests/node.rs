//! A data directory opened through the node: one process at a time.

use standing_core::Timestamp;
use standing_node::{Node, NodeError};
use standing_rules::SAMPLE_CITY_MODEL;

#[test]
fn a_data_directory_is_opened_by_one_owner_at_a_time() {
    let dir = std::env::temp_dir().join(format!("standing-node-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.toml"), SAMPLE_CITY_MODEL).unwrap();
    let clock = Timestamp::parse("2026-11-25").unwrap();

    let (first, _) = Node::open(&dir, clock).expect("the first opener owns the directory");
    match Node::open(&dir, clock) {
        Err(error @ NodeError::Busy(_)) => {
            assert!(
                error
                    .to_string()
                    .contains("in use by another standing process")
            )
        }
        Err(other) => panic!("expected Busy, got {other}"),
        Ok(_) => panic!("a second owner was let in"),
    }
    drop(first);
    assert!(
        Node::open(&dir, clock).is_ok(),
        "the lock goes with its owner"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
