//! Property test: random operation sequences on a `Cache` against a `BTreeMap` model.

use std::collections::BTreeMap;
use std::sync::Arc;

use informer_core::{KeyError, KeyFn, ObjectKey, Store, Version};
use informer_stores::Cache;
use proptest::prelude::*;

/// `(name, value)`; an empty name cannot be keyed.
type Obj = (String, u8);

#[derive(Debug, Clone)]
enum Op {
    Add(Obj),
    Update(Obj),
    Delete(Obj),
    Replace(Vec<Obj>),
    Resync,
}

fn obj() -> impl Strategy<Value = Obj> {
    // Mostly a small set of names so operations collide; sometimes an unkeyable object.
    (prop_oneof![9 => "[a-f]", 1 => Just(String::new())], any::<u8>())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => obj().prop_map(Op::Add),
        4 => obj().prop_map(Op::Update),
        3 => obj().prop_map(Op::Delete),
        1 => proptest::collection::vec(obj(), 0..8).prop_map(Op::Replace),
        1 => Just(Op::Resync),
    ]
}

fn cache() -> Cache<Obj> {
    Cache::new(KeyFn::new(
        |o: &Obj| {
            if o.0.is_empty() { Err(KeyError::new("empty name")) } else { Ok(ObjectKey::new(&o.0)) }
        },
    ))
}

/// Applies `op` to the model; returns whether the store must report an error.
fn apply(model: &mut BTreeMap<String, Obj>, op: &Op) -> bool {
    match op {
        Op::Add(o) | Op::Update(o) if o.0.is_empty() => true,
        Op::Add(o) | Op::Update(o) => {
            model.insert(o.0.clone(), o.clone());
            false
        }
        Op::Delete(o) => {
            model.remove(&o.0);
            o.0.is_empty()
        }
        Op::Replace(items) => {
            model.clear();
            for o in items.iter().filter(|o| !o.0.is_empty()) {
                model.insert(o.0.clone(), o.clone());
            }
            items.iter().any(|o| o.0.is_empty())
        }
        Op::Resync => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cache_matches_a_btreemap_model(ops in proptest::collection::vec(op(), 1..60)) {
        let store = cache();
        let mut model = BTreeMap::new();
        for (step, op) in ops.iter().enumerate() {
            let result = match op.clone() {
                Op::Add(o) => store.add(Arc::new(o)),
                Op::Update(o) => store.update(Arc::new(o)),
                Op::Delete(o) => store.delete(Arc::new(o)),
                Op::Replace(items) => store.replace(items.into_iter().map(Arc::new).collect(), Version::from(step.to_string())),
                Op::Resync => store.resync(),
            };
            let expect_error = apply(&mut model, op);
            prop_assert_eq!(result.is_err(), expect_error, "step {} {:?}", step, op);

            let mut listed: Vec<Obj> = store.list().iter().map(|o| (**o).clone()).collect();
            listed.sort();
            prop_assert_eq!(&listed, &model.values().cloned().collect::<Vec<_>>(), "list after step {} {:?}", step, op);
            let mut keys: Vec<String> = store.list_keys().iter().map(|k| k.to_string()).collect();
            keys.sort();
            prop_assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>());
            prop_assert_eq!(store.len(), model.len());
            prop_assert_eq!(store.is_empty(), model.is_empty());
            for name in ["a", "b", "c", "d", "e", "f"] {
                prop_assert_eq!(store.get_by_key(name).map(|o| (*o).clone()), model.get(name).cloned());
                prop_assert_eq!(store.get(&(name.to_string(), 0)).unwrap().map(|o| (*o).clone()), model.get(name).cloned());
            }
        }
    }
}
