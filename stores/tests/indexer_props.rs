//! Property test: random operation sequences on an `Indexer` against a `BTreeMap` model whose
//! indexes are recomputed from scratch after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use informer_core::{KeyError, KeyFn, ObjectKey, Store, Version};
use informer_stores::{IndexError, IndexFn, Indexer, Indexers};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Pod {
    name: String,
    node: String,
    labels: Vec<String>,
}

#[derive(Debug, Clone)]
enum Op {
    Add(Pod),
    Update(Pod),
    Delete(Pod),
    Replace(Vec<Pod>),
    /// Adds the "label" index (an error if it exists already).
    AddLabelIndex,
}

fn pod() -> impl Strategy<Value = Pod> {
    (
        prop_oneof![19 => "[a-h]", 1 => Just(String::new())],
        "n[1-3]",
        // Duplicated labels on purpose: one object may return a value twice.
        proptest::collection::vec("[xyz]", 0..4),
    )
        .prop_map(|(name, node, labels)| Pod { name, node, labels })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => pod().prop_map(Op::Add),
        5 => pod().prop_map(Op::Update),
        3 => pod().prop_map(Op::Delete),
        1 => proptest::collection::vec(pod(), 0..10).prop_map(Op::Replace),
        1 => Just(Op::AddLabelIndex),
    ]
}

fn by_node() -> IndexFn<Pod> {
    IndexFn::single(|p: &Pod| p.node.as_str())
}

fn by_label() -> IndexFn<Pod> {
    IndexFn::new(|p: &Pod| p.labels.iter().map(String::as_str).collect())
}

fn model_values(name: &str, pod: &Pod) -> Vec<String> {
    match name {
        "node" => vec![pod.node.clone()],
        _ => pod.labels.clone(),
    }
}

/// index value → keys, recomputed from the model.
fn model_index(model: &BTreeMap<String, Pod>, name: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut index: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, pod) in model {
        for value in model_values(name, pod) {
            index.entry(value).or_default().insert(key.clone());
        }
    }
    index
}

fn check(
    store: &Indexer<Pod>,
    model: &BTreeMap<String, Pod>,
    indexes: &[&str],
    step: usize,
) -> Result<(), TestCaseError> {
    let mut listed: Vec<Pod> = store.list().iter().map(|p| (**p).clone()).collect();
    listed.sort();
    prop_assert_eq!(&listed, &model.values().cloned().collect::<Vec<_>>(), "list after step {}", step);
    prop_assert_eq!(store.len(), model.len());
    for name in indexes {
        let expected = model_index(model, name);
        let values: BTreeSet<String> = store.list_index_values(name).unwrap().into_iter().collect();
        prop_assert_eq!(
            &values,
            &expected.keys().cloned().collect::<BTreeSet<_>>(),
            "values of {} at step {}",
            name,
            step
        );
        for probe in ["n1", "n2", "n3", "n4", "x", "y", "z", "w"] {
            let want = expected.get(probe).cloned().unwrap_or_default();
            let keys: BTreeSet<String> = store.index_keys(name, probe).unwrap().iter().map(|k| k.to_string()).collect();
            prop_assert_eq!(&keys, &want, "{}={} at step {}", name, probe, step);
            let objects: BTreeSet<String> =
                store.by_index(name, probe).unwrap().iter().map(|p| p.name.clone()).collect();
            prop_assert_eq!(&objects, &want);
        }
        // Index(): union over the probe's values, each object once.
        let probe = Pod { name: "probe".into(), node: "n2".into(), labels: vec!["x".into(), "z".into()] };
        let want: Vec<String> = model
            .iter()
            .filter(|(_, p)| model_values(name, p).iter().any(|v| model_values(name, &probe).contains(v)))
            .map(|(k, _)| k.clone())
            .collect();
        let mut got: Vec<String> = store.index(name, &probe).unwrap().iter().map(|p| p.name.clone()).collect();
        got.sort();
        prop_assert_eq!(got, want, "index({}, probe) at step {}", name, step);
    }
    let missing = store.by_index("zone", "z").unwrap_err();
    let is_unknown_index = matches!(missing, IndexError::UnknownIndex { .. });
    prop_assert!(is_unknown_index);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn indexer_matches_a_model_with_indexes_recomputed_from_scratch(ops in proptest::collection::vec(op(), 1..50)) {
        let key_fn = KeyFn::new(|p: &Pod| {
            if p.name.is_empty() { Err(KeyError::new("pod without name")) } else { Ok(ObjectKey::new(&p.name)) }
        });
        let store = Indexer::with_indexers(key_fn, Indexers::new().with("node", by_node()));
        let mut indexes = vec!["node"];
        let mut model: BTreeMap<String, Pod> = BTreeMap::new();
        for (step, op) in ops.iter().enumerate() {
            match op.clone() {
                Op::Add(p) | Op::Update(p) => {
                    let unkeyable = p.name.is_empty();
                    let result = if matches!(op, Op::Add(_)) { store.add(Arc::new(p.clone())) } else { store.update(Arc::new(p.clone())) };
                    prop_assert_eq!(result.is_err(), unkeyable);
                    if !unkeyable {
                        model.insert(p.name.clone(), p);
                    }
                }
                Op::Delete(p) => {
                    prop_assert_eq!(store.delete(Arc::new(p.clone())).is_err(), p.name.is_empty());
                    model.remove(&p.name);
                }
                Op::Replace(items) => {
                    let any_unkeyable = items.iter().any(|p| p.name.is_empty());
                    let result = store.replace(items.iter().cloned().map(Arc::new).collect(), Version::from(step.to_string()));
                    prop_assert_eq!(result.is_err(), any_unkeyable);
                    model = items.into_iter().filter(|p| !p.name.is_empty()).map(|p| (p.name.clone(), p)).collect();
                }
                Op::AddLabelIndex => {
                    let result = store.add_indexers(Indexers::new().with("label", by_label()));
                    if indexes.contains(&"label") {
                        prop_assert_eq!(result, Err(IndexError::Conflict { index: "label".into() }));
                    } else {
                        prop_assert_eq!(result, Ok(()));
                        indexes.push("label");
                    }
                }
            }
            check(&store, &model, &indexes, step)?;
        }
    }
}
