//! Stores that take in each other's keys (a cluster's processes) agree whatever the order: new
//! keys are added, a revocation reaches every store at its earliest time and is never undone.

use standing_accountability::keys::{KeySpec, KeyStore, RoleKind};
use standing_core::Timestamp;
use standing_devkit::TempDir;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

#[test]
fn merged_stores_agree_and_keep_revocations() {
    let (a, b) = (TempDir::new("keys-merge-a"), TempDir::new("keys-merge-b"));
    let mut first = KeyStore::open(a.path()).unwrap();
    let mut second = KeyStore::open(b.path()).unwrap();
    let t0 = at("2026-12-01T00:00:00Z");
    let (one, secret) = first.create(KeySpec::new(RoleKind::Operator), t0).unwrap();
    let (two, _) = second.create(KeySpec::source("payments"), t0).unwrap();
    assert_eq!(second.merge(first.keys()).unwrap(), 1);
    assert_eq!(first.merge(second.keys()).unwrap(), 1);
    // Nothing new: nothing written.
    assert_eq!(first.merge(second.keys()).unwrap(), 0);
    assert_eq!(
        second.authenticate(&secret).map(|k| k.id.clone()),
        Some(one.id.clone())
    );
    // Revoked on both, at different times: both keep the earlier, whatever the order.
    first.revoke(&two.id, at("2026-12-01T02:00:00Z")).unwrap();
    second.revoke(&two.id, at("2026-12-01T01:00:00Z")).unwrap();
    assert_eq!(first.merge(second.keys()).unwrap(), 1);
    assert_eq!(second.merge(first.keys()).unwrap(), 0);
    for store in [&first, &second] {
        let key = store.keys().iter().find(|k| k.id == two.id).unwrap();
        assert_eq!(key.revoked_at, Some(at("2026-12-01T01:00:00Z")));
    }
    // A store that has not heard of the revocation cannot undo it.
    let stale: Vec<_> = first
        .keys()
        .iter()
        .cloned()
        .map(|mut k| {
            k.revoked_at = None;
            k
        })
        .collect();
    assert_eq!(second.merge(&stale).unwrap(), 0);
    // And the store on disk says the same.
    let reopened = KeyStore::open(b.path()).unwrap();
    assert_eq!(reopened.keys(), second.keys());
    assert_eq!(reopened.keys().len(), 2);
}
