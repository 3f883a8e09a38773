//! One test per sentence of the [`Indexer`] contract.

use std::sync::Arc;

use informer_core::{Change, KeyError, KeyFn, ObjectKey, Store, Version};

use super::*;

#[derive(Debug, PartialEq)]
struct Pod {
    name: String,
    node: String,
    labels: Vec<String>,
}

fn pod(name: &str, node: &str, labels: &[&str]) -> Arc<Pod> {
    Arc::new(Pod { name: name.into(), node: node.into(), labels: labels.iter().map(|l| l.to_string()).collect() })
}

fn key_fn() -> KeyFn<Pod> {
    KeyFn::new(
        |p: &Pod| if p.name.is_empty() { Err(KeyError::new("pod without name")) } else { Ok(ObjectKey::new(&p.name)) },
    )
}

fn indexers() -> Indexers<Pod> {
    Indexers::new()
        .with("node", IndexFn::single(|p: &Pod| p.node.as_str()))
        .with("label", IndexFn::new(|p: &Pod| p.labels.iter().map(String::as_str).collect()))
}

fn indexer() -> Indexer<Pod> {
    Indexer::with_indexers(key_fn(), indexers())
}

fn sorted<S: ToString>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn names(objects: Vec<Arc<Pod>>) -> Vec<String> {
    sorted(objects.iter().map(|p| p.name.clone()))
}

#[test]
fn behaves_like_a_cache_for_store_operations() {
    let ix = indexer();
    ix.add(pod("a", "n1", &[])).unwrap();
    ix.add(pod("a", "n2", &[])).unwrap();
    ix.update(pod("b", "n1", &[])).unwrap();
    ix.delete(pod("zzz", "n1", &[])).unwrap();
    assert_eq!(sorted(ix.list_keys()), ["a", "b"]);
    assert_eq!(ix.get_by_key("a").unwrap().node, "n2");
    assert_eq!(ix.get(&pod("b", "", &[])).unwrap().unwrap().node, "n1");
    ix.resync().unwrap();
    assert_eq!(ix.len(), 2);
    assert!(ix.add(pod("", "n1", &[])).is_err());
    assert_eq!(ix.len(), 2);
    assert_eq!(ix.index_keys("node", "n1").unwrap(), ["b"]);
}

#[test]
fn object_is_found_under_every_value_of_its_index_function() {
    let ix = indexer();
    ix.add(pod("a", "n1", &["app=web", "tier=fe"])).unwrap();
    assert_eq!(names(ix.by_index("node", "n1").unwrap()), ["a"]);
    assert_eq!(names(ix.by_index("label", "app=web").unwrap()), ["a"]);
    assert_eq!(names(ix.by_index("label", "tier=fe").unwrap()), ["a"]);
    assert!(ix.by_index("label", "app=db").unwrap().is_empty());
    assert_eq!(sorted(ix.list_index_values("label").unwrap()), ["app=web", "tier=fe"]);
}

#[test]
fn object_without_values_is_stored_but_absent_from_the_index() {
    let ix = indexer();
    ix.add(pod("a", "n1", &[])).unwrap();
    assert!(ix.list_index_values("label").unwrap().is_empty());
    assert_eq!(ix.len(), 1);
}

#[test]
fn update_moves_object_between_index_values() {
    let ix = indexer();
    ix.add(pod("a", "n1", &["x", "y"])).unwrap();
    ix.add(pod("b", "n1", &["y"])).unwrap();
    ix.update(pod("a", "n2", &["y", "z"])).unwrap();
    assert_eq!(names(ix.by_index("node", "n1").unwrap()), ["b"]);
    assert_eq!(names(ix.by_index("node", "n2").unwrap()), ["a"]);
    assert!(ix.by_index("label", "x").unwrap().is_empty());
    assert_eq!(names(ix.by_index("label", "y").unwrap()), ["a", "b"]);
    assert_eq!(names(ix.by_index("label", "z").unwrap()), ["a"]);
    assert_eq!(sorted(ix.list_index_values("label").unwrap()), ["y", "z"]);
}

#[test]
fn update_with_unchanged_values_returns_the_new_object() {
    let ix = indexer();
    ix.add(pod("a", "n1", &["x"])).unwrap();
    let newer = pod("a", "n1", &["x"]);
    ix.update(Arc::clone(&newer)).unwrap();
    assert!(Arc::ptr_eq(&ix.by_index("node", "n1").unwrap()[0], &newer));
}

#[test]
fn delete_removes_object_from_every_index_and_empty_values() {
    let ix = indexer();
    ix.add(pod("a", "n1", &["x"])).unwrap();
    ix.add(pod("b", "n2", &["x"])).unwrap();
    ix.delete(pod("a", "ignored", &[])).unwrap();
    assert_eq!(sorted(ix.list_index_values("node").unwrap()), ["n2"]);
    assert_eq!(ix.index_keys("label", "x").unwrap(), ["b"]);
    ix.delete(pod("b", "", &[])).unwrap();
    assert!(ix.list_index_values("node").unwrap().is_empty());
    assert!(ix.list_index_values("label").unwrap().is_empty());
}

#[test]
fn replace_rebuilds_the_indexes() {
    let ix = indexer();
    ix.add(pod("a", "n1", &["x"])).unwrap();
    ix.add(pod("b", "n1", &["x"])).unwrap();
    ix.replace(vec![pod("b", "n2", &["y"]), pod("c", "n2", &[])], Version::from("9")).unwrap();
    assert_eq!(sorted(ix.list_keys()), ["b", "c"]);
    assert_eq!(sorted(ix.list_index_values("node").unwrap()), ["n2"]);
    assert_eq!(sorted(ix.list_index_values("label").unwrap()), ["y"]);
    assert_eq!(names(ix.by_index("node", "n2").unwrap()), ["b", "c"]);
}

#[test]
fn replace_indexes_the_keyable_items_and_returns_the_first_error() {
    let ix = indexer();
    let err = ix.replace(vec![pod("a", "n1", &[]), pod("", "n1", &[])], Version::from("1")).unwrap_err();
    assert!(err.to_string().contains("without name"), "{err}");
    assert_eq!(ix.index_keys("node", "n1").unwrap(), ["a"]);
}

#[test]
fn add_indexers_indexes_existing_objects() {
    let ix = Indexer::new(key_fn());
    ix.add(pod("a", "n1", &["x"])).unwrap();
    ix.add(pod("b", "n2", &["x"])).unwrap();
    ix.add_indexers(indexers()).unwrap();
    assert_eq!(ix.index_keys("node", "n2").unwrap(), ["b"]);
    assert_eq!(names(ix.by_index("label", "x").unwrap()), ["a", "b"]);
    ix.update(pod("b", "n1", &[])).unwrap();
    assert_eq!(names(ix.by_index("node", "n1").unwrap()), ["a", "b"]);
}

#[test]
fn add_indexers_with_an_existing_name_fails_and_adds_nothing() {
    let ix = Indexer::with_indexers(key_fn(), Indexers::new().with("node", IndexFn::single(|p: &Pod| p.node.as_str())));
    let more = Indexers::new()
        .with("label", IndexFn::new(|p: &Pod| p.labels.iter().map(String::as_str).collect()))
        .with("node", IndexFn::single(|p: &Pod| p.name.as_str()));
    let err = ix.add_indexers(more).unwrap_err();
    assert_eq!(err, IndexError::Conflict { index: "node".into() });
    assert!(err.to_string().contains("\"node\""), "{err}");
    assert_eq!(ix.index_names(), ["node"]);
}

#[test]
fn queries_of_an_unknown_index_fail_naming_index_and_value() {
    let ix = indexer();
    let err = ix.by_index("zone", "eu-1").unwrap_err();
    assert_eq!(err.to_string(), "index \"zone\" does not exist (looking up value \"eu-1\")");
    assert!(ix.index_keys("zone", "eu-1").is_err());
    assert_eq!(ix.list_index_values("zone").unwrap_err().to_string(), "index \"zone\" does not exist");
    assert!(ix.index("zone", &pod("a", "n1", &[])).is_err());
}

#[test]
fn index_returns_objects_sharing_any_value_once() {
    let ix = indexer();
    ix.add(pod("a", "n1", &["x", "y"])).unwrap();
    ix.add(pod("b", "n2", &["y"])).unwrap();
    ix.add(pod("c", "n3", &["z"])).unwrap();
    // The probe is not stored; it shares "x" and "y" with a and "y" with b.
    assert_eq!(names(ix.index("label", &pod("probe", "n9", &["x", "y"])).unwrap()), ["a", "b"]);
    assert!(ix.index("label", &pod("probe", "n9", &[])).unwrap().is_empty());
}

#[test]
fn duplicate_values_of_one_object_are_counted_once() {
    let ix = indexer();
    ix.add(pod("a", "n1", &["x", "x"])).unwrap();
    assert_eq!(ix.index_keys("label", "x").unwrap(), ["a"]);
    ix.update(pod("a", "n1", &["x"])).unwrap();
    assert_eq!(ix.index_keys("label", "x").unwrap(), ["a"]);
    ix.delete(pod("a", "n1", &[])).unwrap();
    assert!(ix.list_index_values("label").unwrap().is_empty());
}

#[test]
fn readers_see_items_and_indexes_in_step() {
    let ix = Arc::new(indexer());
    for i in 0..100 {
        ix.add(pod(&format!("p{i}"), "n1", &[])).unwrap();
    }
    let reader = {
        let ix = Arc::clone(&ix);
        std::thread::spawn(move || {
            for _ in 0..2000 {
                let on_n1 = ix.index_keys("node", "n1").unwrap().len();
                let on_n2 = ix.index_keys("node", "n2").unwrap().len();
                // Each read is consistent on its own; across two reads the sum may be off by
                // the moves in between, but never exceeds the number of pods.
                assert!(on_n1 <= 100 && on_n2 <= 100);
                for p in ix.by_index("node", "n2").unwrap() {
                    assert_eq!(p.node, "n2");
                }
            }
        })
    };
    for round in 0..20 {
        let node = if round % 2 == 0 { "n2" } else { "n1" };
        for i in 0..100 {
            ix.update(pod(&format!("p{i}"), node, &[])).unwrap();
        }
    }
    reader.join().unwrap();
    assert_eq!(ix.index_keys("node", "n2").unwrap().len(), 0);
    assert_eq!(ix.index_keys("node", "n1").unwrap().len(), 100);
}

#[test]
fn a_batch_moves_objects_between_index_values_as_one_step() {
    let pods = indexer();
    pods.add(pod("web-0", "n1", &["app=web"])).unwrap();
    pods.add(pod("db-0", "n1", &["app=db"])).unwrap();
    let changes = vec![
        Change::Modified(pod("web-0", "n2", &["app=web"])),
        Change::Deleted(pod("db-0", "n1", &["app=db"])),
        Change::Added(pod("web-1", "n2", &["app=web"])),
    ];
    pods.apply_batch(&Version::from("5"), changes).unwrap();
    assert_eq!(sorted(pods.index_keys("node", "n2").unwrap()), ["web-0", "web-1"]);
    assert!(pods.index_keys("node", "n1").unwrap().is_empty());
    assert_eq!(sorted(pods.list_index_values("label").unwrap()), ["app=web"]);
    let err = pods.apply_batch(&Version::from("6"), vec![Change::Added(pod("", "n1", &[]))]).unwrap_err();
    assert!(err.to_string().contains("pod without name"), "{err}");
}
