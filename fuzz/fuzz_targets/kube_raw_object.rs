//! Kubernetes objects as list items and watch events carry them: `RawObject::from_json` (the
//! decoder behind `KubeSource<RawObject>`'s list bodies and watch lines) must turn any bytes
//! into an object or a typed `RawError`, never panic. The accessors of a decoded object must
//! not panic either.
#![no_main]

use informer_kube::{RawObject, RawOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options, the rest is the object's JSON.
    let (choice, json) = match data.split_first() {
        Some((c, rest)) => (*c, rest),
        None => (0, data),
    };
    let mut options = RawOptions::default().strip_managed_fields(choice & 1 == 1);
    if choice & 2 == 2 {
        options = options.drop_metadata_field("annotations");
    }
    if choice & 4 == 4 {
        options = options.extract("spec.nodeName").extract("status.phase");
    }
    if let Ok(object) = RawObject::from_json(json, &options) {
        let _ = object.json_str().len();
        let _ = (object.name(), object.namespace(), object.resource_version(), object.object_key());
        let _ = object.labels().count();
        let _ = object.label("app");
        let _ = object.field("spec.nodeName");
        let _ = object.heap_size();
        let _ = object.decode::<serde_json::Value>();
        // A decoded object's JSON is itself a valid object with the same identity.
        let again = RawObject::from_json(object.json_str().as_bytes(), &options)
            .expect("the JSON of a decoded object decodes again");
        assert_eq!(again.object_key(), object.object_key());
        assert_eq!(again.resource_version(), object.resource_version());
    } else if let Err(error) = RawObject::from_json(json, &options) {
        let _ = error.to_string();
    }
});
