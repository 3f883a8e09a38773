//! What the API server sends over the wire: watch lines and list bodies, decoded as
//! `KubeSource<Pod>` and `KubeSource<RawObject>` decode them. Any bytes must become a value
//! or an error, never a panic; the continue token read ahead of decoding must agree with the
//! full decode of a list that decodes.
#![no_main]

use informer_kube::RawOptions;
use informer_kube::fuzzing::{continue_token, list_body_pod, list_body_raw, watch_line_pod, watch_line_raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (choice, bytes) = match data.split_first() {
        Some((c, rest)) => (*c, rest),
        None => (0, data),
    };
    let options = RawOptions::default().strip_managed_fields(choice & 1 == 1).extract("spec.nodeName");
    let _ = watch_line_pod(bytes);
    let _ = watch_line_raw(bytes, &options);
    let _ = list_body_pod(bytes);
    let raw = list_body_raw(bytes, &options);
    let token = continue_token(bytes);
    if raw.is_ok()
        && let Ok(body) = serde_json::from_slice::<serde_json::Value>(bytes)
    {
        // A list that decodes: the token read ahead is the one in its metadata.
        let expected = body["metadata"]["continue"].as_str().filter(|t| !t.is_empty()).map(String::from);
        if body["metadata"].is_object() {
            assert_eq!(token, expected, "continue token read ahead differs from the list's");
        }
    }
});
